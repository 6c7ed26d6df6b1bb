using System.Diagnostics;
using MintCache.Bench.Shared;

namespace MintCache.LoadTest;

/// <summary>Settings of one load-test run (from the command line).</summary>
internal sealed record RunSettings(int Clients, TimeSpan Warmup, TimeSpan HitDuration, TimeSpan StormDuration, long MaxRequests, int RenderMs);

/// <summary>The two end-to-end scenarios: the hot page's hits, and its storm at each expiry.</summary>
internal static class Scenarios
{
    /// <summary>(a) Fresh hits: a 4 KiB page cached for an hour, every request a hit after the first.</summary>
    public static async Task<HitResult> FreshHitsAsync(StoreKind store, RunSettings settings)
    {
        await using var app = await AppInstance.StartAsync(store, settings.RenderMs, "a");
        var target = new Uri(app.BaseAddress, "hit");
        await LoadClient.RunAsync([target], settings.Clients, settings.Warmup, settings.MaxRequests);
        var samples = await LoadClient.RunAsync([target], settings.Clients, settings.HitDuration, settings.MaxRequests);
        var seconds = samples.Length == 0 ? 1 : (samples.Max(static s => s.End) - samples.Min(static s => s.Start)) / (double)Stopwatch.Frequency;
        var latencies = Sorted(samples);
        return new HitResult(store, samples.Length, samples.Count(static s => !s.Ok), samples.Length / seconds,
            Percentile(latencies, 0.50), Percentile(latencies, 0.99), Percentile(latencies, 0.999));
    }

    /// <summary>
    /// (b) A stale storm: the slow page (render time <see cref="RunSettings.RenderMs"/>, cached 2 s) under
    /// <see cref="RunSettings.Clients"/> closed-loop clients spread over <paramref name="instances"/> app instances.
    /// </summary>
    public static async Task<StormResult> StaleStormAsync(StoreKind store, int instances, RunSettings settings, double? eagerRefresh = null, string? redisEndpoint = null)
    {
        var apps = new List<AppInstance>();
        try
        {
            // The warm-up stores the first page (a cold miss for everyone) and lets the JIT settle; it is not counted.
            // It lasts at least 5 s so that it spans two expiries: the first regeneration runs code (and JIT) that no
            // request ran before.
            var warmup = settings.Warmup < TimeSpan.FromSeconds(5) ? TimeSpan.FromSeconds(5) : settings.Warmup;
            var (targets, before) = await StartWarmedUpAsync(apps, store, instances, settings, warmup, eagerRefresh);

            // Redis's own time per command over the measured phase, for the stores that use it.
            await using var redisStats = StoreHost.UsesRedis(store) && redisEndpoint is not null ? await RedisCommandStats.ConnectAsync(redisEndpoint) : null;
            if (redisStats is not null)
            {
                await redisStats.ResetAsync();
            }

            var measureStart = Stopwatch.GetTimestamp();
            var samples = await LoadClient.RunAsync(targets, settings.Clients, settings.StormDuration, settings.MaxRequests);
            var measureEnd = Stopwatch.GetTimestamp();
            var commands = redisStats is null ? null : await redisStats.ReadAsync();
            var stats = await StatsAsync(apps);

            var lookups = stats.Sum(static s => s.Lookups) - before.Sum(static s => s.Lookups);
            var requests = stats.Sum(static s => s.SlowRequests) - before.Sum(static s => s.SlowRequests);
            return StormAnalysis.Analyse(store, instances, settings, samples, stats, measureStart, measureEnd) with
            {
                LookupsPerRequest = requests == 0 ? double.NaN : (double)lookups / requests,
                PageResponses = requests,
                OlderThanFresh = stats.Sum(static s => s.OlderThanFresh) - before.Sum(static s => s.OlderThanFresh),
                RedisCommands = commands,
            };
        }
        finally
        {
            foreach (var app in apps)
            {
                await app.DisposeAsync();
            }
        }
    }

