using System.Globalization;
using MintCache.Bench.Shared;
using MintCache.LoadTest;

// Server mode: one app instance, started by the orchestrator below.
if (args.Length > 0 && args[0] == "server")
{
    await BenchServer.RunAsync(
        Enum.Parse<StoreKind>(args[1]),
        int.Parse(args[2], CultureInfo.InvariantCulture),
        int.Parse(args[3], CultureInfo.InvariantCulture),
        args[4],
        args.Length > 5 && args[5] == "count",
        args.Length > 6 && args[6] != "none" ? double.Parse(args[6], CultureInfo.InvariantCulture) : null);
    return 0;
}

// Orchestrator: starts (or attaches to) one local redis-server, runs each scenario against app instances in their
// own processes on 127.0.0.1, prints the tables and writes them to bench/results/loadtest.md.
var options = CommandLine.Parse(args);
using var redis = LocalRedis.StartOrAttach();
var redisEndpoint = redis.Endpoint;
var redisDescription = options.RedisRealTime && redis.ProcessId is { } redisProcess && await RedisPriority.TryRaiseAsync(redisProcess)
    ? $"{redis.Description}, {RedisPriority.Description}"
    : redis.Description;
var available = StoreHost.Available(redisEndpoint).ToList();
Console.WriteLine($"[load] {redisDescription}");
Console.WriteLine($"[load] clients {options.Settings.Clients}, warm-up {options.Settings.Warmup.TotalSeconds} s, hits {options.Settings.HitDuration.TotalSeconds} s, storm {options.Settings.StormDuration.TotalSeconds} s, at most {options.Settings.MaxRequests} requests per phase");

var quiet = MachineInfo.WaitForQuiet(1.0, options.QuietWait);
Console.WriteLine($"[load] {quiet}");
var hits = new List<HitResult>();
if (options.Scenarios.Contains('a'))
{
    // Rounds alternate the stores, so that a drift of the machine over the run does not favour one of them.
    for (var round = 1; round <= options.Rounds; round++)
    {
        foreach (var store in new[] { StoreKind.BuiltInMemory, StoreKind.MintMemory, StoreKind.BuiltInRedis, StoreKind.MintRedis }.Where(available.Contains))
        {
            Console.WriteLine($"[load] (a) fresh hits, round {round}, {store} ...");
            var result = await Scenarios.FreshHitsAsync(store, options.Settings);
            hits.Add(result);
            Console.WriteLine($"[load]     {result.RequestsPerSecond:0} req/s, p50 {result.P50:0.00} ms, p99 {result.P99:0.00} ms");
        }
    }
}

var storms = new List<StormResult>();
if (options.Scenarios.Contains('b'))
{
    var runs = new List<(StoreKind Store, int Instances)>
    {
        (StoreKind.BuiltInMemory, 1),
        (StoreKind.MintMemory, 1),
        (StoreKind.MintMemoryBackground, 1),
        (StoreKind.BuiltInRedis, 2),
        (StoreKind.FusionRedis, 2),
        (StoreKind.MintRedis, 2),
        (StoreKind.MintRedisBackground, 2),
    };

    // The background variants run wherever their foreground twin can.
    static StoreKind Twin(StoreKind kind) => kind switch
    {
        StoreKind.MintMemoryBackground => StoreKind.MintMemory,
        StoreKind.MintRedisBackground => StoreKind.MintRedis,
        _ => kind,
    };

    foreach (var (store, instances) in runs.Where(r => available.Contains(Twin(r.Store))))
    {
        Console.WriteLine($"[load] (b) stale storm, {store} x{instances} ...");
        var result = await Scenarios.StaleStormAsync(store, instances, options.Settings, redisEndpoint: redisEndpoint);
        storms.Add(result);
        Console.WriteLine($"[load]     {result.Expiries} expiries, {result.ExecutionsPerExpiry:0.00} executions/expiry, held/expiry {result.HeldPerExpiry:0.0}, p99 storm {result.StormP99:0.0} ms vs hits {result.HitP99:0.0} ms");
    }
}

