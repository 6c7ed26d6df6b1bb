using MintCache.AspNetCore.Store;
using MintCache.AspNetCore.Tests.Fixtures;

namespace MintCache.AspNetCore.Tests.Store;

/// <summary>The table of keys whose hand-off found no taker stays bounded, on the store's clock.</summary>
public sealed class QuietKeyTests
{
    [Fact]
    public void QuietKeys_ManyKeysQuietOnce_BoundedThenSweptAfterQuietFor()
    {
        // Past the bound by enough to show it holds; every mark counts the table, so no further.
        using var harness = new StoreHarness();
        for (var i = 0; i < MintOutputCacheStore.MaxQuietKeys + 1_000; i++)
        {
            harness.Store.MarkQuiet("key " + i);
        }

        Assert.Equal(MintOutputCacheStore.MaxQuietKeys, harness.Store.QuietKeyCount);

        harness.Time.Advance(MintOutputCacheStore.QuietFor);

        Assert.Equal(0, harness.Store.QuietKeyCount);
    }

    [Fact]
    public void QuietKeys_MarkedLater_KeptUntilTheirOwnQuietTimePassed()
    {
        using var harness = new StoreHarness();
        var half = MintOutputCacheStore.QuietFor / 2;
        harness.Store.MarkQuiet("early");
        harness.Time.Advance(half);
        harness.Store.MarkQuiet("late");

        harness.Time.Advance(half);
        Assert.Equal(1, harness.Store.QuietKeyCount);

        harness.Time.Advance(MintOutputCacheStore.QuietFor);
        Assert.Equal(0, harness.Store.QuietKeyCount);
    }

    [Fact]
    public void QuietKeys_MarkedAgainAfterASweep_SweptAgain()
    {
        using var harness = new StoreHarness();
        harness.Store.MarkQuiet("k");
        harness.Time.Advance(MintOutputCacheStore.QuietFor);
        Assert.Equal(0, harness.Store.QuietKeyCount);

        harness.Store.MarkQuiet("k");
        Assert.Equal(1, harness.Store.QuietKeyCount);
        harness.Time.Advance(MintOutputCacheStore.QuietFor);

        Assert.Equal(0, harness.Store.QuietKeyCount);
    }
}
