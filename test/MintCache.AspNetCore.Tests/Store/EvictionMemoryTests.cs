using System.Text;
using MintCache.AspNetCore.Backends.Memory;
using MintCache.AspNetCore.Tests.Fixtures;

namespace MintCache.AspNetCore.Tests.Store;

/// <summary>
/// The embedded backend remembers tag evictions for <see cref="MemoryBackend.EvictionMemory"/>: a regeneration that
/// began before a forgotten eviction is still refused, and one that began after it is stored.
/// </summary>
public sealed class EvictionMemoryTests
{
    private static readonly TimeSpan Fresh = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task RegenerationBeganAfterAForgottenEviction_IsStored()
    {
        using var harness = new StoreHarness();
        await harness.Store.SetAsync("k", Page("v1"), ["t"], Fresh, default);
        await harness.Store.EvictByTagAsync("t", default);
        harness.Time.Advance(MemoryBackend.EvictionMemory + MemoryBackend.SweepInterval);

        await harness.Store.SetAsync("k", Page("v2"), ["t"], Fresh, default);
        harness.Time.Advance(Fresh);
        Assert.Null(await harness.Store.GetAsync("k", default)); // the claim, won long after the eviction
        await harness.Store.SetAsync("k", Page("v3"), ["t"], Fresh, default);

        Assert.Equal("v3", Text(await harness.Store.GetAsync("k", default)));
    }

    [Fact]
    public async Task RegenerationBeganBeforeAForgottenEviction_IsRefused()
    {
        using var harness = new StoreHarness(o => o.Grace = TimeSpan.FromMinutes(30));
        await harness.Store.SetAsync("k", Page("v1"), ["t"], Fresh, default);
        harness.Time.Advance(Fresh);
        Assert.Null(await harness.Store.GetAsync("k", default)); // the claim

        await harness.Store.MarkStaleByTagAsync("t", default);
        harness.Time.Advance(MemoryBackend.EvictionMemory + MemoryBackend.SweepInterval);
        await harness.Store.SetAsync("k", Page("v2 from before the eviction"), ["t"], Fresh, default);

        var lookup = await harness.Backend.LookupAsync("k", TimeSpan.FromSeconds(10), default);
        Assert.Equal(Entries.EntryState.Stale, lookup.State);
        Assert.Equal("v1", Text(lookup.Page));
        Assert.Contains(harness.Logs.GetSnapshot(), r => r.Id.Id == Diagnostics.Log.IdFencedWriteRefused);
    }

    private static byte[] Page(string text) => Encoding.UTF8.GetBytes(text);

    private static string? Text(byte[]? page) => page is null ? null : Encoding.UTF8.GetString(page);
}