if (options.Scenarios.Contains('c'))
{
    // (c) Eager refresh: MintCache's defaults plus EagerRefreshThreshold 0.8, on memory and on two processes on Redis.
    var eager = new List<StormResult>();
    foreach (var (store, instances) in new[] { (StoreKind.MintMemoryBackground, 1), (StoreKind.MintRedisBackground, 2) }
        .Where(r => available.Contains(r.Item1 == StoreKind.MintMemoryBackground ? StoreKind.MintMemory : StoreKind.MintRedis)))
    {
        Console.WriteLine($"[load] (c) eager refresh 0.8, {store} x{instances} ...");
        var result = await Scenarios.StaleStormAsync(store, instances, options.Settings, eagerRefresh: 0.8, redisEndpoint: redisEndpoint);
        eager.Add(result);
        Console.WriteLine($"[load]     {result.Executions} executions, {result.OlderThanFresh} of {result.PageResponses} responses older than the freshness, held {result.HeldServer}");
    }

    Console.WriteLine();
    await PublishAsync("eager-refresh.md", LoadReport.BuildEager(options, $"{redisDescription}. Before the run: {quiet}; after it: load average {MachineInfo.LoadAverage()}", eager));
}

// The (d) and (e) tables' legend.
const string BurstsLegend = "*Bursts*: clusters of endpoint executions starting within 1 s of each other; *held*: requests that spent at least half the render time in the output-cache middleware (see loadtest.md).";

if (options.Scenarios.Contains('d'))
{
    // (d) An outage: Redis killed 5 s into a 20 s storm and restarted empty at 11 s, two instances, MintCache's defaults
    // and the built-in Redis store.
    var text = new System.Text.StringBuilder();
    text.AppendLine("# Redis outage under load");
    text.AppendLine();
    text.AppendLine($"Run {DateTimeOffset.UtcNow:yyyy-MM-dd HH:mm} UTC with `dotnet run -c Release --project bench/MintCache.LoadTest -- {options.Arguments}`: a dedicated redis-server on a loopback port, killed 5 s into a {options.Settings.StormDuration.TotalSeconds} s storm of {options.Settings.Clients} clients and restarted, empty, at 11 s; two app instances; a page rendered in {options.Settings.RenderMs} ms, cached 2 s. Before the run: {quiet}.");
    text.AppendLine();
    text.AppendLine("| Store | Requests | Errors | Bursts | Executions per burst (in order) | Held per burst (in order) | Executions per 2 s window from 2 s after the restart | p99 ms |");
    text.AppendLine("|---|---:|---:|---:|---|---|---|---:|");
    foreach (var store in new[] { StoreKind.MintRedisBackground, StoreKind.BuiltInRedis })
    {
        Console.WriteLine($"[load] (d) outage, {store} x2 ...");
        var (storm, windows, _) = await Scenarios.OutageStormAsync(store, options.Settings, TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(11));
        Console.WriteLine($"[load]     errors {storm.Errors}, held per burst {string.Join(",", storm.HeldInEachExpiry)}, windows after return {string.Join(",", windows)}");
        text.AppendLine(FormattableString.Invariant($"| {store} | {storm.Requests} | {storm.Errors} | {storm.Expiries} | {string.Join(", ", storm.ExecutionsInEachExpiry)} | {string.Join(", ", storm.HeldInEachExpiry)} | {string.Join(", ", windows)} | {Math.Max(storm.StormP99, storm.HitP99):0.0} |"));
    }

    text.AppendLine();
    text.AppendLine(BurstsLegend);
    await PublishAsync("outage.md", text.ToString());
}

if (options.Scenarios.Contains('e'))
{
    // (e) A master failover: a Redis Cluster of three masters with a replica each, the master holding the page killed
    // 5 s into the storm, two instances, MintCache's defaults and the built-in Redis store.
    var text = new System.Text.StringBuilder();
    text.AppendLine("# Redis Cluster master failover under load");
    text.AppendLine();
    text.AppendLine($"Run {DateTimeOffset.UtcNow:yyyy-MM-dd HH:mm} UTC with `dotnet run -c Release --project bench/MintCache.LoadTest -- {options.Arguments}`: a Redis Cluster of 3 masters and 3 replicas on loopback ports (node timeout 2 s), the master holding the page killed 5 s into a {options.Settings.StormDuration.TotalSeconds} s storm of {options.Settings.Clients} clients, its replica promoted; two app instances; a page rendered in {options.Settings.RenderMs} ms, cached 2 s. Before the run: {quiet}.");
    text.AppendLine();
    text.AppendLine("| Store | Requests | Errors | Bursts | Executions per burst (in order) | Held per burst (in order) | Replica promoted after | p99 ms | max ms |");
    text.AppendLine("|---|---:|---:|---:|---|---|---:|---:|---:|");
    foreach (var store in new[] { StoreKind.MintRedisBackground, StoreKind.BuiltInRedis })
    {
        Console.WriteLine($"[load] (e) failover, {store} x2 ...");
        var (storm, promotedAfter, key) = await Scenarios.FailoverStormAsync(store, options.Settings, TimeSpan.FromSeconds(5));
        Console.WriteLine($"[load]     page key {key.Replace('\u001e', '|')}, promoted after {promotedAfter.TotalSeconds:0.0} s, errors {storm.Errors}, held per burst {string.Join(",", storm.HeldInEachExpiry)}");
        text.AppendLine(FormattableString.Invariant($"| {store} | {storm.Requests} | {storm.Errors} | {storm.Expiries} | {string.Join(", ", storm.ExecutionsInEachExpiry)} | {string.Join(", ", storm.HeldInEachExpiry)} | {promotedAfter.TotalSeconds:0.0} s | {Math.Max(storm.StormP99, storm.HitP99):0.0} | {storm.StormMax:0} |"));
    }

    text.AppendLine();
    text.AppendLine($"{BurstsLegend} *max*: the slowest request in flight during a burst.");
    await PublishAsync("failover.md", text.ToString());
}

