using System.Text;
using MintCache.AspNetCore.Tests.Fixtures;

namespace MintCache.AspNetCore.Tests.Store;

public sealed class TagEvictionTests
{
    private static readonly byte[] Page = Encoding.UTF8.GetBytes("page");
    private static readonly TimeSpan Fresh = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task EvictByTag_RemovesEveryTaggedEntry_AndOnlyThose()
    {
        using var harness = new StoreHarness();
        await harness.Store.SetAsync("a", Page, ["news", "home"], Fresh, default);
        await harness.Store.SetAsync("b", Page, ["news"], Fresh, default);
        await harness.Store.SetAsync("c", Page, ["sport"], Fresh, default);

        await harness.Store.EvictByTagAsync("news", default);

        Assert.Null(await harness.Store.GetAsync("a", default));
        Assert.Null(await harness.Store.GetAsync("b", default));
        Assert.Equal(Page, await harness.Store.GetAsync("c", default));
    }

    [Fact]
    public async Task EvictByTag_EntryReplacedWithoutTheTag_Survives()
    {
        using var harness = new StoreHarness();
        await harness.Store.SetAsync("a", Page, ["news"], Fresh, default);
        await harness.Store.SetAsync("a", Page, ["sport"], Fresh, default);

        await harness.Store.EvictByTagAsync("news", default);

        Assert.Equal(Page, await harness.Store.GetAsync("a", default));
    }

    [Fact]
    public async Task MarkStaleByTag_OneLookupRefreshes_OthersServedStale()
    {
        using var harness = new StoreHarness(o => o.Grace = TimeSpan.FromSeconds(30));
        await harness.Store.SetAsync("a", Page, ["news"], Fresh, default);
        await harness.Store.SetAsync("b", Page, ["sport"], Fresh, default);

        await harness.Store.MarkStaleByTagAsync("news", default);

        Assert.Null(await harness.Store.GetAsync("a", default));
        for (var i = 0; i < 20; i++)
        {
            Assert.Equal(Page, await harness.Store.GetAsync("a", default));
        }

        Assert.Equal(Page, await harness.Store.GetAsync("b", default));
        Assert.Equal(Page, await harness.Store.GetAsync("b", default));
    }

    [Fact]
    public async Task MarkStaleByTag_KeepsExpiry_NeverServesPastIt()
    {
        using var harness = new StoreHarness(o => o.Grace = TimeSpan.FromSeconds(30));
        await harness.Store.SetAsync("a", Page, ["news"], Fresh, default);
        harness.Time.Advance(TimeSpan.FromSeconds(5));

        await harness.Store.MarkStaleByTagAsync("news", default);
        harness.Time.Advance(TimeSpan.FromSeconds(35)); // 40 s after the store: fresh (10) + grace (30) are over

        Assert.Null(await harness.Store.GetAsync("a", default));
        Assert.Null(await harness.Store.GetAsync("a", default));
    }

    [Fact]
    public async Task Entries_LeaveMemoryOnTheirOwn_AfterGrace_WithTheirTags()
    {
        using var harness = new StoreHarness(o => o.Grace = TimeSpan.FromSeconds(30));
        for (var i = 0; i < 50; i++)
        {
            await harness.Store.SetAsync($"k{i}", Page, [$"t{i % 5}"], Fresh, default);
        }

        Assert.Equal(50, harness.Backend.Count);

        // Nobody looks anything up; the sweep alone must drop them once fresh + grace are over.
        harness.Time.Advance(Fresh + TimeSpan.FromSeconds(30) + MintCache.AspNetCore.Backends.Memory.MemoryBackend.SweepInterval);

        Assert.Equal(0, harness.Backend.Count);
        Assert.Equal(0, harness.Backend.Size);
        Assert.Equal(0, harness.Backend.TagCount);
    }

    [Fact]
    public async Task SizeLimit_IsHonoured_OldestToExpireDroppedFirst()
    {
        var page = new byte[1000];
        using var harness = new StoreHarness(sizeLimit: 20_000);
        for (var i = 0; i < 40; i++)
        {
            await harness.Store.SetAsync($"k{i:00}", page, [], Fresh + TimeSpan.FromSeconds(i), default);
        }

        Assert.InRange(harness.Backend.Size, 1, 20_000);
        Assert.Equal(page, await harness.Store.GetAsync("k39", default)); // the longest-lived survives
        Assert.Null(await harness.Store.GetAsync("k00", default));

        await harness.Store.SetAsync("huge", new byte[30_000], [], Fresh, default);
        Assert.Null(await harness.Store.GetAsync("huge", default));
        Assert.Contains(harness.Logs.GetSnapshot(), r => r.Id.Id == Diagnostics.Log.IdEntryTooLarge);
    }
}
