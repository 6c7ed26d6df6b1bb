using System.Buffers;
using System.Globalization;
using System.IO.Compression;
using System.Text;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Diagnosers;
using BenchmarkDotNet.Exporters;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using MintCache.AspNetCore.Backends.Redis;
using MintCache.Bench.Shared;
using Perfolizer.Horology;
using ZstdSharp;

namespace MintCache.Benchmarks;

/// <summary>
/// What each candidate codec costs the app per stored page and per read from Redis: compress and decompress one 8 KiB
/// product page (<see cref="HtmlPage"/>, 200 of them in turn), with the allocations, and the ratio each reaches. The
/// <c>Mint*</c> rows go through <see cref="RedisPageCodec"/> as a store and a read do (header, length prefix, copies),
/// with the codec the library writes before the farm has a dictionary (Brotli q5), whatever the parameter.
/// <c>zstd-dict</c> is the codec it writes once the farm has one: Zstandard at <see cref="RedisPageDictionary.Level"/> against
/// <see cref="RedisPageDictionary"/>, made of four pages of the same site that are not among those measured.
/// </summary>
[Config(typeof(InProcessConfig))]
public class CodecBenchmarks
{
    public const string Switch = "--codecs";

    private const int Pages = 200;
    private const int PageSize = 8 * 1024;

    private byte[][] _pages = [];
    private byte[][] _compressed = [];
    private ReadOnlySequence<byte>[] _sequences = [];
    private byte[][] _values = [];
    private byte[] _output = [];
    private Compressor? _zstdCompressor;
    private Decompressor? _zstdDecompressor;
    private RedisPageDictionary? _dictionary;

    [Params(
        "brotli-q5-w22", "brotli-q0-w16", "brotli-q1-w16", "brotli-q2-w16", "brotli-q3-w16", "brotli-q4-w16", "brotli-q1-w22",
        "zstd-1", "zstd-2", "zstd-3", "zstd-dict", "deflate-fastest")]
    public string Codec { get; set; } = "brotli-q5-w22";

    public static IReadOnlyList<byte[]> CreatePages() => [.. Enumerable.Range(1, Pages).Select(static id => HtmlPage.Create(id, PageSize))];

    [GlobalSetup]
    public void Setup()
    {
        _pages = [.. CreatePages()];
        _output = new byte[PageSize * 2];
        if (Codec == "zstd-dict")
        {
            _dictionary = RedisPageDictionary.FromSamples([.. Enumerable.Range(Pages + 1, RedisPageDictionaries.Samples).Select(static id => HtmlPage.Create(id, PageSize))]);
        }
        else if (Codec.StartsWith("zstd-", StringComparison.Ordinal))
        {
            _zstdCompressor = new Compressor(Level(Codec));
            _zstdDecompressor = new Decompressor();
        }

        _compressed = [.. _pages.Select(page => Compress(page.AsSpan(), _output).ToArray())];
        _sequences = [.. _pages.Select(static page => Split(page))];
        _values = [.. _pages.Select(page => RedisPageCodec.Encode(new ReadOnlySequence<byte>(page), 1024))];
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _zstdCompressor?.Dispose();
        _zstdDecompressor?.Dispose();
    }

    [Benchmark(OperationsPerInvoke = Pages)]
    public int Compress()
    {
        var total = 0;
        foreach (var page in _pages)
        {
            total += Compress(page, _output).Length;
        }

        return total;
    }

    [Benchmark(OperationsPerInvoke = Pages)]
    public int Decompress()
    {
        var total = 0;
        for (var i = 0; i < _compressed.Length; i++)
        {
            total += Decompress(_compressed[i], _output.AsSpan(0, _pages[i].Length));
        }

        return total;
    }

    /// <summary>The store's encoding of a page the middleware hands over in segments (header room, prefix, copies).</summary>
    [Benchmark(OperationsPerInvoke = Pages)]
    public int MintEncode()
    {
        var total = 0;
        foreach (var page in _sequences)
        {
            total += RedisPageCodec.Encode(page, 1024).Length;
        }

        return total;
    }

    /// <summary>The read path's decoding of a whole stored value (a plain read).</summary>
    [Benchmark(OperationsPerInvoke = Pages)]
    public int MintDecode()
    {
        var total = 0;
        foreach (var value in _values)
        {
            _ = RedisPageCodec.TryDecodeValue(value, out var page);
            total += page.Length;
        }

        return total;
    }