if (options.Scenarios.Contains('f'))
{
    // (f) The long tail, two instances on a dedicated redis-server each run, with and without memory pressure.
    var results = new List<LongTailResult>();
    foreach (var memoryPressure in new[] { false, true })
    {
        foreach (var (store, compressionOff) in new[] { (StoreKind.BuiltInRedis, false), (StoreKind.MintRedisBackground, false), (StoreKind.MintRedisBackground, true) }
            .Where(v => !(options.CompressedOnly && v.Item2)))
        {
            Console.WriteLine($"[load] (f) long tail, {store}{(compressionOff ? " (compression off)" : "")} x2{(memoryPressure ? ", maxmemory 40mb allkeys-lru" : "")} ...");
            var result = await LongTail.RunAsync(store, options.Settings, memoryPressure, compressionOff, options.RedisRealTime);
            results.Add(result);
            Console.WriteLine($"[load]     {result.RequestsPerSecond:0} req/s, {result.RedisMicrosecondsPerRequest:0.00} µs Redis per request ({result.RedisMicrosecondsPerRequestOnce:0.00} each command once, {result.CpuMicrosecondsPerRequest:0.0} CPU), {result.AppCpuMicrosecondsPerRequest:0} µs app CPU per request, renders/request {(double)result.Renders / Math.Max(1, result.Requests):0.000}, errors {result.Errors}");
        }
    }

    await PublishAsync("longtail.md", LongTail.Report(options, $"Before the run: {quiet}; after it: load average {MachineInfo.LoadAverage()}", results));
}

if (options.Scenarios.Contains('g'))
{
    // (g) Regenerations of unchanged and changed pages: the built-in Redis store, then MintCache with compression on
    // (its default) and off, two instances on a dedicated redis-server each run.
    var results = new List<RefreshResult>();
    foreach (var changing in new[] { false, true })
    {
        foreach (var (store, compressionOff) in new[] { (StoreKind.BuiltInRedis, false), (StoreKind.MintRedisBackground, false), (StoreKind.MintRedisBackground, true) })
        {
            Console.WriteLine($"[load] (g) {(changing ? "changed" : "unchanged")} pages, {store}{(compressionOff ? " (compression off)" : "")} x2 ...");
            var result = await Refreshes.RunAsync(store, changing, compressionOff, options.Settings);
            results.Add(result);
            Console.WriteLine($"[load]     {result.Regenerations} regenerations, {result.BytesPerRegeneration:0} B received and {result.RedisMicrosecondsPerRegeneration:0.0} µs of Redis per regeneration");
        }
    }

    await PublishAsync("unchanged-refresh.md", Refreshes.Report(options, $"Before the run: {quiet}; after it: load average {MachineInfo.LoadAverage()}", results));
}

// loadtest.md holds scenarios a and b: a run of only c, d or e leaves it as it is.
if (options.Scenarios.Contains('a') || options.Scenarios.Contains('b'))
{
    Console.WriteLine();
    await PublishAsync("loadtest.md", LoadReport.Build(options, $"{redisDescription}. Before the run: {quiet}; after it: load average {MachineInfo.LoadAverage()}", hits, storms));
}

return 0;

// Prints a scenario's report and, unless --no-write, writes it with the machine's description to bench/results/.
async Task PublishAsync(string fileName, string report)
{
    Console.WriteLine(report);
    if (options.Write)
    {
        var path = Path.Combine(MachineInfo.ResultsFolder(), fileName);
        await File.WriteAllTextAsync(path, report + Environment.NewLine + MachineInfo.Describe());
        Console.WriteLine($"[load] written to {path}");
    }
}