    /// <summary>
    /// (d) An outage: a dedicated redis-server killed <paramref name="killAt"/> into the storm and restarted, empty, at
    /// <paramref name="restartAt"/>, under two instances. Reported per burst, and the executions per 2 s window from
    /// 2 s after the restart.
    /// </summary>
    public static async Task<(StormResult Storm, int[] ExecutionsPerWindowAfterReturn, long RestartedAt)> OutageStormAsync(
        StoreKind store, RunSettings settings, TimeSpan killAt, TimeSpan restartAt)
    {
        var executable = MintCache.Testing.LocalRedisServer.FindExecutable() ?? throw new InvalidOperationException("The outage scenario needs redis-server.");
        var port = MintCache.Testing.LocalRedisServer.FreeLoopbackPort();
        var server = await MintCache.Testing.LocalRedisServer.StartAsync(executable, port);
        var previous = Environment.GetEnvironmentVariable(LocalRedis.EnvironmentVariable);
        Environment.SetEnvironmentVariable(LocalRedis.EnvironmentVariable, server.Endpoint);
        var apps = new List<AppInstance>();
        try
        {
            var (targets, before) = await StartWarmedUpAsync(apps, store, 2, settings, TimeSpan.FromSeconds(5));

            var measureStart = Stopwatch.GetTimestamp();
            var load = LoadClient.RunAsync(targets, settings.Clients, settings.StormDuration, settings.MaxRequests);
            await Task.Delay(killAt);
            server.Dispose();
            await Task.Delay(restartAt - killAt);
            server = await MintCache.Testing.LocalRedisServer.StartAsync(executable, port);
            var restartedAt = Stopwatch.GetTimestamp();
            var samples = await load;
            var measureEnd = Stopwatch.GetTimestamp();
            var stats = await StatsAsync(apps);

            var windows = new List<int>();
            var window = TimeSpan.FromSeconds(2);
            for (var from = restartedAt + (2 * Stopwatch.Frequency); from + (long)(window.TotalSeconds * Stopwatch.Frequency) <= measureEnd; from += (long)(window.TotalSeconds * Stopwatch.Frequency))
            {
                var to = from + (long)(window.TotalSeconds * Stopwatch.Frequency);
                windows.Add(stats.SelectMany(static s => s.Executions).Count(e => e.Start >= from && e.Start < to));
            }

            var result = StormAnalysis.Analyse(store, 2, settings, samples, stats, measureStart, measureEnd) with
            {
                PageResponses = stats.Sum(static s => s.SlowRequests) - before.Sum(static s => s.SlowRequests),
            };
            return (result, [.. windows], restartedAt - measureStart);
        }
        finally
        {
            foreach (var app in apps)
            {
                await app.DisposeAsync();
            }

            server.Dispose();
            Environment.SetEnvironmentVariable(LocalRedis.EnvironmentVariable, previous);
        }
    }