    /// <summary>Runs these benchmarks alone and writes bench/results/benchmarks-codecs.md (ratios, then BenchmarkDotNet's summary).</summary>
    public static async Task RunAsync(string[] args)
    {
        var before = MachineInfo.LoadAverage();
        var summary = BenchmarkRunner.Run<CodecBenchmarks>(args: [.. args.Where(static a => a != Switch)]);
        var output = new StringBuilder();
        output.AppendLine("# Page codecs: app CPU and allocations per 8 KiB page");
        output.AppendLine();
        output.AppendLine(CultureInfo.InvariantCulture, $"Run {DateTimeOffset.UtcNow:yyyy-MM-dd HH:mm} UTC with `dotnet run -c Release --project bench/MintCache.Benchmarks -- {string.Join(' ', args)}`.");
        output.AppendLine(CultureInfo.InvariantCulture, $"Load average before the run: {before}; after it: {MachineInfo.LoadAverage()}.");
        output.AppendLine();
        output.AppendLine(MachineInfo.Describe());
        output.AppendLine("## Ratio (exact, 200 pages of 8 KiB from bench/Shared/HtmlPage.cs)");
        output.AppendLine();
        output.AppendLine("| Codec | Ratio | Compressed bytes per page |");
        output.AppendLine("|---|---:|---:|");
        var pages = CreatePages();
        var plain = pages.Sum(static p => (long)p.Length);
        foreach (var codec in typeof(CodecBenchmarks).GetProperty(nameof(Codec))!.GetCustomAttributes(typeof(ParamsAttribute), false).Cast<ParamsAttribute>().Single().Values.Cast<string>())
        {
            var bench = new CodecBenchmarks { Codec = codec };
            bench.Setup();
            var compressed = bench._compressed.Sum(static c => (long)c.Length);
            bench.Cleanup();
            output.AppendLine(CultureInfo.InvariantCulture, $"| {codec} | {(double)plain / compressed:0.00} | {compressed / pages.Count:N0} |");
        }

        output.AppendLine();
        output.AppendLine("## BenchmarkDotNet summary (time and allocations per page)");
        output.AppendLine();
        RatioReport.AppendSummary(output, summary);
        var path = Path.Combine(MachineInfo.ResultsFolder(), "benchmarks-codecs.md");
        await File.WriteAllTextAsync(path, output.ToString()).ConfigureAwait(false);
        Console.WriteLine(output);
        Console.WriteLine($"[bench] written to {path}");
    }

    private static int Level(string codec) => int.Parse(codec.AsSpan("zstd-".Length), CultureInfo.InvariantCulture);

    // Two segments, as the middleware's pooled builder hands a page over.
    private static ReadOnlySequence<byte> Split(byte[] page)
    {
        var first = new Segment(page.AsMemory(0, page.Length / 2));
        var last = first.Append(page.AsMemory(page.Length / 2));
        return new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
    }

    private ReadOnlySpan<byte> Compress(ReadOnlySpan<byte> page, byte[] output)
    {
        switch (Codec)
        {
            case "zstd-dict":
                return _dictionary!.TryCompress(page, output, out var framed) ? output.AsSpan(0, framed) : throw new InvalidOperationException("Zstandard did not fit.");
            case "zstd-1" or "zstd-2" or "zstd-3":
                return output.AsSpan(0, _zstdCompressor!.Wrap(page, output));
            case "deflate-fastest":
                using (var stream = new MemoryStream(output))
                {
                    using (var deflate = new DeflateStream(stream, CompressionLevel.Fastest, leaveOpen: true))
                    {
                        deflate.Write(page);
                    }

                    return output.AsSpan(0, (int)stream.Position);
                }

            default:
                var parts = Codec.Split('-');
                var quality = int.Parse(parts[1].AsSpan(1), CultureInfo.InvariantCulture);
                var window = int.Parse(parts[2].AsSpan(1), CultureInfo.InvariantCulture);
                if (!BrotliEncoder.TryCompress(page, output, out var written, quality, window))
                {
                    throw new InvalidOperationException("Brotli did not fit.");
                }

                return output.AsSpan(0, written);
        }
    }

    private int Decompress(byte[] compressed, Span<byte> page)
    {
        switch (Codec)
        {
            case "zstd-dict":
                return _dictionary!.TryDecompress(compressed, page.Length, out _)?.Length ?? throw new InvalidOperationException("Zstandard did not decode.");
            case "zstd-1" or "zstd-2" or "zstd-3":
                return _zstdDecompressor!.Unwrap(compressed, page);
            case "deflate-fastest":
                using (var deflate = new DeflateStream(new MemoryStream(compressed), CompressionMode.Decompress))
                {
                    deflate.ReadExactly(page);
                    return page.Length;
                }

            default:
                return BrotliDecoder.TryDecompress(compressed, page, out var written) ? written : throw new InvalidOperationException("Brotli did not decode.");
        }
    }

    /// <summary><see cref="BenchConfig"/>'s job, run in this process: nothing to build, so a busy machine cannot time the build out.</summary>
    public sealed class InProcessConfig : ManualConfig
    {
        public InProcessConfig()
        {
            AddJob(Job.Default
                .WithId("short-inprocess")
                .WithLaunchCount(1)
                .WithWarmupCount(3)
                .WithIterationCount(10)
                .WithIterationTime(TimeInterval.FromMilliseconds(200))
                .WithToolchain(InProcessEmitToolchain.Instance));
            AddDiagnoser(MemoryDiagnoser.Default);
            AddColumn(StatisticColumn.Median, StatisticColumn.Min);
            AddExporter(MarkdownExporter.GitHub);
            WithOrderer(new BenchmarkDotNet.Order.DefaultOrderer(BenchmarkDotNet.Order.SummaryOrderPolicy.Declared));
        }
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory) => Memory = memory;

        public Segment Append(ReadOnlyMemory<byte> memory)
        {
            var next = new Segment(memory) { RunningIndex = RunningIndex + Memory.Length };
            Next = next;
            return next;
        }
    }
}
