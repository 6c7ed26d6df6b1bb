using Microsoft.AspNetCore.OutputCaching;
using MintCache.AspNetCore;
using WebDemo;

var builder = WebApplication.CreateBuilder(args);

builder.Services.AddControllers();
builder.Services.AddSingleton<DemoStats>();
builder.Services.Configure<DemoOptions>(builder.Configuration.GetSection(DemoOptions.SectionName));

builder.Services.AddOutputCache(o =>
{
    // A named policy that MVC actions refer to with [OutputCache(PolicyName = "news")].
    o.AddPolicy("news", p => p.Expire(TimeSpan.FromSeconds(5)).Grace(TimeSpan.FromMinutes(1)).Tag("news"));
}).AddMintStore(); // options from appsettings.json's "MintCache" section

var app = builder.Build();

app.UseOutputCache();
app.UseStaticFiles();

// A slow page: each generation takes Demo:GenerationDelayMs (default 300 ms) and is counted.
app.MapGet("/slow", async (DemoStats stats, Microsoft.Extensions.Options.IOptions<DemoOptions> options, CancellationToken ct) =>
{
    var generation = stats.BeginExecution("/slow");
    await Task.Delay(options.Value.GenerationDelayMs, ct);
    return Results.Text($"slow page, generation {generation}, rendered at {DateTimeOffset.UtcNow:O}\n");
}).CacheOutput(p => p.Expire(TimeSpan.FromSeconds(2)).Grace(TimeSpan.FromSeconds(30)).Tag("slow"));

// A minimal API with the default grace.
app.MapGet("/time", (DemoStats stats) =>
{
    var generation = stats.BeginExecution("/time");
    return Results.Text($"time {DateTimeOffset.UtcNow:O}, generation {generation}\n");
}).CacheOutput(p => p.Expire(TimeSpan.FromSeconds(5)).Tag("time"));

// Tag eviction: hard removes the pages, soft marks them stale so one request per page refreshes them.
app.MapPost("/evict/{tag}", async (string tag, bool? soft, IMintCache cache, CancellationToken ct) =>
{
    if (soft == true)
    {
        await cache.MarkStaleByTagAsync(tag, ct);
    }
    else
    {
        await cache.EvictByTagAsync(tag, ct);
    }

    return Results.Text($"{(soft == true ? "marked stale" : "evicted")}: {tag}\n");
});

app.MapGet("/stats", (DemoStats stats) => Results.Json(stats.Snapshot()));
app.MapPost("/stats/reset", (DemoStats stats) =>
{
    stats.Reset();
    return Results.NoContent();
});

app.MapControllers();
app.MapGet("/", () => Results.Text(
    """
    MintCache WebDemo
      GET  /slow             a 300 ms page cached 2 s, grace 30 s (tag "slow")
      GET  /time             a minimal API cached 5 s, default grace (tag "time")
      GET  /news             an MVC controller, named policy "news" (5 s, grace 1 min, tag "news")
      POST /evict/{tag}      remove tagged pages; add ?soft=true to mark them stale instead
      GET  /stats            endpoint executions per path
      POST /stats/reset      zero the counters

    Try a storm: the page expires every 2 s, yet /stats shows one execution per expiry.
    """));

app.Run();

/// <summary>The entry point, visible to WebApplicationFactory in the tests.</summary>
public partial class Program;
