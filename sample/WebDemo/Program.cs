using Microsoft.AspNetCore.OutputCaching;
using MintCache.AspNetCore;
using WebDemo;

var builder = WebApplication.CreateBuilder(args);

builder.Services.AddControllers();
builder.Services.AddSingleton<DemoStats>();
builder.Services.AddSingleton<DemoMetrics>();
builder.Services.AddHealthChecks().AddMintCache();
builder.Services.Configure<DemoOptions>(builder.Configuration.GetSection(DemoOptions.SectionName));

builder.Services.AddOutputCache(o =>
{
    // A named policy that MVC actions refer to with [OutputCache(PolicyName = "news")].
    o.AddPolicy("news", p => p.Expire(TimeSpan.FromSeconds(5)).Grace(TimeSpan.FromMinutes(1)).Tag("news"));
}).AddMintStore(); // options from appsettings.json's "MintCache" section

var app = builder.Build();

// The live demo page (wwwroot/index.html) at "/".
app.UseDefaultFiles();
app.UseStaticFiles();
app.UseOutputCache();

// Listening from the start, so the page's counters include the first requests.
app.Services.GetRequiredService<DemoMetrics>();

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

// Tags from the response: the page names the data it rendered in its Surrogate-Key header, and MintCache stores those
// as its tags ("product-7 products"), so POST /evict/product-7 purges every page that showed product 7. The header
// still reaches the client, as a CDN in front would want it (MintCache:StripResponseTagHeader removes it).
app.MapGet("/products/{id:int}", (int id, DemoStats stats, HttpResponse response) =>
{
    var generation = stats.BeginExecution($"/products/{id}");
    response.Headers["Surrogate-Key"] = $"product-{id} products";
    return Results.Text($"product {id}, generation {generation}, rendered at {DateTimeOffset.UtcNow:O}\n");
}).CacheOutput(p => p.Expire(TimeSpan.FromSeconds(30)));

// Tag eviction: hard removes the pages, soft marks them stale so one request per page refreshes them.
// DEMO ONLY: anyone who can reach this endpoint can empty the cache, so it exists only in Development (dotnet run,
// the tests). A real application puts its purge behind authorization (.RequireAuthorization(...)) or in its own code.
// A purge that could not reach Redis throws: answer 503 so the caller knows to retry, rather than claim success.
if (app.Environment.IsDevelopment())
{
    app.MapPost("/evict/{tag}", async (string tag, bool? soft, IMintCache cache, CancellationToken ct) =>
    {
        try
        {
            if (soft == true)
            {
                await cache.MarkStaleByTagAsync(tag, ct);
            }
            else
            {
                await cache.EvictByTagAsync(tag, ct);
            }
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            return Results.Problem($"The purge of {tag} did not reach the shared cache; retry.", statusCode: StatusCodes.Status503ServiceUnavailable);
        }

        return Results.Text($"{(soft == true ? "marked stale" : "evicted")}: {tag}\n");
    });

    // Every variant of one path (its query strings, hosts, vary-by values), e.g. POST /evict-path?path=/products/7.
    // Needs MintCache:TrackPaths (on in appsettings.json); without it the call throws InvalidOperationException.
    app.MapPost("/evict-path", async (string path, bool? soft, IMintCache cache, CancellationToken ct) =>
    {
        try
        {
            if (soft == true)
            {
                await cache.MarkStaleByPathAsync(path, ct);
            }
            else
            {
                await cache.EvictByPathAsync(path, ct);
            }
        }
        catch (ArgumentException ex)
        {
            return Results.Problem(ex.Message, statusCode: StatusCodes.Status400BadRequest);
        }
        catch (Exception ex) when (ex is not OperationCanceledException and not InvalidOperationException)
        {
            return Results.Problem($"The purge of {path} did not reach the shared cache; retry.", statusCode: StatusCodes.Status503ServiceUnavailable);
        }

        return Results.Text($"{(soft == true ? "marked stale" : "evicted")}: every variant of {path}\n");
    });

    // Every page, e.g. after a deploy that changed the templates: POST /clear removes them all, POST /clear?soft=true
    // marks them all stale, so each refreshes once, in the background, when next requested (no stampede).
    app.MapPost("/clear", async (bool? soft, IMintCache cache, CancellationToken ct) =>
    {
        try
        {
            if (soft == true)
            {
                await cache.MarkAllStaleAsync(ct);
            }
            else
            {
                await cache.ClearAsync(ct);
            }
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            return Results.Problem("The clear did not reach the shared cache; retry.", statusCode: StatusCodes.Status503ServiceUnavailable);
        }

        return Results.Text(soft == true ? "every page marked stale\n" : "every page removed\n");
    });
}

app.MapGet("/stats", (DemoStats stats) => Results.Json(stats.Snapshot()));

// What the demo page polls: endpoint executions and MintCache's own metrics, read through a MeterListener.
app.MapGet("/stats/cache", (DemoStats stats, DemoMetrics metrics) => Results.Json(new
{
    executions = stats.Snapshot(),
    metrics = metrics.Snapshot(),
}));
app.MapPost("/stats/reset", (DemoStats stats, DemoMetrics metrics) =>
{
    stats.Reset();
    metrics.Reset();
    return Results.NoContent();
});

app.MapHealthChecks("/healthz");

app.MapControllers();
app.MapGet("/help", () => Results.Text(
    """
    MintCache WebDemo
      GET  /                 the live demo page: fire a storm at /slow and watch one regeneration serve it
      GET  /slow             a 300 ms page cached 2 s, grace 30 s (tag "slow")
      GET  /time             a minimal API cached 5 s, default grace (tag "time")
      GET  /news             an MVC controller, named policy "news" (5 s, grace 1 min, tag "news")
      GET  /products/{id}    cached 30 s, tagged by its own Surrogate-Key header ("product-{id} products")
      POST /evict/{tag}      remove tagged pages; add ?soft=true to mark them stale instead (Development only)
      POST /evict-path?path=P  remove every variant of path P (e.g. /products/7); ?soft=true marks them stale (Development only)
      POST /clear            remove every page; ?soft=true marks every page stale instead (Development only)
      GET  /stats            endpoint executions per path
      GET  /stats/cache      executions and MintCache's metrics (lookups, claims, regenerations)
      GET  /healthz          MintCache's health check
      POST /stats/reset      zero the counters

    Try a storm: the page expires every 2 s, yet /stats shows one execution per expiry.
    """));

app.Run();

/// <summary>The entry point, visible to WebApplicationFactory in the tests.</summary>
public partial class Program;
