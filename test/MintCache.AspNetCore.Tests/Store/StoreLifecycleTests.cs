using System.Text;
using MintCache.AspNetCore.Policies;
using MintCache.AspNetCore.Tests.Fixtures;

namespace MintCache.AspNetCore.Tests.Store;

/// <summary>The life of an entry on the memory backend: fresh, stale with one refresher, then gone.</summary>
public sealed class StoreLifecycleTests
{
    private static readonly byte[] PageV1 = Encoding.UTF8.GetBytes("v1");
    private static readonly byte[] PageV2 = Encoding.UTF8.GetBytes("v2");
    private static readonly TimeSpan Fresh = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task Get_FreshEntry_ReturnsStoredPage()
    {
        using var harness = new StoreHarness(o => o.Grace = TimeSpan.FromSeconds(30));
        await harness.Store.SetAsync("k", PageV1, [], Fresh, default);

        harness.Time.Advance(Fresh - TimeSpan.FromTicks(1));

        Assert.Equal(PageV1, await harness.Store.GetAsync("k", default));
        Assert.Equal(PageV1, await harness.Store.GetAsync("k", default));
    }

    [Fact]
    public async Task Get_StaleEntry_ExactlyOneLookupMisses_OthersGetStalePage()
    {
        using var harness = new StoreHarness(o => o.Grace = TimeSpan.FromSeconds(30));
        await harness.Store.SetAsync("k", PageV1, [], Fresh, default);
        harness.Time.Advance(Fresh);

        var answers = new List<byte[]?>();
        for (var i = 0; i < 100; i++)
        {
            answers.Add(await harness.Store.GetAsync("k", default));
        }

        Assert.Null(answers[0]);
        Assert.Equal(1, answers.Count(a => a is null));
        Assert.All(answers.Skip(1), a => Assert.Equal(PageV1, a));
    }

    [Fact]
    public async Task Get_StaleEntryFromManyThreads_ExactlyOneLookupMisses()
    {
        using var harness = new StoreHarness(o => o.Grace = TimeSpan.FromSeconds(30));
        await harness.Store.SetAsync("k", PageV1, [], Fresh, default);
        harness.Time.Advance(Fresh);

        using var start = new ManualResetEventSlim();
        var lookups = Enumerable.Range(0, 8).Select(_ => Task.Run(async () =>
        {
            start.Wait();
            var misses = 0;
            for (var i = 0; i < 500; i++)
            {
                if (await harness.Store.GetAsync("k", default) is null)
                {
                    misses++;
                }
            }

            return misses;
        })).ToArray();
        start.Set();

        Assert.Equal(1, (await Task.WhenAll(lookups)).Sum());
    }

    [Fact]
    public async Task Set_AfterStaleMiss_ReplacesPageAndReleasesClaim()
    {
        using var harness = new StoreHarness(o => o.Grace = TimeSpan.FromSeconds(30));
        await harness.Store.SetAsync("k", PageV1, [], Fresh, default);
        harness.Time.Advance(Fresh);
        Assert.Null(await harness.Store.GetAsync("k", default));

        await harness.Store.SetAsync("k", PageV2, [], Fresh, default);

        Assert.Equal(PageV2, await harness.Store.GetAsync("k", default));
        Assert.Equal(0, harness.Store.LocalClaimCount);

        // The new page goes stale in turn and is claimed afresh.
        harness.Time.Advance(Fresh);
        Assert.Null(await harness.Store.GetAsync("k", default));
        Assert.Equal(PageV2, await harness.Store.GetAsync("k", default));
    }

