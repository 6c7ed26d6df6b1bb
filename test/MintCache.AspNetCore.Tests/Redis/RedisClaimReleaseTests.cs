using System.Text;
using MintCache.AspNetCore.Tests.Fixtures;

namespace MintCache.AspNetCore.Tests.Redis;

/// <summary>A store cancelled before Redis took it releases its claim, which then backs off as a failed regeneration.</summary>
[Collection(RedisCollection.Name)]
public sealed class RedisClaimReleaseTests(RedisServerFixture redis)
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task CancelledStore_ReleasesItsClaim()
    {
        var prefix = RedisStoreHarness.UniquePrefix();
        await using var host = new RedisStoreHarness(redis.Endpoint, prefix, o =>
        {
            o.LeaseDuration = TimeSpan.FromMinutes(1);
            o.FailureBackoff = TimeSpan.FromSeconds(30);
        });
        await host.Store.SetAsync("k", Encoding.UTF8.GetBytes("v1"), [], TimeSpan.FromMilliseconds(1), default);
        await redis.WaitUntilEntriesStaleAsync(prefix, Deadline);

        // The slow lookup wins the claim and hands its miss to the next lookup, which renders.
        Assert.NotNull(await host.Store.GetAsync("k", default));
        Assert.Null(await host.Store.GetAsync("k", default));
        var claimKey = host.Backend.Keys.Claim("k");
        var token = (string?)await redis.Database.StringGetAsync(claimKey);
        Assert.False(string.IsNullOrEmpty(token));

        await host.Store.SetAsync("k", Encoding.UTF8.GetBytes("v2"), [], TimeSpan.FromMinutes(1), new CancellationToken(canceled: true));

        Assert.Equal(0, host.Store.LocalClaimCount);
        await Eventually.HoldsAsync(
            async () => (string?)await redis.Database.StringGetAsync(claimKey) == "-" + token,
            Deadline,
            "the claim is released to back off");
        var ttl = await redis.Database.KeyTimeToLiveAsync(claimKey);
        Assert.InRange(ttl!.Value, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(30));
    }
}
