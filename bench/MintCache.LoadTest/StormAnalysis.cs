using System.Diagnostics;
using MintCache.Bench.Shared;

namespace MintCache.LoadTest;

/// <summary>
/// The storm's figures, with these definitions (all timestamps are Stopwatch ticks, one monotonic clock for the
/// client and the app processes):
/// <list type="bullet">
/// <item><b>expiry</b>: a cluster of endpoint executions (over all instances) whose starts lie within 1 s of the
/// cluster's first; the page is fresh for 2 s, so each cluster is one expiry of the cached page.</item>
/// <item><b>regeneration window</b> of an expiry: from 5 ms before its first execution started to 5 ms after its
/// last execution ended.</item>
/// <item><b>held behind a regeneration</b> (server side, the primary figure): a request for the page that spent at
/// least half the render time inside the output-cache middleware and what follows it. A hit or a stale answer takes
/// microseconds there; only running the endpoint or waiting on its lock (the middleware's per-key execution lock,
/// shared by every request whose lookup missed) takes that long. The regenerating request itself counts.</item>
/// <item><b>held (client side)</b>, a cross-check: a request that overlapped a regeneration window and took at least
/// half the render time end to end.</item>
/// <item><b>storm requests</b>: requests in flight during a regeneration window (overlapping it); <b>hit
/// requests</b>: all others. p99 during storms is over storm requests, p99 of hits over hit requests.</item>
/// </list>
/// Only requests and executions after the warm-up count.
/// </summary>
internal static class StormAnalysis
{
    public static StormResult Analyse(StoreKind store, int instances, RunSettings settings, Sample[] samples, List<StatsSnapshot> stats, long measureStart, long measureEnd)
    {
        var ms = Stopwatch.Frequency / 1000;
        var executions = stats.SelectMany(static s => s.Executions)
            .Where(e => e.Start >= measureStart && e.Start < measureEnd)
            .OrderBy(static e => e.Start)
            .ToList();

        var expiries = new List<(long From, long To, int Executions)>();
        foreach (var execution in executions)
        {
            if (expiries.Count > 0 && execution.Start - expiries[^1].From < 1000 * ms)
            {
                var last = expiries[^1];
                expiries[^1] = (last.From, Math.Max(last.To, execution.End), last.Executions + 1);
            }
            else
            {
                expiries.Add((execution.Start, execution.End, 1));
            }
        }

        var windows = expiries.Select(e => (From: e.From - (5 * ms), To: e.To + (5 * ms))).ToList();
        bool InStorm(Sample s) => windows.Any(w => s.Start <= w.To && s.End >= w.From);

        var storm = samples.Where(InStorm).ToList();
        var hits = samples.Where(s => !InStorm(s)).ToList();
        var held = stats.SelectMany(static s => s.Held).Where(h => h.Start >= measureStart && h.Start < measureEnd).ToList();
        var heldServer = held.Count;
        var heldPerExpiry = windows.Select(w => held.Count(h => h.Start <= w.To && h.End >= w.From)).ToArray();
        var heldClient = storm.Count(s => s.Milliseconds >= settings.RenderMs / 2.0);

        var stormLatencies = Scenarios.Sorted(storm);
        var hitLatencies = Scenarios.Sorted(hits);
        var perExpiry = expiries.Select(static e => e.Executions).ToArray();
        return new StormResult(
            store,
            instances,
            samples.Length,
            samples.Count(static s => !s.Ok),
            expiries.Count,
            executions.Count,
            perExpiry.Length == 0 ? 0 : perExpiry.Max(),
            heldServer,
            heldClient,
            storm.Count,
            Scenarios.Percentile(stormLatencies, 0.99),
            Scenarios.Percentile(hitLatencies, 0.99),
            Scenarios.Percentile(stormLatencies, 0.50),
            Scenarios.Percentile(hitLatencies, 0.50),
            stormLatencies.Length == 0 ? double.NaN : stormLatencies[^1],
            heldPerExpiry,
            perExpiry);
    }
}

internal sealed record StormResult(
    StoreKind Store,
    int Instances,
    long Requests,
    long Errors,
    int Expiries,
    int Executions,
    int MaxExecutionsInOneExpiry,
    int HeldServer,
    int HeldClient,
    int StormRequests,
    double StormP99,
    double HitP99,
    double StormP50,
    double HitP50,
    double StormMax,
    int[] HeldInEachExpiry,
    int[] ExecutionsInEachExpiry)
{
    /// <summary>Store lookups per request for the page: below 1 when the middleware shares lookups.</summary>
    public double LookupsPerRequest { get; init; } = double.NaN;

    /// <summary>Responses for the page during the measured storm (background regenerations excluded).</summary>
    public long PageResponses { get; init; }

    /// <summary>Of <see cref="PageResponses"/>, those whose page was rendered more than its freshness (2 s) before.</summary>
    public long OlderThanFresh { get; init; }

    /// <summary>For stores on Redis: calls and server microseconds per command over the measured phase.</summary>
    public Dictionary<string, (long Calls, long Usec)>? RedisCommands { get; init; }

    /// <summary>
    /// Redis server time per 1000 requests for the page, in microseconds (all commands, pub/sub included, but the
    /// benchmark's own reading and resetting of the figures).
    /// </summary>
    public double RedisUsecPer1000 => RedisCommands is null || PageResponses == 0
        ? double.NaN
        : RedisCommands.Where(static c => !RedisCommandStats.IsMeasurement(c.Key)).Sum(static c => c.Value.Usec) * 1000.0 / PageResponses;

    public double ExecutionsPerExpiry => Expiries == 0 ? double.NaN : (double)Executions / Expiries;

    public double HeldPerExpiry => Expiries == 0 ? double.NaN : (double)HeldServer / Expiries;

    public double HeldShareOfStorm => StormRequests == 0 ? double.NaN : (double)HeldServer / StormRequests;

    public double P99Ratio => StormP99 / HitP99;
}
