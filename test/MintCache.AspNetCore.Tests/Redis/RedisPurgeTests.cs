using System.Diagnostics;
using System.Text;
using Microsoft.Extensions.Logging;
using MintCache.AspNetCore.Entries;
using MintCache.AspNetCore.Tests.Fixtures;
using StackExchange.Redis;
using Xunit.Abstractions;

namespace MintCache.AspNetCore.Tests.Redis;

/// <summary>
/// Purges on Redis: they reach every host's near cache even when a batch fails, tell their caller when Redis did not
/// take them, never leave an entry without its tags, and never let a local fallback copy outlive them.
/// </summary>
public sealed class RedisPurgeTests(RedisServerFixture redis, ITestOutputHelper output) : IClassFixture<RedisServerFixture>
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);
    private static readonly TimeSpan Long = TimeSpan.FromMinutes(1);

    [Fact]
    public async Task EvictByTag_ForeignDataUnderAClaimKey_EvictsEveryEntry_AndOtherHostDropsItsNearCopies()
    {
        var prefix = RedisStoreHarness.UniquePrefix();
        await using var a = new RedisStoreHarness(redis.Endpoint, prefix);
        await using var b = new RedisStoreHarness(redis.Endpoint, prefix);
        await Eventually.HoldsAsync(() => a.Backend.Notifications.IsLive && b.Backend.Notifications.IsLive, Deadline, "both hosts subscribed");
        await a.Store.SetAsync("k1", Bytes("v1"), ["news"], Long, default);
        await a.Store.SetAsync("k2", Bytes("v2"), ["news"], Long, default);
        Assert.Equal("v1", Text(await b.Store.GetAsync("k1", default)));
        Assert.Equal("v1", Text(await b.Store.GetAsync("k1", default)));
        Assert.Equal(1, b.Backend.NearCache!.Count);

        // Another program wrote a hash where k2's claim lives: not MintCache's, so neither revoked nor an error.
        await redis.Database.HashSetAsync(a.Backend.Keys.Claim("k2"), "foreign", "value");

        await a.Store.EvictByTagAsync("news", default);
        var returned = Stopwatch.StartNew();
        await Eventually.HoldsAsync(() => b.Backend.NearCache.Count == 0, Deadline, "B drops its near copy of the evicted page");
        output.WriteLine($"B's near copy gone {returned.Elapsed.TotalMilliseconds:F1} ms after the eviction returned (10 ms polling)");
        Assert.Null(await b.Store.GetAsync("k1", default));
        Assert.False(await redis.Database.KeyExistsAsync(a.Backend.Keys.Entry("k2")));
        Assert.False(a.Backend.IsDegraded);
    }

    [Fact]
    public async Task EvictByTag_MessageCannotBePublished_Throws_AfterEvictingInRedis()
    {
        // A Redis user that may do everything but PUBLISH: the eviction runs, its message to the farm cannot be sent.
        var user = "nopub-" + Guid.NewGuid().ToString("N")[..8];
        await redis.Database.ExecuteAsync("ACL", "SETUSER", user, "on", ">secret", "~*", "&*", "+@all", "-publish");
        try
        {
            var prefix = RedisStoreHarness.UniquePrefix();
            await using var writer = new RedisStoreHarness(redis.Endpoint, prefix);
            await using var purger = new RedisStoreHarness($"{redis.Endpoint},user={user},password=secret", prefix, o => o.Redis.OperationTimeout = TimeSpan.FromSeconds(1));
            await Eventually.HoldsAsync(() => writer.Backend.Notifications.IsLive, Deadline, "the writer subscribed");
            await writer.Store.SetAsync("k", Bytes("v1"), ["news"], Long, default);
            Assert.Equal("v1", Text(await writer.Store.GetAsync("k", default)));
            Assert.Equal("v1", Text(await writer.Store.GetAsync("k", default)));
            Assert.Equal(1, writer.Backend.NearCache!.Count);

            // Other hosts keep their near copies as fresh: a purge that could not tell them is a failed purge.
            await Assert.ThrowsAnyAsync<RedisException>(() => purger.Store.EvictByTagAsync("news", default).AsTask());
            Assert.False(await redis.Database.KeyExistsAsync(writer.Backend.Keys.Entry("k")));
        }
        finally
        {
            await redis.Database.ExecuteAsync("ACL", "DELUSER", user);
        }
    }

    [Fact]
    public async Task Store_TagsCannotBeWritten_EntryNeverWrittenWithoutThem()
    {
        var prefix = RedisStoreHarness.UniquePrefix();
        await using var host = new RedisStoreHarness(redis.Endpoint, prefix);

        // Another program holds a string under the tag's key: the tag cannot be recorded.
        await redis.Database.StringSetAsync(host.Backend.Keys.Tag("news"), "foreign");
        await host.Store.SetAsync("k", Bytes("v1"), ["news"], Long, default);

        Assert.False(await redis.Database.KeyExistsAsync(host.Backend.Keys.Entry("k")));
    }

    [Fact]
    public async Task EvictionElsewhere_ClearsLocalFallbackCopies()
    {
        var prefix = RedisStoreHarness.UniquePrefix();
        await using var a = new RedisStoreHarness(redis.Endpoint, prefix);
        await using var b = new RedisStoreHarness(redis.Endpoint, prefix);
        await Eventually.HoldsAsync(() => a.Backend.Notifications.IsLive && b.Backend.Notifications.IsLive, Deadline, "both hosts subscribed");

        // A page A holds in its local fallback, as it would after storing during an outage: Redis never saw it.
        a.Backend.Local.Set("k", Bytes("local v1"), ["news"], new EntryLifetime(Long, Long), default);
        Assert.Equal(1, a.Backend.Local.Count);

        await b.Store.EvictByTagAsync("news", default);
        await Eventually.HoldsAsync(() => a.Backend.Local.Count == 0, Deadline, "A drops its local copies");
    }

    [Fact]
    public async Task RedisDown_EvictionThrowsAfterEvictingLocally_BackEmpty_EvictedPageNeverReturns()
    {
        using var server = await RedisServerFixture.StartDedicatedAsync();
        await using var host = new RedisStoreHarness(server.Endpoint, RedisStoreHarness.UniquePrefix(), o =>
        {
            o.Redis.OperationTimeout = TimeSpan.FromSeconds(2);
            o.Redis.BreakDuration = TimeSpan.FromMilliseconds(500);
        });
        await host.Store.SetAsync("before", Bytes("v0"), [], Long, default);

        // Only a host that read the data's epoch before the outage can tell, on its return, that Redis came back empty.
        await Eventually.HoldsAsync(() => host.Backend.EpochKnown, Deadline, "the host knows the data's epoch");
        server.Kill();
        await Eventually.HoldsAsync(
            async () =>
            {
                await host.Store.SetAsync("k", Bytes("local v1"), ["news"], Long, default);
                return host.Backend.IsDegraded;
            },
            Deadline,
            "the host stores locally");
        await host.Store.SetAsync("other", Bytes("local v2"), ["sport"], Long, default);
        Assert.Equal("local v1", Text(await host.Store.GetAsync("k", default)));

        // Evicted here, not in Redis: the caller learns that the purge did not happen.
        await Assert.ThrowsAnyAsync<Exception>(() => host.Store.EvictByTagAsync("news", default).AsTask());
        Assert.Null(await host.Store.GetAsync("k", default));
        Assert.Equal("local v2", Text(await host.Store.GetAsync("other", default)));

        // Redis comes back empty: the page stored during the outage answers, as a last known page, for the key Redis
        // lacks; the evicted one never comes back.
        await server.StartAsync();
        await Eventually.HoldsAsync(
            async () =>
            {
                await host.Store.GetAsync("before", default);
                return !host.Backend.IsDegraded && host.Backend.ServesLastKnown;
            },
            Deadline,
            "the host is back on the emptied Redis",
            () => $"degraded {host.Backend.IsDegraded}, last known {host.Backend.ServesLastKnown}; logged:{Environment.NewLine}{host.LogDigest(LogLevel.Debug)}");
        Assert.Null(await host.Store.GetAsync("k", default));
        Assert.Equal("local v2", Text(await host.Store.GetAsync("other", default)));
    }

    [Fact]
    public async Task RedisUnreachableThenBackWithItsData_LocalCopiesGoneOnReturn()
    {
        // Redis keeps its data through the outage (paused, as a network partition would look): evictions made there
        // meanwhile are unknown here, so nothing stored locally outlives the outage.
        using var server = await RedisServerFixture.StartDedicatedAsync();
        await using var admin = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync($"{server.Endpoint},allowAdmin=true");
        await using var host = new RedisStoreHarness(server.Endpoint, RedisStoreHarness.UniquePrefix(), o =>
        {
            o.Redis.OperationTimeout = TimeSpan.FromMilliseconds(300);
            o.Redis.BreakDuration = TimeSpan.FromMilliseconds(500);
        });
        await host.Store.SetAsync("before", Bytes("v0"), [], Long, default);
        await Eventually.HoldsAsync(() => host.Backend.EpochKnown, Deadline, "the host knows the data's epoch");

        await admin.GetDatabase().ExecuteAsync("CLIENT", "PAUSE", "3000", "ALL");
        await Eventually.HoldsAsync(
            async () =>
            {
                await host.Store.SetAsync("k", Bytes("local v1"), ["news"], Long, default);
                return host.Backend.IsDegraded;
            },
            Deadline,
            "the host stores locally");
        Assert.True(host.Backend.Local.Count >= 1);

        await Eventually.HoldsAsync(
            async () =>
            {
                await host.Store.GetAsync("before", default);
                return !host.Backend.IsDegraded;
            },
            Deadline,
            "the host is back on Redis");
        await Eventually.HoldsAsync(() => host.Backend.Local.Count == 0, Deadline, "the local pages are dropped");
        Assert.False(host.Backend.ServesLastKnown);

        // A store sent while Redis was paused runs when the pause ends (its caller had timed out): that copy is Redis's.
        // Without it, nothing answers for the key: not the local copy.
        await admin.GetDatabase().KeyDeleteAsync(host.Backend.Keys.Entry("k"));
        Assert.Null(await host.Store.GetAsync("k", default));
    }

    private static byte[] Bytes(string text) => Encoding.UTF8.GetBytes(text);

    private static string? Text(byte[]? page) => page is null ? null : Encoding.UTF8.GetString(page);
}
