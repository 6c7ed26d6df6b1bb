using System.Diagnostics;
using System.Globalization;
using System.Text;
using MintCache.Bench.Shared;
using MintCache.Testing;

namespace MintCache.LoadTest;

/// <summary>
/// (f) The long tail: 100,000 pages <c>/item/{id}</c> requested with Zipf(0.99) popularity, 8 KiB each, rendered in
/// 20 ms, cached 10 s, tagged <c>items</c> and <c>item-{id}</c>; two app instances sharing one dedicated
/// redis-server, with and without memory pressure (<c>maxmemory 40mb</c>, <c>allkeys-lru</c>). Misses and stores
/// dominate, so this is where Redis's own time per request shows (INFO commandstats, reset after the warm-up).
/// </summary>
internal static class LongTail
{
    public const int Pages = 100_000;

    private static readonly Zipf Popularity = new(Pages, 0.99);

    // How long every command is logged after the warm-up (RedisCommandStats.ScriptShareAsync).
    private static readonly TimeSpan ScriptShareSample = TimeSpan.FromSeconds(3);

    /// <summary>The app instances' configuration variable that turns MintCache's page compression off (a threshold past any page).</summary>
    private const string CompressionThresholdVariable = "MintCache__Redis__CompressionThreshold";

    public static async Task<LongTailResult> RunAsync(StoreKind store, RunSettings settings, bool memoryPressure, bool compressionOff = false, bool realTimeRedis = false)
    {
        var executable = LocalRedisServer.FindExecutable() ?? throw new InvalidOperationException("The long-tail scenario needs redis-server.");
        string[] arguments = memoryPressure ? ["--maxmemory", "40mb", "--maxmemory-policy", "allkeys-lru"] : [];
        using var server = await LocalRedisServer.StartAsync(executable, LocalRedisServer.FreeLoopbackPort(), arguments: arguments);
        var realTime = realTimeRedis && await RedisPriority.TryRaiseAsync(server.ProcessId);
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

            var targets = apps.Select(static a => a.BaseAddress).ToList();
            await LoadClient.RunAsync(targets, settings.Clients, settings.Warmup, settings.MaxRequests, Item);

            // After the warm-up, a few seconds more with every command logged: how much of commandstats' time is counted twice.
            await using var stats = await RedisCommandStats.ConnectAsync(server.Endpoint);
            await stats.StartCommandLogAsync();
            await LoadClient.RunAsync(targets, settings.Clients, ScriptShareSample, settings.MaxRequests, Item);
            var scriptShare = await stats.ScriptShareAsync();
            Console.Error.WriteLine($"{Title(store, memoryPressure, compressionOff)}: every command for {ScriptShareSample.TotalSeconds} s after the warm-up (SLOWLOG), calls and mean µs:");
            foreach (var (name, (calls, usec)) in stats.LastSample.OrderByDescending(static c => c.Value.Usec))
            {
                Console.Error.WriteLine(FormattableString.Invariant($"  {name}: {calls} calls, {(double)usec / calls:0.0} µs each, {usec} µs in all"));
            }

            var before = await AppInstance.SumAsync(apps, static s => s.ItemRenders);
            await MetersAsync(apps, reset: true);

            await stats.ResetAsync();
            var cpuBefore = await stats.CpuSecondsAsync();
            var appCpuBefore = apps.Sum(static a => a.ProcessorTime.TotalSeconds);
            var samples = await LoadClient.RunAsync(targets, settings.Clients, settings.StormDuration, settings.MaxRequests, Item);
            var commands = await stats.ReadAsync();
            var cpu = await stats.CpuSecondsAsync() - cpuBefore;
            var appCpu = apps.Sum(static a => a.ProcessorTime.TotalSeconds) - appCpuBefore;
            var memory = await stats.UsedMemoryAsync();
            var expired = await stats.ExpiredKeysAsync();
            var clientsAtEnd = await stats.ClientsMemoryAsync();
            var pages = await stats.CountKeysAsync(store == StoreKind.BuiltInRedis ? "*__MSOCV_*" : "*}:e");
            var breakdown = await stats.MemoryBreakdownAsync(store, memory, expired, clientsAtEnd);
            Console.Error.WriteLine(breakdown.Report(Title(store, memoryPressure, compressionOff)));
            var renders = await AppInstance.SumAsync(apps, static s => s.ItemRenders) - before;
            await MetersAsync(apps, reset: false);

            var seconds = samples.Length == 0 ? 1 : (samples.Max(static s => s.End) - samples.Min(static s => s.Start)) / (double)Stopwatch.Frequency;
            var latencies = Scenarios.Sorted(samples);
            return new LongTailResult(store, memoryPressure, samples.Length, samples.Count(static s => !s.Ok), samples.Length / seconds,
                Scenarios.Percentile(latencies, 0.50), Scenarios.Percentile(latencies, 0.99), renders, commands, memory, cpu, pages)
            {
                CompressionOff = compressionOff,
                AppCpuSeconds = appCpu,
                Breakdown = breakdown,
                ScriptShare = scriptShare,
                RealTimeRedis = realTime,
            };
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

    private static string Title(StoreKind store, bool memoryPressure, bool compressionOff)
        => $"{store}{(compressionOff ? " (compression off)" : "")}, {(memoryPressure ? "maxmemory 40mb, allkeys-lru" : "unbounded")}";

    private static string Item(Random random) => "item/" + Popularity.Next(random).ToString(CultureInfo.InvariantCulture);

    /// <summary>Resets the instances' meter tallies, or prints them (to standard error, with the run's progress).</summary>
    private static async Task MetersAsync(List<AppInstance> apps, bool reset)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        foreach (var app in apps)
        {
            if (reset)
            {
                (await http.PostAsync(new Uri(app.BaseAddress, "bench/meters/reset"), null)).EnsureSuccessStatusCode();
            }
            else
            {
                Console.Error.Write(await http.GetStringAsync(new Uri(app.BaseAddress, "bench/meters")));
            }
        }
    }

