using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.OutputCaching;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using MintCache.AspNetCore;
using MintCache.Bench.Shared;

namespace MintCache.LoadTest;

/// <summary>
/// One app instance under test, on Kestrel at 127.0.0.1: a cheap page cached for long (/hit) and a page that takes
/// the render time to produce, cached 2 s (/slow). It records each endpoint execution and each request that spent
/// at least half the render time inside the output-cache middleware ("held behind a regeneration").
/// </summary>
internal static class BenchServer
{
    private const string RenderedAtHeader = "X-Rendered-At";

    public static async Task RunAsync(StoreKind store, int port, int renderMs, string instance, bool countLookups, double? eagerRefresh = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();

        // MINTCACHE_BENCH_LOG=Debug (or another level) writes MintCache's own log to the run's standard error, with
        // times, to explain a run after the fact; off by default, as logging costs time in every scenario.
        if (Enum.TryParse<LogLevel>(Environment.GetEnvironmentVariable("MINTCACHE_BENCH_LOG"), out var logLevel))
        {
            builder.Logging.AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = $"HH:mm:ss.fff '{instance}' "; });
            builder.Logging.AddFilter("MintCache", logLevel);
            builder.Logging.AddFilter("Microsoft", LogLevel.Warning);
        }
        builder.WebHost.UseKestrel(o => o.Listen(IPAddress.Loopback, port));
        StoreHost.AddStore(builder.Services, store, LocalRedis.FromEnvironment(), o =>
        {
            o.Grace = TimeSpan.FromSeconds(30);
            o.EagerRefreshThreshold = eagerRefresh;
        });
        builder.Services.AddSingleton<ServerStats>();
        if (countLookups)
        {
            CountingStore.Decorate(builder.Services);
        }

        var app = builder.Build();
        var stats = app.Services.GetRequiredService<ServerStats>();
        var heldThreshold = Stopwatch.Frequency * renderMs / 2 / 1000;
        var page = Page.Create(4096);

        // Outermost: time spent in the output-cache middleware and everything after it.
        app.Use(async (context, next) =>
        {
            var start = Stopwatch.GetTimestamp();
            await next(context);
            var end = Stopwatch.GetTimestamp();

            // A background regeneration is MintCache's own request, not a client's: nobody is held by it.
            if (context.Request.Path.StartsWithSegments("/slow") && !context.IsBackgroundRegeneration())
            {
                Interlocked.Increment(ref stats.SlowRequests);

                // The page's render time travels with it through the cache: a response older than the page's
                // freshness (2 s) was served stale.
                if (long.TryParse(context.Response.Headers[RenderedAtHeader], NumberStyles.None, CultureInfo.InvariantCulture, out var renderedAt)
                    && end - renderedAt > Stopwatch.Frequency * 2)
                {
                    Interlocked.Increment(ref stats.OlderThanFresh);
                }

                if (end - start >= heldThreshold)
                {
                    stats.Held.Enqueue(new Span(start, end));
                }
            }
        });
        app.UseOutputCache();

        var isMint = store is StoreKind.MintMemory or StoreKind.MintMemoryBackground or StoreKind.MintRedis or StoreKind.MintRedisNoNear or StoreKind.MintRedisBackground;
        app.MapGet("/hit", () => Results.Bytes(page, "text/html")).CacheOutput(p => p.Expire(TimeSpan.FromHours(1)));
        app.MapGet("/slow", async (HttpContext context) =>
        {
            var start = Stopwatch.GetTimestamp();
            await Task.Delay(renderMs);
            var end = Stopwatch.GetTimestamp();
            stats.Executions.Enqueue(new Span(start, end));
            context.Response.Headers[RenderedAtHeader] = end.ToString(CultureInfo.InvariantCulture);
            return Results.Bytes(page, "text/html");
        }).CacheOutput(p =>
        {
            p.Expire(TimeSpan.FromSeconds(2));
            if (isMint)
            {
                p.Grace(TimeSpan.FromSeconds(30));
            }
        });

        // (f) The long tail: many pages, each rendered in 20 ms, 8 KiB of realistic HTML of its own (compression is measured
        // on it), cached 10 s (MintCache: grace 10 s), tagged with the whole collection and the item.
        app.MapGet("/item/{id:int}", async (int id) =>
        {
            Interlocked.Increment(ref stats.ItemRenders);
            await Task.Delay(20);
            return Results.Bytes(HtmlPage.Create(id, 8192), "text/html");
        }).CacheOutput(p =>
        {
            p.Expire(TimeSpan.FromSeconds(10)).Tag("items").AddPolicy<ItemTagPolicy>();
            if (isMint)
            {
                p.Grace(TimeSpan.FromSeconds(10));
            }
        });
        // (g) Refreshes: 8 KiB of realistic HTML per id, rendered the same on every refresh (/same/{id}) or with a
        // render counter written into it (/changing/{id}, the same size), cached 1 s (MintCache: grace 30 s).
        app.MapGet("/same/{id:int}", (int id) =>
        {
            Interlocked.Increment(ref stats.RefreshRenders);
            return Results.Bytes(HtmlPage.Create(id, 8192), "text/html");
        }).CacheOutput(p => RefreshPolicy(p, isMint));
        app.MapGet("/changing/{id:int}", (int id) =>
        {
            var render = Interlocked.Increment(ref stats.RefreshRenders);
            var body = HtmlPage.Create(id, 8192).ToArray();
            System.Text.Encoding.ASCII.GetBytes(render.ToString("D12", CultureInfo.InvariantCulture)).CopyTo(body.AsSpan(body.Length / 2));
            return Results.Bytes(body, "text/html");
        }).CacheOutput(p => RefreshPolicy(p, isMint));
        using var meters = new MeterTally();
        app.MapGet("/bench/ready", () => Results.Text(instance));
        app.MapPost("/bench/meters/reset", () => meters.Reset());
        app.MapGet("/bench/meters", () => Results.Text(meters.Snapshot()));
        app.MapGet("/bench/stats", (ServerStats s) => Results.Json(s.Snapshot(instance), ServerStatsJson.Default.StatsSnapshot));

        await app.RunAsync();
    }

    private static void RefreshPolicy(OutputCachePolicyBuilder policy, bool isMint)
    {
        policy.Expire(TimeSpan.FromSeconds(1));
        if (isMint)
        {
            policy.Grace(TimeSpan.FromSeconds(30));
        }
    }
}