    /// <summary>
    /// (e) A master failover: a Redis Cluster of three masters with a replica each (node timeout 2 s) under two
    /// instances; the master that holds the page is killed <paramref name="killAt"/> into the storm, and its replica
    /// takes over. Reported per burst, with how long the promotion took.
    /// </summary>
    public static async Task<(StormResult Storm, TimeSpan PromotedAfter, string PageKey)> FailoverStormAsync(StoreKind store, RunSettings settings, TimeSpan killAt)
    {
        var executable = MintCache.Testing.LocalRedisServer.FindExecutable() ?? throw new InvalidOperationException("The failover scenario needs redis-server.");
        await using var cluster = await MintCache.Testing.LocalRedisCluster.StartAsync(executable, replicasPerMaster: 1, nodeTimeout: TimeSpan.FromSeconds(2));
        var previous = Environment.GetEnvironmentVariable(LocalRedis.EnvironmentVariable);
        Environment.SetEnvironmentVariable(LocalRedis.EnvironmentVariable, cluster.Endpoint);
        var apps = new List<AppInstance>();
        try
        {
            var (targets, before) = await StartWarmedUpAsync(apps, store, 2, settings, TimeSpan.FromSeconds(5));

            // The master to kill serves the page's slot: the key that names the page, whichever store wrote it (the
            // built-in store's expires with the page, so it is looked for until the next render stores it again).
            var key = await PageKeyAsync(cluster, targets[0]);
            var master = await cluster.MasterPortOfAsync(key);
            var replica = cluster.ReplicaPortOf(master);

            var measureStart = Stopwatch.GetTimestamp();
            var load = LoadClient.RunAsync(targets, settings.Clients, settings.StormDuration, settings.MaxRequests);
            await Task.Delay(killAt);
            cluster.Kill(master);
            var killed = Stopwatch.StartNew();
            while (!await cluster.IsMasterAsync(replica) || !await cluster.IsStateOkAsync())
            {
                if (killed.Elapsed > TimeSpan.FromSeconds(30))
                {
                    throw new TimeoutException($"The replica was not promoted within 30 s; its log:\n{cluster.LogOf(replica)}");
                }

                await Task.Delay(20);
            }

            var promotedAfter = killed.Elapsed;
            var samples = await load;
            var measureEnd = Stopwatch.GetTimestamp();
            var stats = await StatsAsync(apps);

            var result = StormAnalysis.Analyse(store, 2, settings, samples, stats, measureStart, measureEnd) with
            {
                PageResponses = stats.Sum(static s => s.SlowRequests) - before.Sum(static s => s.SlowRequests),
            };
            return (result, promotedAfter, key.ToString());
        }
        finally
        {
            foreach (var app in apps)
            {
                await app.DisposeAsync();
            }

            Environment.SetEnvironmentVariable(LocalRedis.EnvironmentVariable, previous);
        }
    }

    /// <summary>
    /// Starts <paramref name="instances"/> app instances into <paramref name="apps"/> (the caller disposes them, even
    /// when one fails to start), runs the clients against their slow page for <paramref name="warmup"/>, not counted,
    /// and returns the page's addresses and the instances' counters after it.
    /// </summary>
    private static async Task<(List<Uri> Targets, List<StatsSnapshot> Before)> StartWarmedUpAsync(
        List<AppInstance> apps, StoreKind store, int instances, RunSettings settings, TimeSpan warmup, double? eagerRefresh = null)
    {
        for (var i = 0; i < instances; i++)
        {
            apps.Add(await AppInstance.StartAsync(store, settings.RenderMs, $"i{i}", countLookups: true, eagerRefresh));
        }

        var targets = apps.Select(static a => new Uri(a.BaseAddress, "slow")).ToList();
        await LoadClient.RunAsync(targets, settings.Clients, warmup, settings.MaxRequests);
        return (targets, await StatsAsync(apps));
    }

    private static async Task<List<StatsSnapshot>> StatsAsync(List<AppInstance> apps)
    {
        var stats = new List<StatsSnapshot>();
        foreach (var app in apps)
        {
            stats.Add(await app.StatsAsync());
        }

        return stats;
    }

    private static async Task<StackExchange.Redis.RedisKey> PageKeyAsync(MintCache.Testing.LocalRedisCluster cluster, Uri page)
    {
        // The page is requested while its key is looked for: after the warm-up nothing else renders it, and the
        // built-in store's key is gone with the page once it expires.
        using var client = new HttpClient();
        client.DefaultRequestHeaders.Host = "bench.local";
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromSeconds(10))
        {
            await foreach (var key in cluster.KeysAsync("*SLOW*"))
            {
                return key;
            }

            using var _ = await client.GetAsync(page);
            await Task.Delay(20);
        }

        throw new InvalidOperationException("No key of the page /slow in the cluster.");
    }

    internal static double[] Sorted(IEnumerable<Sample> samples)
    {
        var latencies = samples.Select(static s => s.Milliseconds).ToArray();
        Array.Sort(latencies);
        return latencies;
    }

    /// <summary>Nearest-rank percentile of sorted values; NaN when there are none.</summary>
    internal static double Percentile(double[] sorted, double p)
        => sorted.Length == 0 ? double.NaN : sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Length) - 1, 0, sorted.Length - 1)];
}

internal sealed record HitResult(StoreKind Store, long Requests, long Errors, double RequestsPerSecond, double P50, double P99, double P999);