    /// <summary>The results as a Markdown report: each store against the built-in Redis store of the same memory setting.</summary>
    public static string Report(CommandLine options, string machine, IReadOnlyList<LongTailResult> results)
    {
        var text = new StringBuilder();
        text.AppendLine("# Long tail on Redis");
        text.AppendLine();
        text.AppendLine(CultureInfo.InvariantCulture, $"Run {DateTimeOffset.UtcNow:yyyy-MM-dd HH:mm} UTC with `dotnet run -c Release --project bench/MintCache.LoadTest -- {options.Arguments}`: {Pages:N0} pages `/item/{{id}}`, Zipf(0.99) popularity, 8 KiB of realistic HTML each (bench/Shared/HtmlPage.cs: a product page of its own per id), rendered in 20 ms, cached 10 s (MintCache: grace 10 s), tagged `items` and `item-{{id}}`; two app instances sharing one dedicated redis-server, {options.Settings.Clients} clients, warm-up {options.Settings.Warmup.TotalSeconds} s, measured {options.Settings.StormDuration.TotalSeconds} s per store. The stores run one after the other in the same sitting, each on a fresh server. Redis time: `INFO commandstats` (usec), reset after the warm-up, and the same with each command counted once (commandstats counts a command a script calls under its own name too, inside the script's time: the share of time those took, in a 3 s `SLOWLOG` of every command after the warm-up, is taken off, and so is `EXEC`'s, whose time includes the commands of its transaction); {(results.All(static r => r.RealTimeRedis) ? RedisPriority.Description : "redis-server at normal priority")}; Redis CPU: `used_cpu_user` + `used_cpu_sys`; app CPU: both app processes' processor time over the measured phase; stored pages: the entry keys counted by `SCAN` after the measured phase, memory per page: `used_memory` over them. {machine}.");
        text.AppendLine();
        text.AppendLine("| Store | Memory | Requests | Errors | req/s | Throughput vs built-in | p50 ms | p99 ms | Renders per request | Redis µs per request (commandstats) | vs built-in | Redis µs per request, each command once | vs built-in | Redis CPU µs per request | vs built-in | App CPU µs per request | vs built-in | Redis used memory MB | Stored pages | Memory per page bytes | vs built-in | Top commands (µs, calls per request) |");
        text.AppendLine("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|");
        foreach (var result in results)
        {
            var baseline = results.FirstOrDefault(r => r.Store == StoreKind.BuiltInRedis && r.MemoryPressure == result.MemoryPressure);
            var top = string.Join(", ", result.Commands
                .Where(static c => !RedisCommandStats.IsHousekeeping(c.Key))
                .OrderByDescending(static c => c.Value.Usec)
                .Take(4)
                .Select(c => FormattableString.Invariant($"{c.Key} {(double)c.Value.Usec / Math.Max(1, result.Requests):0.00} µs, {(double)c.Value.Calls / Math.Max(1, result.Requests):0.00}")));
            text.AppendLine(FormattableString.Invariant(
                $"| {result.Store}{(result.CompressionOff ? " (compression off)" : "")} | {(result.MemoryPressure ? "maxmemory 40mb, allkeys-lru" : "unbounded")} | {result.Requests} | {result.Errors} | {result.RequestsPerSecond:0} | {Ratio(result.RequestsPerSecond, baseline?.RequestsPerSecond)} | {result.P50:0.0} | {result.P99:0.0} | {(double)result.Renders / Math.Max(1, result.Requests):0.000} | {result.RedisMicrosecondsPerRequest:0.00} | {Ratio(result.RedisMicrosecondsPerRequest, baseline?.RedisMicrosecondsPerRequest)} | {result.RedisMicrosecondsPerRequestOnce:0.00} | {Ratio(result.RedisMicrosecondsPerRequestOnce, baseline?.RedisMicrosecondsPerRequestOnce)} | {result.CpuMicrosecondsPerRequest:0.0} | {Ratio(result.CpuMicrosecondsPerRequest, baseline?.CpuMicrosecondsPerRequest)} | {result.AppCpuMicrosecondsPerRequest:0} | {Ratio(result.AppCpuMicrosecondsPerRequest, baseline?.AppCpuMicrosecondsPerRequest)} | {result.UsedMemory / 1048576.0:0.0} | {result.Pages} | {result.MemoryPerPage:0} | {Ratio(result.MemoryPerPage, baseline?.MemoryPerPage)} | {top} |"));
        }

        text.AppendLine();
        text.AppendLine("### Where the memory goes");
        text.AppendLine();
        text.AppendLine("After each measured phase: every key by kind, its `MEMORY USAGE key SAMPLES 0`, length and TTL (bench/MintCache.LoadTest/RedisMemoryBreakdown.cs); the rest of `used_memory` is the server's own (dictionaries, expires, clients, scripts).");
        foreach (var result in results.Where(static r => r.Breakdown is not null))
        {
            text.AppendLine();
            text.Append(result.Breakdown!.Report(Title(result.Store, result.MemoryPressure, result.CompressionOff)));
        }

        return text.ToString();

        static string Ratio(double value, double? baseline)
            => baseline is > 0 ? FormattableString.Invariant($"{value / baseline.Value:0.00}x") : "n/a";
    }
}

