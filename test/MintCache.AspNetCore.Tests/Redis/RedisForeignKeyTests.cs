using System.Text;
using MintCache.AspNetCore.Diagnostics;
using MintCache.AspNetCore.Entries;
using MintCache.AspNetCore.Tests.Fixtures;

namespace MintCache.AspNetCore.Tests.Redis;

/// <summary>
/// Another program's data of another type (WRONGTYPE) under a claim or tag key: a logged miss or a refused store,
/// never a script error that degrades the process (design.md §2, invariant 4: foreign bytes are a logged miss).
/// </summary>
[Collection(RedisCollection.Name)]
public sealed class RedisForeignKeyTests(RedisServerFixture redis)
{
    private static readonly TimeSpan Long = TimeSpan.FromMinutes(1);

    [Fact]
    public async Task ClaimKeyOfAnotherType_LookupIsLoggedMiss_StoreRefused_NotDegraded()
    {
        await using var host = new RedisStoreHarness(redis.Endpoint, RedisStoreHarness.UniquePrefix(), o => o.Redis.MinimumThroughput = 2);
        await redis.Database.HashSetAsync(host.Backend.Keys.Claim("k"), "foreign", "value");

        for (var i = 0; i < 4; i++)
        {
            Assert.Null(await host.Store.GetAsync("k", default));
        }

        await host.Store.SetAsync("k", Bytes("v1"), [], Long, default);

        Assert.Equal(4, host.CountLogs(Log.IdEntryRejected));
        Assert.Contains(host.Logs.GetSnapshot(), r => r.Id.Id == Log.IdEntryRejected && r.Message.Contains(nameof(EntryRejectReason.ForeignClaim), StringComparison.Ordinal));
        Assert.Equal(1, host.CountLogs(Log.IdRedisStoreRefusedForeignKey));
        Assert.Equal(0, host.CountLogs(Log.IdRedisCallFailed));
        Assert.False(host.Backend.IsDegraded);
        Assert.False(await redis.Database.KeyExistsAsync(host.Backend.Keys.Entry("k")));
    }

    [Fact]
    public async Task TagKeyOfAnotherType_StoreRefused_EvictionReturns_NotDegraded()
    {
        await using var host = new RedisStoreHarness(redis.Endpoint, RedisStoreHarness.UniquePrefix(), o => o.Redis.MinimumThroughput = 2);
        await redis.Database.StringSetAsync(host.Backend.Keys.Tag("news"), "foreign");

        await host.Store.SetAsync("k", Bytes("v1"), ["news"], Long, default);
        await host.Store.SetAsync("k", Bytes("v1"), ["news"], Long, default);
        await host.Store.EvictByTagAsync("news", default);

        Assert.Equal(2, host.CountLogs(Log.IdRedisStoreRefusedForeignKey));
        Assert.Equal(1, host.CountLogs(Log.IdRedisTagKeyForeign));
        Assert.Equal(0, host.CountLogs(Log.IdRedisCallFailed));
        Assert.False(host.Backend.IsDegraded);
        Assert.False(await redis.Database.KeyExistsAsync(host.Backend.Keys.Entry("k")));
        Assert.Equal("foreign", (string?)await redis.Database.StringGetAsync(host.Backend.Keys.Tag("news")));
    }

    private static byte[] Bytes(string text) => Encoding.UTF8.GetBytes(text);
}