    [Fact]
    public async Task Get_PastGrace_Misses_AndNeverReturnsTheExpiredPage()
    {
        using var harness = new StoreHarness(o => o.Grace = TimeSpan.FromSeconds(30));
        await harness.Store.SetAsync("k", PageV1, [], Fresh, default);
        harness.Time.Advance(Fresh + TimeSpan.FromSeconds(30) - TimeSpan.FromTicks(1));
        Assert.Null(await harness.Store.GetAsync("k", default)); // the claim winner
        Assert.Equal(PageV1, await harness.Store.GetAsync("k", default)); // stale, one tick before expiry

        harness.Time.Advance(TimeSpan.FromTicks(1));

        for (var i = 0; i < 10; i++)
        {
            Assert.Null(await harness.Store.GetAsync("k", default));
        }
    }

    [Fact]
    public async Task Claim_NotStoredUnder_LapsesAfterLease_ThenNextLookupRegenerates()
    {
        using var harness = new StoreHarness(o =>
        {
            o.Grace = TimeSpan.FromMinutes(5);
            o.LeaseDuration = TimeSpan.FromSeconds(10);
        });
        await harness.Store.SetAsync("k", PageV1, [], Fresh, default);
        harness.Time.Advance(Fresh);
        Assert.Null(await harness.Store.GetAsync("k", default));

        harness.Time.Advance(TimeSpan.FromSeconds(10) - TimeSpan.FromTicks(1));
        Assert.Equal(PageV1, await harness.Store.GetAsync("k", default));

        harness.Time.Advance(TimeSpan.FromTicks(1));
        Assert.Null(await harness.Store.GetAsync("k", default));
        Assert.Equal(PageV1, await harness.Store.GetAsync("k", default));
    }

    [Fact]
    public async Task Set_UnderLapsedClaim_NeverOverwritesNewerPage()
    {
        using var harness = new StoreHarness(o =>
        {
            o.Grace = TimeSpan.FromMinutes(5);
            o.LeaseDuration = TimeSpan.FromSeconds(10);
        });
        var hostA = harness.Store;
        var hostB = harness.NewStoreOnSameBackend();
        await hostA.SetAsync("k", PageV1, [], Fresh, default);
        harness.Time.Advance(Fresh);

        Assert.Null(await hostA.GetAsync("k", default)); // A claims, then stalls past its lease
        harness.Time.Advance(TimeSpan.FromSeconds(11));
        Assert.Null(await hostB.GetAsync("k", default)); // B takes over
        await hostB.SetAsync("k", PageV2, [], Fresh, default);

        await hostA.SetAsync("k", Encoding.UTF8.GetBytes("late v1'"), [], Fresh, default);

        Assert.Equal(PageV2, await hostB.GetAsync("k", default));
        Assert.Contains(harness.Logs.GetSnapshot(), r => r.Id.Id == Diagnostics.Log.IdFencedWriteRefused);
    }

    [Fact]
    public async Task Grace_FromReservedTag_OverridesDefault_AndIsNotATag()
    {
        using var harness = new StoreHarness(o => o.Grace = TimeSpan.FromSeconds(5));
        await harness.Store.SetAsync("k", PageV1, ["news", ReservedTags.ForGrace(TimeSpan.FromMinutes(1))], Fresh, default);

        harness.Time.Advance(Fresh + TimeSpan.FromSeconds(30));
        Assert.Null(await harness.Store.GetAsync("k", default)); // stale: claimed
        Assert.Equal(PageV1, await harness.Store.GetAsync("k", default)); // still within the policy's grace

        await harness.Store.EvictByTagAsync(ReservedTags.ForGrace(TimeSpan.FromMinutes(1)), default);
        Assert.Equal(PageV1, await harness.Store.GetAsync("k", default));

        await harness.Store.EvictByTagAsync("news", default);
        Assert.Null(await harness.Store.GetAsync("k", default));
    }

    [Fact]
    public async Task EmptyKey_IsNeverClaimedOrStored()
    {
        using var harness = new StoreHarness();

        await harness.Store.SetAsync(string.Empty, PageV1, [], Fresh, default);

        Assert.Equal(0, harness.Backend.Count);
        Assert.Null(await harness.Store.GetAsync(string.Empty, default));
        Assert.Equal(0, harness.Store.LocalClaimCount);
    }
}
