using System.Globalization;
using System.Text;
using MintCache.Bench.Shared;

namespace MintCache.LoadTest;

/// <summary>The markdown tables of a load-test run, with ratios against the built-in memory store of the same run.</summary>
internal static class LoadReport
{
    /// <summary>Scenario (c): eager refresh at 0.8 of a 2 s freshness, on MintCache's defaults otherwise.</summary>
    public static string BuildEager(CommandLine options, string redis, List<StormResult> runs)
    {
        var s = options.Settings;
        var periods = s.StormDuration.TotalSeconds / 2;
        var text = new StringBuilder();
        text.AppendLine("# Eager refresh under load");
        text.AppendLine();
        text.AppendLine(Invariant($"Run {DateTimeOffset.UtcNow:yyyy-MM-dd HH:mm} UTC with `dotnet run -c Release --project bench/MintCache.LoadTest -- {options.Arguments}`."));
        text.AppendLine(Invariant($"Kestrel on 127.0.0.1, each app instance in its own process (server GC); a closed-loop HTTP/1.1 client of {s.Clients} connections; a page rendered in {s.RenderMs} ms, cached 2 s, `EagerRefreshThreshold` 0.8 and MintCache's defaults otherwise (background refresh, grace 30 s); {s.StormDuration.TotalSeconds} s measured after a warm-up of at least 5 s (the cold fill, not counted). {redis}."));
        text.AppendLine();
        text.AppendLine("| Store | Instances | Requests | Errors | Executions | Freshness periods | Executions per period | Responses older than the freshness | Held (server) | p99 ms |");
        text.AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var r in runs)
        {
            var older = r.PageResponses == 0 ? double.NaN : (double)r.OlderThanFresh / r.PageResponses;
            var p99 = Math.Max(r.StormP99, r.HitP99);
            text.AppendLine(Invariant($"| {r.Store} | {r.Instances} | {r.Requests} | {r.Errors} | {r.Executions} | {periods:0} | {r.Executions / periods:0.00} | {r.OlderThanFresh} ({older:P3}) | {r.HeldServer} | {p99:0.0} |"));
        }

