using System.Globalization;
using System.Text;
using BenchmarkDotNet.Reports;
using MintCache.Bench.Shared;

namespace MintCache.Benchmarks;

/// <summary>
/// Turns one run's summary into the comparison table: per operation, each store's mean, allocations and its
/// ratio to the built-in store of the same kind (memory to <c>MemoryOutputCacheStore</c>, Redis to the built-in Redis
/// store), plus MintCache Redis against the memory store for the near-cache target. Ratios use the median of the
/// iterations, which a busy machine's preemptions disturb less than the mean.
/// </summary>
internal static class RatioReport
{
    /// <summary>BenchmarkDotNet's own Markdown table of <paramref name="summary"/>, as a code block.</summary>
    public static void AppendSummary(StringBuilder output, Summary summary)
    {
        output.AppendLine("```");
        var log = new BenchmarkDotNet.Loggers.AccumulationLogger();
        BenchmarkDotNet.Exporters.MarkdownExporter.Console.ExportToLog(summary, log);
        output.AppendLine(log.GetLog().Trim());
        output.AppendLine("```");
    }

    public static string Build(IEnumerable<Summary> summaries)
    {
        var rows = new List<Row>();
        foreach (var summary in summaries)
        {
            foreach (var report in summary.Reports)
            {
                if (report.ResultStatistics is not { } stats
                    || report.BenchmarkCase.Parameters.Items.FirstOrDefault(static p => p.Name == "Store")?.Value is not StoreKind store)
                {
                    continue;
                }

                var allocated = report.GcStats.GetBytesAllocatedPerOperation(report.BenchmarkCase) ?? -1;
                rows.Add(new Row(report.BenchmarkCase.Descriptor.WorkloadMethod.Name, store, stats.Median, stats.Min, stats.Mean, allocated));
            }
        }

        var text = new StringBuilder();
        text.AppendLine("| Operation | Store | Median | Min | Mean | Allocated/op | Time vs built-in memory | Time vs built-in Redis | Throughput vs built-in (same backend) |");
        text.AppendLine("|---|---|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var operation in rows.Select(static r => r.Operation).Distinct())
        {
            var ofOperation = rows.Where(r => r.Operation == operation).OrderBy(static r => r.Store).ToList();
            var memory = ofOperation.FirstOrDefault(static r => r.Store == StoreKind.BuiltInMemory);
            var redis = ofOperation.FirstOrDefault(static r => r.Store == StoreKind.BuiltInRedis);
            foreach (var row in ofOperation)
            {
                var sameBackend = StoreHost.NeedsRedis(row.Store) ? redis : memory;
                text.Append(CultureInfo.InvariantCulture,
                    $"| {row.Operation} | {row.Store} | {Time(row.MedianNs)} | {Time(row.MinNs)} | {Time(row.MeanNs)} | {Bytes(row.Allocated)} | {Ratio(row, memory)} | {Ratio(row, StoreHost.NeedsRedis(row.Store) ? redis : null)} | {Throughput(row, sameBackend)} |");
                text.AppendLine();
            }
        }

        return text.ToString();
    }

    private static string Ratio(Row row, Row? baseline)
        => baseline is null ? "–" : (row.MedianNs / baseline.MedianNs).ToString("0.00", CultureInfo.InvariantCulture) + "×";

    private static string Throughput(Row row, Row? baseline)
        => baseline is null ? "–" : (baseline.MedianNs / row.MedianNs).ToString("0.00", CultureInfo.InvariantCulture) + "×";

    private static string Time(double ns) => ns switch
    {
        < 1_000 => ns.ToString("0.0", CultureInfo.InvariantCulture) + " ns",
        < 1_000_000 => (ns / 1_000).ToString("0.00", CultureInfo.InvariantCulture) + " µs",
        _ => (ns / 1_000_000).ToString("0.00", CultureInfo.InvariantCulture) + " ms",
    };

    private static string Bytes(long bytes) => bytes < 0 ? "?" : bytes.ToString(CultureInfo.InvariantCulture) + " B";

    private sealed record Row(string Operation, StoreKind Store, double MedianNs, double MinNs, double MeanNs, long Allocated);
}
