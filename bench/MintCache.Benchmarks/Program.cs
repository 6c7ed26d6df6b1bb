using System.Text;
using BenchmarkDotNet.Running;
using MintCache.Bench.Shared;
using MintCache.Benchmarks;

if (args.Contains(CodecBenchmarks.Switch))
{
    await CodecBenchmarks.RunAsync(args);
    return;
}

// Starts (or attaches to) the one local redis-server every benchmark process shares, runs the selected benchmarks,
// then writes the ratio table with the machine's description to bench/results/.
using var redis = LocalRedis.StartOrAttach();
Console.WriteLine($"[bench] {redis.Description}");

var quiet = MachineInfo.WaitForQuiet(1.0, TimeSpan.FromMinutes(3));
Console.WriteLine($"[bench] {quiet}");
if (args.Contains(InterleavedFreshHit.Switch))
{
    if (redis.Endpoint is null)
    {
        Console.WriteLine("[bench] the interleaved fresh hit needs Redis");
        return;
    }

    var result = new StringBuilder();
    result.AppendLine("# Redis fresh hit, near cache off: MintCache and the built-in store interleaved");
    result.AppendLine();
    result.AppendLine($"Run {DateTimeOffset.UtcNow:yyyy-MM-dd HH:mm} UTC with `dotnet run -c Release --project bench/MintCache.Benchmarks -- {InterleavedFreshHit.Switch}`.");
    result.AppendLine($"Before the run: {quiet}. Redis: {redis.Description}.");
    result.AppendLine();
    result.AppendLine(await InterleavedFreshHit.RunAsync(redis.Endpoint));
    result.AppendLine(MachineInfo.Describe());
    var interleavedPath = Path.Combine(MachineInfo.ResultsFolder(), "benchmarks-redis-fresh-hit-interleaved.md");
    await File.WriteAllTextAsync(interleavedPath, result.ToString());
    Console.WriteLine(result);
    Console.WriteLine($"[bench] written to {interleavedPath}");
    return;
}

var summaries = BenchmarkSwitcher.FromAssembly(typeof(StoreBenchmarks).Assembly).Run(args).ToList();
if (summaries.Count == 0 || summaries.All(static s => s.Reports.Length == 0))
{
    return;
}

var table = RatioReport.Build(summaries);
var output = new StringBuilder();
output.AppendLine("# Store-level benchmarks");
output.AppendLine();
output.AppendLine($"Run {DateTimeOffset.UtcNow:yyyy-MM-dd HH:mm} UTC with `dotnet run -c Release --project bench/MintCache.Benchmarks -- {string.Join(' ', args)}`.");
output.AppendLine($"Before the run: {quiet}; after it: load average {MachineInfo.LoadAverage()}.");
output.AppendLine($"Redis: {redis.Description}.");
output.AppendLine();
output.AppendLine(MachineInfo.Describe());
output.AppendLine("## Ratios (one run, one machine)");
output.AppendLine();
output.AppendLine("\"Time vs\" is median time / the baseline's (lower is better); \"Throughput vs built-in\" is its inverse, against the built-in store of the same backend (higher is better).");
output.AppendLine();
output.Append(table);
output.AppendLine();
foreach (var summary in summaries)
{
    output.AppendLine("## BenchmarkDotNet summary");
    output.AppendLine();
    RatioReport.AppendSummary(output, summary);
}

var path = Path.Combine(MachineInfo.ResultsFolder(), "benchmarks.md");
await File.WriteAllTextAsync(path, output.ToString());
Console.WriteLine(table);
Console.WriteLine($"[bench] written to {path}");
