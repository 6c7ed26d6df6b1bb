using Microsoft.AspNetCore.OutputCaching;

// Registers every MintCache piece a trimmed app may reach: options bound from configuration and validated at
// start, both backends (Redis is configured only when MintCache:Redis:Configuration is set), the grace policy and the health check.
var builder = WebApplication.CreateSlimBuilder(args);
builder.Services.AddOutputCache().AddMintStore(o => o.CacheStatusHeader = true);
builder.Services.AddHealthChecks().AddMintCache();

var app = builder.Build();
app.UseOutputCache();
var renders = 0;
app.MapGet("/", () => $"render {Interlocked.Increment(ref renders)}")
    .CacheOutput(p => p.Expire(TimeSpan.FromMinutes(1)).Grace(TimeSpan.FromSeconds(30)));
app.MapHealthChecks("/health");
app.Run();
