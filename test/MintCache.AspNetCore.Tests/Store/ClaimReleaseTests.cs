using System.Text;
using MintCache.AspNetCore.Tests.Fixtures;

namespace MintCache.AspNetCore.Tests.Store;

/// <summary>A claim whose store will not happen passes on: at once when nothing was due, after the backoff when it failed.</summary>
public sealed class ClaimReleaseTests
{
    private static readonly TimeSpan Fresh = TimeSpan.FromSeconds(10);
    private static readonly byte[] PageV1 = Encoding.UTF8.GetBytes("v1");

    [Fact]
    public async Task StoreWithNothingToKeep_ReleasesClaimWithoutBackoff()
    {
        using var harness = new StoreHarness(o =>
        {
            o.Grace = TimeSpan.FromMinutes(5);
            o.FailureBackoff = TimeSpan.FromSeconds(5);
        });
        await harness.Store.SetAsync("k", PageV1, [], Fresh, default);
        harness.Time.Advance(Fresh);
        Assert.Null(await harness.Store.GetAsync("k", default));
        Assert.Equal(1, harness.Store.LocalClaimCount);

        // The policy decided the response is valid for no time: no regeneration failed, so no backoff holds the claim.
        await harness.Store.SetAsync("k", PageV1, [], TimeSpan.Zero, default);
        Assert.Equal(0, harness.Store.LocalClaimCount);
        Assert.Null(await harness.Store.GetAsync("k", default));
    }
}