        text.AppendLine();
        text.AppendLine("*Responses older than the freshness*: the app stamps each render with its time (a response header the output cache");
        text.AppendLine("keeps with the page) and counts the responses served more than 2 s after their page was rendered, background");
        text.AppendLine("regenerations excluded. *Executions per period*: endpoint executions, all instances, over the measured seconds ÷ 2.");
        text.AppendLine("*Held*: requests that spent at least half the render time in the output-cache middleware (see loadtest.md).");
        return text.ToString();
    }

    public static string Build(CommandLine options, string redis, List<HitResult> hits, List<StormResult> storms)
    {
        var s = options.Settings;
        var text = new StringBuilder();
        text.AppendLine("# End-to-end load test");
        text.AppendLine();
        text.AppendLine(Invariant($"Run {DateTimeOffset.UtcNow:yyyy-MM-dd HH:mm} UTC with `dotnet run -c Release --project bench/MintCache.LoadTest -- {options.Arguments}`."));
        text.AppendLine(Invariant($"Kestrel on 127.0.0.1, each app instance in its own process (server GC); a closed-loop HTTP/1.1 client of {s.Clients} connections in another process; warm-up {s.Warmup.TotalSeconds} s per phase, at least 5 s before a storm (not counted); at most {s.MaxRequests} requests per phase. {redis}."));
        text.AppendLine();

        if (hits.Count > 0)
        {
            // Per store, the median over the rounds of each figure.
            var rows = hits.GroupBy(static h => h.Store).Select(static g => new
            {
                Store = g.Key,
                Rounds = g.ToList(),
                Rps = Median(g.Select(static h => h.RequestsPerSecond)),
                P50 = Median(g.Select(static h => h.P50)),
                P99 = Median(g.Select(static h => h.P99)),
                P999 = Median(g.Select(static h => h.P999)),
            }).ToList();
            var baseline = rows.FirstOrDefault(static r => r.Store == StoreKind.BuiltInMemory);
            text.AppendLine(Invariant($"## (a) Fresh hits: a 4 KiB page cached 1 h, {options.Rounds} rounds of {s.HitDuration.TotalSeconds} s per store, stores alternating"));
            text.AppendLine();
            text.AppendLine("Medians over the rounds; each round's req/s in the last column.");
            text.AppendLine();
            text.AppendLine("| Store | Requests | Errors | Req/s | p50 ms | p99 ms | p99.9 ms | Req/s vs built-in memory | p99 vs built-in memory | Req/s per round |");
            text.AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|");
            foreach (var r in rows)
            {
                var perRound = string.Join(", ", r.Rounds.Select(static h => h.RequestsPerSecond.ToString("0", CultureInfo.InvariantCulture)));
                text.AppendLine(Invariant($"| {r.Store} | {r.Rounds.Sum(static h => h.Requests)} | {r.Rounds.Sum(static h => h.Errors)} | {r.Rps:0} | {r.P50:0.00} | {r.P99:0.00} | {r.P999:0.00} | {Ratio(r.Rps, baseline?.Rps)} | {Ratio(r.P99, baseline?.P99)} | {perRound} |"));
            }

            text.AppendLine();
        }

        if (storms.Count > 0)
        {
            text.AppendLine(Invariant($"## (b) Stale storm: a page rendered in {s.RenderMs} ms, cached 2 s, {s.Clients} clients, {s.StormDuration.TotalSeconds} s"));
            text.AppendLine();
            text.AppendLine("| Store | Instances | Requests | Errors | Expiries | Executions/expiry (max) | Held/expiry (server) | Held/expiry (client) | Held share of storm requests | Storm requests | p50 storm / hits ms | p99 storm ms | p99 hits ms | p99 storm ÷ p99 hits | Lookups per request |");
            text.AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
            foreach (var r in storms)
            {
                var heldClient = r.Expiries == 0 ? double.NaN : (double)r.HeldClient / r.Expiries;
                text.AppendLine(Invariant($"| {r.Store} | {r.Instances} | {r.Requests} | {r.Errors} | {r.Expiries} | {r.ExecutionsPerExpiry:0.00} ({r.MaxExecutionsInOneExpiry}) | {r.HeldPerExpiry:0.0} | {heldClient:0.0} | {r.HeldShareOfStorm:P1} | {r.StormRequests} | {r.StormP50:0.0} / {r.HitP50:0.0} | {r.StormP99:0.0} | {r.HitP99:0.0} | {r.P99Ratio:0.0}× | {r.LookupsPerRequest:0.000} |"));
            }

            text.AppendLine();
            var onRedis = storms.Where(static r => r.RedisCommands is not null).ToList();
            if (onRedis.Count > 0)
            {
                // Redis is the one shared, single-threaded part of a farm: its time per request, from its own counters.
                var builtIn = onRedis.FirstOrDefault(static r => r.Store == StoreKind.BuiltInRedis);
                text.AppendLine("Redis server time during the storm (`INFO commandstats`, reset before it): microseconds per 1000 requests for the page, and the commands that took it.");
                text.AppendLine();
                text.AppendLine("| Store | Redis µs per 1000 requests | vs built-in Redis | Commands (calls, µs per call) |");
                text.AppendLine("|---|---:|---:|---|");
                foreach (var r in onRedis)
                {
                    var commands = string.Join(", ", r.RedisCommands!.Where(static c => !RedisCommandStats.IsMeasurement(c.Key)).OrderByDescending(static c => c.Value.Usec).Take(5)
                        .Select(static c => Invariant($"{c.Key} {c.Value.Calls} × {(c.Value.Calls == 0 ? 0 : (double)c.Value.Usec / c.Value.Calls):0.0}")));
                    text.AppendLine(Invariant($"| {r.Store} | {r.RedisUsecPer1000:0} | {Ratio(r.RedisUsecPer1000, builtIn?.RedisUsecPer1000)} | {commands} |"));
                }

                text.AppendLine();
            }

            text.AppendLine("Per expiry, in order (executions / held, server side):");
            text.AppendLine();
            foreach (var r in storms)
            {
                var each = r.ExecutionsInEachExpiry.Zip(r.HeldInEachExpiry, static (e, h) => Invariant($"{e}/{h}"));
                var outside = r.HeldServer - r.HeldInEachExpiry.Sum();
                text.AppendLine(Invariant($"- {r.Store} x{r.Instances}: {string.Join(", ", each)}; held outside any regeneration window: {outside}"));
            }

            text.AppendLine();
            text.AppendLine("Definitions (see `bench/MintCache.LoadTest/StormAnalysis.cs`): an *expiry* is a cluster of endpoint executions, over all");
            text.AppendLine("instances, starting within 1 s of each other; its *regeneration window* runs from 5 ms before its first execution");
            text.AppendLine("starts to 5 ms after its last ends. A request is *held behind a regeneration* when it spent at least half the render");
            text.AppendLine("time inside the output-cache middleware (measured by the app, the regenerating request included): only running the");
            text.AppendLine("endpoint or waiting on the middleware's execution lock after a shared \"miss\" takes that long. The client-side");
            text.AppendLine("count (requests overlapping a window that took at least half the render time end to end) cross-checks it.");
            text.AppendLine("*Storm requests* are those in flight during a window; *hits* are all others. *Lookups per request*: the");
            text.AppendLine("store's `GetAsync` calls (counted by a forwarding wrapper) over the requests for the page; under 1 when the");
            text.AppendLine("middleware shares one lookup among concurrent requests.");
            text.AppendLine();
        }

        return text.ToString();
    }

    private static string Ratio(double value, double? baseline)
        => baseline is { } b && b > 0 ? (value / b).ToString("0.00", CultureInfo.InvariantCulture) + "×" : "–";

    private static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length == 0 ? double.NaN
            : sorted.Length % 2 == 1 ? sorted[sorted.Length / 2]
            : (sorted[(sorted.Length / 2) - 1] + sorted[sorted.Length / 2]) / 2;
    }

    private static string Invariant(FormattableString value) => value.ToString(CultureInfo.InvariantCulture);
}