internal sealed record LongTailResult(
    StoreKind Store, bool MemoryPressure, long Requests, long Errors, double RequestsPerSecond, double P50, double P99, long Renders,
    Dictionary<string, (long Calls, long Usec)> Commands, long UsedMemory, double CpuSeconds, long Pages)
{
    /// <summary>MintCache with its page compression turned off (a threshold past any page).</summary>
    public bool CompressionOff { get; init; }

    public double MemoryPerPage => (double)UsedMemory / Math.Max(1, Pages);

    public double CpuMicrosecondsPerRequest => CpuSeconds * 1e6 / Math.Max(1, Requests);

    /// <summary>Processor time of both app processes over the measured phase (the stores' own work, the app's and Kestrel's).</summary>
    public double AppCpuSeconds { get; init; }

    /// <summary>Where Redis's memory went, read after the measured phase.</summary>
    public RedisMemoryBreakdown? Breakdown { get; init; }

    public double AppCpuMicrosecondsPerRequest => AppCpuSeconds * 1e6 / Math.Max(1, Requests);

    public double RedisMicrosecondsPerRequest
        => (double)Commands.Where(static c => !RedisCommandStats.IsMeasurement(c.Key)).Sum(static c => c.Value.Usec) / Math.Max(1, Requests);

    /// <summary>Of commandstats' time, the share that scripts' own commands took, counted a second time (sampled after the warm-up).</summary>
    public double ScriptShare { get; init; }

    /// <summary>
    /// <see cref="RedisMicrosecondsPerRequest"/> with each command counted once: scripts' own commands only inside their
    /// script, and a transaction's commands only under their own names (<c>EXEC</c>'s time includes them).
    /// </summary>
    public double RedisMicrosecondsPerRequestOnce
        => (RedisMicrosecondsPerRequest * (1 - ScriptShare)) - ((double)(Commands.TryGetValue("exec", out var exec) ? exec.Usec : 0) / Math.Max(1, Requests));

    /// <summary>Whether redis-server ran at real-time priority (<see cref="RedisPriority"/>).</summary>
    public bool RealTimeRedis { get; init; }
}
