using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using MintCache.Bench.Shared;
using MintCache.Testing;
using StackExchange.Redis;

namespace MintCache.LoadTest;

/// <summary>
/// (g) What a regeneration costs Redis, for pages that render the same and pages that change: <see cref="Pages"/>
/// pages of 8 KiB HTML cached 1 s, two app instances on one dedicated redis-server; after a fill and one unmeasured
/// round, <see cref="Rounds"/> rounds each wait for the pages to go stale (expire, for the built-in store) and request
/// every page once, spread over both instances, until each is regenerated. Redis bytes received
/// (<c>total_net_input_bytes</c>), its time (<c>commandstats</c>) and its CPU (<c>used_cpu_*</c>) over the measured
/// rounds, per regeneration: everything the farm sent in that window, the requests' lookups included.
/// </summary>
internal static class Refreshes
{
    public const int Pages = 200;
    public const int Rounds = 5;
    public const int PageSize = 8192;

    private static readonly TimeSpan Freshness = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan RoundDeadline = TimeSpan.FromSeconds(30);

    /// <summary>The app instances' configuration variable that turns MintCache's page compression off (a threshold past any page).</summary>
    private const string CompressionThresholdVariable = "MintCache__Redis__CompressionThreshold";

    public static async Task<RefreshResult> RunAsync(StoreKind store, bool changing, bool compressionOff, RunSettings settings)
    {
        var executable = LocalRedisServer.FindExecutable() ?? throw new InvalidOperationException("The refresh scenario needs redis-server.");
        using var server = await LocalRedisServer.StartAsync(executable, LocalRedisServer.FreeLoopbackPort());
        var previous = Environment.GetEnvironmentVariable(LocalRedis.EnvironmentVariable);
        Environment.SetEnvironmentVariable(LocalRedis.EnvironmentVariable, server.Endpoint);
        Environment.SetEnvironmentVariable(CompressionThresholdVariable, compressionOff ? int.MaxValue.ToString(CultureInfo.InvariantCulture) : null);
        var apps = new List<AppInstance>();
        try
        {
            for (var i = 0; i < 2; i++)
            {
                apps.Add(await AppInstance.StartAsync(store, settings.RenderMs, $"i{i}"));
            }

            using var handler = new SocketsHttpHandler { MaxConnectionsPerServer = Math.Min(settings.Clients, 32), UseProxy = false };
            using var http = new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(30) };

            // One Host for every instance, as a load balancer forwards it, so that both share the pages.
            http.DefaultRequestHeaders.Host = "bench.local";
            var path = changing ? "changing" : "same";

            // The fill, then a round not measured (the refresh path's first runs JIT).
            var renders = await RoundAsync(http, apps, path, settings, 0, wait: false);
            renders = await RoundAsync(http, apps, path, settings, renders, wait: true);

            await using var stats = await RedisCommandStats.ConnectAsync(server.Endpoint);
            await stats.ResetAsync();
            var cpuBefore = await stats.CpuSecondsAsync();
            var bytesBefore = await stats.NetInputBytesAsync();
            var rendersBefore = renders;
            var clock = Stopwatch.StartNew();
            for (var round = 0; round < Rounds; round++)
            {
                renders = await RoundAsync(http, apps, path, settings, renders, wait: true);
            }

            var seconds = clock.Elapsed.TotalSeconds;
            var bytes = await stats.NetInputBytesAsync() - bytesBefore;
            var commands = await stats.ReadAsync();
            var cpu = await stats.CpuSecondsAsync() - cpuBefore;
            var stored = await stats.LargestValueAsync(store == StoreKind.BuiltInRedis ? "*__MSOCV_*" : "*}:e");
            return new RefreshResult(store, changing, compressionOff, renders - rendersBefore, bytes, commands, cpu, stored, seconds);
        }
        finally
        {
            foreach (var app in apps)
            {
                await app.DisposeAsync();
            }

            Environment.SetEnvironmentVariable(LocalRedis.EnvironmentVariable, previous);
            Environment.SetEnvironmentVariable(CompressionThresholdVariable, null);
        }
    }

    /// <summary>
    /// Once every page is past its freshness (<paramref name="wait"/>), requests each page once, on the instances in
    /// turn, and returns once the farm has rendered each (bounded by <see cref="RoundDeadline"/>): the renders so far.
    /// </summary>
    private static async Task<long> RoundAsync(HttpClient http, List<AppInstance> apps, string path, RunSettings settings, long rendersSoFar, bool wait)
    {
        if (wait)
        {
            // The last page of the previous round was stored once it was rendered, and a store follows its render closely.
            await Task.Delay(Freshness + TimeSpan.FromMilliseconds(300));
        }

        await Parallel.ForEachAsync(
            Enumerable.Range(0, Pages),
            new ParallelOptions { MaxDegreeOfParallelism = Math.Min(settings.Clients, 32) },
            async (id, ct) =>
            {
                using var response = await http.GetAsync(new Uri(apps[id % apps.Count].BaseAddress, $"{path}/{id.ToString(CultureInfo.InvariantCulture)}"), ct);
                if (response.StatusCode != HttpStatusCode.OK)
                {
                    throw new InvalidOperationException($"/{path}/{id}: {response.StatusCode}");
                }

                await response.Content.LoadIntoBufferAsync(ct);
            });

        var deadline = Stopwatch.StartNew();
        long renders;
        while ((renders = await AppInstance.SumAsync(apps, static s => s.RefreshRenders)) < rendersSoFar + Pages && deadline.Elapsed < RoundDeadline)
        {
            await Task.Delay(20);
        }

        return renders;
    }

    /// <summary>The results as a Markdown report: each run against the built-in Redis store's run of the same pages.</summary>
    public static string Report(CommandLine options, string machine, IReadOnlyList<RefreshResult> results)
    {
        var text = new StringBuilder();
        text.AppendLine("# Regenerations on Redis: unchanged and changed pages");
        text.AppendLine();
        text.AppendLine(CultureInfo.InvariantCulture, $"Run {DateTimeOffset.UtcNow:yyyy-MM-dd HH:mm} UTC with `dotnet run -c Release --project bench/MintCache.LoadTest -- {options.Arguments}`: {Pages} pages of {PageSize:N0} bytes of realistic HTML (bench/Shared/HtmlPage.cs), `/same/{{id}}` rendered the same on every refresh, `/changing/{{id}}` with a render counter written into it (the same size), cached 1 s (MintCache: grace 30 s, background refresh, its defaults otherwise); two app instances sharing one dedicated redis-server per run. After a fill and one round not measured, {Rounds} rounds each wait for every page to be stale (expired, for the built-in store) and request each page once, on the two instances in turn, until it is regenerated. Per regeneration, over the measured rounds: Redis bytes received (`INFO stats` total_net_input_bytes: everything the farm sent, the requests' lookups included), Redis time (`INFO commandstats` usec, reset before them) and Redis CPU (`used_cpu_user` + `used_cpu_sys`). Stored value: the largest entry key's `STRLEN` at the end. The stores run one after the other in the same sitting. {machine}.");
        text.AppendLine();
        text.AppendLine("| Store | Pages | Regenerations | Redis bytes received per regeneration | of the page size | vs built-in | Stored value bytes | Redis µs per regeneration (commandstats) | vs built-in | Redis CPU µs per regeneration | vs built-in | Top commands (µs, calls per regeneration) |");
        text.AppendLine("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|");
        foreach (var result in results)
        {
            var baseline = results.FirstOrDefault(r => r.Store == StoreKind.BuiltInRedis && r.Changing == result.Changing);
            var top = string.Join(", ", result.Commands
                .Where(static c => !RedisCommandStats.IsHousekeeping(c.Key) && c.Key is not ("scan" or "strlen"))
                .OrderByDescending(static c => c.Value.Usec)
                .Take(4)
                .Select(c => FormattableString.Invariant($"{c.Key} {(double)c.Value.Usec / Math.Max(1, result.Regenerations):0.00} µs, {(double)c.Value.Calls / Math.Max(1, result.Regenerations):0.00}")));
            text.AppendLine(FormattableString.Invariant(
                $"| {result.Store}{(result.CompressionOff ? " (compression off)" : "")} | {(result.Changing ? "changed" : "unchanged")} | {result.Regenerations} | {result.BytesPerRegeneration:0} | {result.BytesPerRegeneration / PageSize:0.0%} | {Ratio(result.BytesPerRegeneration, baseline?.BytesPerRegeneration)} | {result.StoredValueBytes} | {result.RedisMicrosecondsPerRegeneration:0.0} | {Ratio(result.RedisMicrosecondsPerRegeneration, baseline?.RedisMicrosecondsPerRegeneration)} | {result.CpuMicrosecondsPerRegeneration:0.0} | {Ratio(result.CpuMicrosecondsPerRegeneration, baseline?.CpuMicrosecondsPerRegeneration)} | {top} |"));
        }

        text.AppendLine();
        text.AppendLine(CultureInfo.InvariantCulture, $"What an unchanged regeneration writes into the stored value, by construction (src/MintCache.AspNetCore/Backends/Redis/RedisScripts.cs, the store script's touch): the header's times and generation (44 bytes from offset 8) and the render time (8 bytes at offset 64), 52 bytes, never page bytes, whatever the codec: {52.0 / PageSize:0.0%} of an {PageSize:N0}-byte page. Its page argument is empty; the bytes received above are the commands themselves (the lookup that finds the page stale and the store script with its keys and arguments).");
        return text.ToString();

        static string Ratio(double value, double? baseline)
            => baseline is > 0 ? FormattableString.Invariant($"{value / baseline.Value:0.00}x") : "n/a";
    }
}

internal sealed record RefreshResult(
    StoreKind Store, bool Changing, bool CompressionOff, long Regenerations, long BytesReceived, Dictionary<string, (long Calls, long Usec)> Commands,
    double CpuSeconds, long StoredValueBytes, double Seconds)
{
    public double BytesPerRegeneration => (double)BytesReceived / Math.Max(1, Regenerations);

    public double CpuMicrosecondsPerRegeneration => CpuSeconds * 1e6 / Math.Max(1, Regenerations);

    public double RedisMicrosecondsPerRegeneration
        => (double)Commands.Where(static c => !RedisCommandStats.IsMeasurement(c.Key)).Sum(static c => c.Value.Usec) / Math.Max(1, Regenerations);
}
