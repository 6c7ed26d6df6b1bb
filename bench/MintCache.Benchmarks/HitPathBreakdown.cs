using System.Collections.Concurrent;
using BenchmarkDotNet.Attributes;
using Microsoft.AspNetCore.OutputCaching;
using Microsoft.Extensions.DependencyInjection;
using MintCache.AspNetCore.Backends.Memory;
using MintCache.Bench.Shared;

namespace MintCache.Benchmarks;

/// <summary>
/// Where a MintCache memory hit spends its time: the whole <c>GetAsync</c> against the built-in store's, then the
/// pieces it is made of, each measured alone (a profile by subtraction). Not part of the store comparison.
/// </summary>
[Config(typeof(BenchConfig))]
public class HitPathBreakdown
{
    private const string Key = "breakdown:fresh";

    private readonly ConcurrentDictionary<string, object> _emptyDictionary = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, object> _oneEntryDictionary = new(StringComparer.Ordinal);
    private ServiceProvider? _builtIn;
    private ServiceProvider? _mint;
    private ServiceProvider? _mintWithClaim;
    private IOutputCacheStore _builtInStore = null!;
    private IOutputCacheStore _mintStore = null!;
    private IOutputCacheStore _mintStoreWithClaim = null!;
    private MemoryBackend _backend = null!;

    [GlobalSetup]
    public void Setup()
    {
        var page = new byte[StoreBenchmarks.PageSize];
        _builtIn = StoreHost.BuildStoreOnly(StoreKind.BuiltInMemory, null);
        _mint = StoreHost.BuildStoreOnly(StoreKind.MintMemory, null);
        _mintWithClaim = StoreHost.BuildStoreOnly(StoreKind.MintMemory, null, static o => o.LeaseDuration = TimeSpan.FromMinutes(5));
        _builtInStore = _builtIn.GetRequiredService<IOutputCacheStore>();
        _mintStore = _mint.GetRequiredService<IOutputCacheStore>();
        _mintStoreWithClaim = _mintWithClaim.GetRequiredService<IOutputCacheStore>();
        _backend = _mint.GetRequiredService<MemoryBackend>();
        foreach (var store in new[] { _builtInStore, _mintStore, _mintStoreWithClaim })
        {
            store.SetAsync(Key, page, null, TimeSpan.FromHours(1), default).AsTask().GetAwaiter().GetResult();
        }

        // Another page of the same process is being regenerated: the store holds one claim.
        _mintStoreWithClaim.SetAsync("breakdown:other", page, null, TimeSpan.FromMilliseconds(1), default).AsTask().GetAwaiter().GetResult();
        Thread.Sleep(20);
        _mintStoreWithClaim.GetAsync("breakdown:other", default).AsTask().GetAwaiter().GetResult();
        _oneEntryDictionary["other"] = new object();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _builtIn?.Dispose();
        _mint?.Dispose();
        _mintWithClaim?.Dispose();
    }

    [Benchmark(Baseline = true, Description = "BuiltInMemory.GetAsync (hit)")]
    public ValueTask<byte[]?> BuiltInGet() => _builtInStore.GetAsync(Key, default);

    [Benchmark(Description = "MintMemory.GetAsync (hit)")]
    public ValueTask<byte[]?> MintGet() => _mintStore.GetAsync(Key, default);

    [Benchmark(Description = "MintMemory.GetAsync (hit, one other key claimed)")]
    public ValueTask<byte[]?> MintGetWithClaim() => _mintStoreWithClaim.GetAsync(Key, default);

    [Benchmark(Description = "MemoryBackend.Lookup (no store layer)")]
    public byte[]? BackendLookup() => _backend.Lookup(Key, TimeSpan.FromSeconds(10)).Page;

    [Benchmark(Description = "ConcurrentDictionary.IsEmpty, empty (store: _claims.IsEmpty)")]
    public bool EmptyIsEmpty() => _emptyDictionary.IsEmpty;

    [Benchmark(Description = "ConcurrentDictionary.IsEmpty, one entry")]
    public bool OneEntryIsEmpty() => _oneEntryDictionary.IsEmpty;

    [Benchmark(Description = "ConcurrentDictionary.TryGetValue, absent key")]
    public bool EmptyTryGetValue() => _oneEntryDictionary.TryGetValue(Key, out _);

    [Benchmark(Description = "TimeProvider.System.GetUtcNow().UtcTicks (backend: Now())")]
    public long Clock() => TimeProvider.System.GetUtcNow().UtcTicks;

    [Benchmark(Description = "Environment.TickCount64")]
    public long TickCount() => Environment.TickCount64;
}
