using System.Buffers;
using BenchmarkDotNet.Attributes;
using Microsoft.AspNetCore.OutputCaching;
using Microsoft.Extensions.DependencyInjection;
using MintCache.Bench.Shared;

namespace MintCache.Benchmarks;

/// <summary>
/// The store operations the output-cache middleware performs, through <see cref="IOutputCacheStore"/> exactly as the
/// middleware calls them, for each store. Ratios against the built-in stores are computed from one run by
/// <see cref="RatioReport"/>.
/// </summary>
[Config(typeof(BenchConfig))]
public class StoreBenchmarks
{
    /// <summary>Size of the serialized entry: a small HTML page with its headers.</summary>
    public const int PageSize = 4096;

    private static readonly string[] Tags = ["bench", "page"];

    private ServiceProvider? _services;
    private IOutputCacheStore _store = null!;
    private IOutputCacheBufferStore? _bufferStore;
    private byte[] _page = null!;
    private ReadOnlySequence<byte> _pageSequence;
    private string _prefix = string.Empty;
    private string _freshKey = string.Empty;
    private string _staleKey = string.Empty;
    private string _missingKey = string.Empty;
    private string _setKey = string.Empty;
    private string _evictKey = string.Empty;
    private string[] _evictTags = [];

    [ParamsSource(nameof(Stores))]
    public StoreKind Store { get; set; }

    public static IEnumerable<StoreKind> Stores() => StoreHost.Available(LocalRedis.FromEnvironment());

    [GlobalSetup]
    public void Setup()
    {
        // A lease longer than any benchmark, so the stale entry's claim never lapses mid-run (a lapse would answer one
        // lookup "miss" and take the claim again).
        _services = StoreHost.BuildStoreOnly(Store, LocalRedis.FromEnvironment(), static o =>
        {
            o.LeaseDuration = TimeSpan.FromMinutes(5);
            o.Grace = TimeSpan.FromDays(1);
        });
        _store = _services.GetRequiredService<IOutputCacheStore>();
        _bufferStore = _store as IOutputCacheBufferStore;
        _page = new byte[PageSize];
        new Random(42).NextBytes(_page);
        _pageSequence = new ReadOnlySequence<byte>(_page);

        // Unique keys per process: runs can share one Redis without seeing each other's entries.
        _prefix = $"bench:{Environment.ProcessId}:{Store}:";
        _freshKey = _prefix + "fresh";
        _staleKey = _prefix + "stale";
        _missingKey = _prefix + "missing";
        _setKey = _prefix + "set";
        _evictKey = _prefix + "evict";
        _evictTags = [_prefix + "evict-tag"];

        Wait(_store.SetAsync(_freshKey, _page, Tags, TimeSpan.FromHours(1), default));
        if (Wait(_store.GetAsync(_freshKey, default)) is not { Length: PageSize })
        {
            throw new InvalidOperationException($"{Store}: a fresh entry was not served back.");
        }
    }

    /// <summary>
    /// Makes the stale entry for <see cref="StaleHit"/>: stored with a 1 ms freshness, then looked up once so that
    /// the one lookup that wins the refresh claim is spent. Every later lookup is what the crowd gets during a
    /// regeneration: MintCache serves the stale page; the built-in stores have nothing past expiry (a miss).
    /// </summary>
    [GlobalSetup(Target = nameof(StaleHit))]
    public void SetupStale()
    {
        Setup();
        Wait(_store.SetAsync(_staleKey, _page, Tags, TimeSpan.FromMilliseconds(1), default));
        Thread.Sleep(50);
        _ = Wait(_store.GetAsync(_staleKey, default));
        _ = Wait(_store.GetAsync(_staleKey, default));
    }

    [GlobalCleanup]
    public void Cleanup() => _services?.Dispose();

    /// <summary>A lookup of a fresh 4 KiB entry (the middleware's whole read path on a hit).</summary>
    [Benchmark]
    public ValueTask<byte[]?> FreshHit() => _store.GetAsync(_freshKey, default);

    /// <summary>A lookup of a stale entry whose regeneration another request holds (built-in stores: a miss).</summary>
    [Benchmark]
    public ValueTask<byte[]?> StaleHit() => _store.GetAsync(_staleKey, default);

    /// <summary>A lookup of a key never stored.</summary>
    [Benchmark]
    public ValueTask<byte[]?> Miss() => _store.GetAsync(_missingKey, default);

    /// <summary>
    /// A store of a 4 KiB page with two tags as the middleware does it: the serialized entry arrives as a
    /// <see cref="ReadOnlySequence{T}"/>; a store implementing <see cref="IOutputCacheBufferStore"/> takes it as is,
    /// any other store gets a <c>byte[]</c> copy that the middleware makes first (counted here, as it is a cost of
    /// that store's choice).
    /// </summary>
    [Benchmark]
    public ValueTask Set() => StoreAsync(_setKey, Tags);

    /// <summary>Stores one tagged entry as <see cref="Set"/> does, then evicts its tag (each eviction removes one entry).</summary>
    [Benchmark]
    public async Task SetThenEvictByTag()
    {
        await StoreAsync(_evictKey, _evictTags);
        await _store.EvictByTagAsync(_evictTags[0], default);
    }

    private ValueTask StoreAsync(string key, string[] tags) => _bufferStore is { } buffered
        ? buffered.SetAsync(key, _pageSequence, tags, TimeSpan.FromMinutes(10), default)
        : _store.SetAsync(key, _pageSequence.ToArray(), tags, TimeSpan.FromMinutes(10), default);

    private static T Wait<T>(ValueTask<T> task) => task.AsTask().GetAwaiter().GetResult();

    private static void Wait(ValueTask task) => task.AsTask().GetAwaiter().GetResult();
}
