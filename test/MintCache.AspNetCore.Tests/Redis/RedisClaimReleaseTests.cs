using System.Text;
using MintCache.AspNetCore.Store;
using MintCache.AspNetCore.Tests.Fixtures;
using MintCache.AspNetCore.Tests.Store;

namespace MintCache.AspNetCore.Tests.Redis;

/// <summary>Claim release on Redis: the server's clock decides, so time passes for real.</summary>
public sealed class RedisClaimReleaseTests(RedisServerFixture redis) : ClaimReleaseTests, IClassFixture<RedisServerFixture>
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);

    private RedisStoreHarness? _harness;
    private string _prefix = "";

    protected override bool MissesAtOnce => false;

    // Here only: the memory backend takes a store synchronously, so only a remote one sees a store cancelled before it.
    [Fact]
    public async Task CancelledStore_ReleasesItsClaim()
    {
        await Store.SetAsync("k", Encoding.UTF8.GetBytes("v1"), [], TimeSpan.FromMilliseconds(1), default);
        await redis.WaitUntilEntriesStaleAsync(_prefix, Deadline);

        // The slow lookup wins the claim and hands its miss to the next lookup, which renders.
        await WinClaimAsync("k");
        var claimKey = _harness!.Backend.Keys.Claim("k");
        var token = (string?)await redis.Database.StringGetAsync(claimKey);
        Assert.False(string.IsNullOrEmpty(token));

        await Store.SetAsync("k", Encoding.UTF8.GetBytes("v2"), [], TimeSpan.FromMinutes(1), new CancellationToken(canceled: true));

        Assert.Equal(0, Store.LocalClaimCount);
        await Eventually.HoldsAsync(
            async () => (string?)await redis.Database.StringGetAsync(claimKey) == "-" + token,
            Deadline,
            "the claim is released to back off");
        var ttl = await redis.Database.KeyTimeToLiveAsync(claimKey);
        Assert.InRange(ttl!.Value, TimeSpan.FromSeconds(1), Backoff);
    }

    private protected override Task<MintOutputCacheStore> StartStoreAsync(Action<MintCacheOptions> configure)
    {
        _prefix = RedisStoreHarness.UniquePrefix(nameof(RedisClaimReleaseTests));
        _harness = new RedisStoreHarness(redis.Endpoint, _prefix, configure);
        return Task.FromResult(_harness.Store);
    }

    protected override async Task PassAsync(TimeSpan duration)
    {
        var until = await redis.ServerNowAsync() + (long)duration.TotalMilliseconds + 1;
        await redis.WaitUntilServerTimeAsync(until, duration + Deadline, $"{duration} pass on the server clock");
    }

    public override async Task DisposeAsync()
    {
        if (_harness is not null)
        {
            await _harness.DisposeAsync();
        }
    }
}