/// <summary>What one instance saw, in Stopwatch ticks (CLOCK_MONOTONIC on Linux: comparable across processes).</summary>
internal sealed class ServerStats
{
#pragma warning disable CA1051 // Counted with Interlocked: fields, not properties.
    public long Lookups;
    public long SlowRequests;
    public long OlderThanFresh;
    public long ItemRenders;
    public long RefreshRenders;
#pragma warning restore CA1051

    public ConcurrentQueue<Span> Executions { get; } = new();

    public ConcurrentQueue<Span> Held { get; } = new();

    public StatsSnapshot Snapshot(string instance) => new(instance, [.. Executions], [.. Held], Interlocked.Read(ref Lookups), Interlocked.Read(ref SlowRequests), Interlocked.Read(ref OlderThanFresh), Interlocked.Read(ref ItemRenders), Interlocked.Read(ref RefreshRenders));
}

internal readonly record struct Span(long Start, long End);

/// <summary>Tags each item page with its own tag, <c>item-{id}</c>, as an app would to purge one item.</summary>
internal sealed class ItemTagPolicy : IOutputCachePolicy
{
    public ValueTask CacheRequestAsync(OutputCacheContext context, CancellationToken cancellation)
    {
        if (context.HttpContext.Request.RouteValues["id"] is string id)
        {
            context.Tags.Add("item-" + id);
        }

        return ValueTask.CompletedTask;
    }

    public ValueTask ServeFromCacheAsync(OutputCacheContext context, CancellationToken cancellation) => ValueTask.CompletedTask;

    public ValueTask ServeResponseAsync(OutputCacheContext context, CancellationToken cancellation) => ValueTask.CompletedTask;
}

internal sealed record StatsSnapshot(string Instance, Span[] Executions, Span[] Held, long Lookups, long SlowRequests, long OlderThanFresh, long ItemRenders, long RefreshRenders);

[System.Text.Json.Serialization.JsonSerializable(typeof(StatsSnapshot))]
internal sealed partial class ServerStatsJson : System.Text.Json.Serialization.JsonSerializerContext;

internal static class Page
{
    /// <summary>A 4 KiB HTML-ish body, the same bytes on every instance.</summary>
    public static byte[] Create(int size)
    {
        var bytes = new byte[size];
        var text = "<html><body><p>MintCache load test page.</p>"u8;
        for (var i = 0; i < size; i++)
        {
            bytes[i] = text[i % text.Length];
        }

        return bytes;
    }
}
