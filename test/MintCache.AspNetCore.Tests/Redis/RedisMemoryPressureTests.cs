using System.Text;
using MintCache.AspNetCore.Diagnostics;
using MintCache.AspNetCore.Tests.Fixtures;
using StackExchange.Redis;

namespace MintCache.AspNetCore.Tests.Redis;

/// <summary>
/// A real redis-server at its <c>maxmemory</c> under <c>noeviction</c>: it answers writes with OOM, which is a refused
/// store (logged, counted), never an outage (design.md §2, invariant 4: the cache never fails a request).
/// </summary>
[Collection(RedisCollection.Name)]
public sealed class RedisMemoryPressureTests
{
    private static readonly TimeSpan Long = TimeSpan.FromMinutes(1);

    [Fact]
    public async Task RedisOutOfMemory_StoresRefused_LookupsAnswered_NotAnOutage()
    {
        using var server = await RedisServerFixture.StartDedicatedAsync();
        await using var admin = await ConnectionMultiplexer.ConnectAsync($"{server.Endpoint},allowAdmin=true");
        var db = admin.GetDatabase();

        // A breaker that opens on the second failure: one OOM counted as a failure shows.
        await using var host = new RedisStoreHarness(server.Endpoint, RedisStoreHarness.UniquePrefix(), o =>
        {
            o.Redis.MinimumThroughput = 2;
            o.Redis.NearCache = false;
        });
        await host.Store.SetAsync("warm", Bytes("v0"), ["news"], Long, default);

        await db.ExecuteAsync("CONFIG", "SET", "maxmemory-policy", "noeviction");
        await db.ExecuteAsync("CONFIG", "SET", "maxmemory", "1");
        const int Stores = 6;
        for (var i = 0; i < Stores; i++)
        {
            await host.Store.SetAsync("k" + i, Bytes("v"), ["news"], Long, default);
            Assert.Null(await host.Store.GetAsync("cold" + i, default));
        }

        var logs = string.Join("\n", host.Logs.GetSnapshot().Select(r => r.ToString() + r.Exception));
        Assert.True(host.CountLogs(Log.IdRedisStoreOutOfMemory) == Stores, logs);
        Assert.Equal(Stores, host.CountLogs(Log.IdFencedWriteRefused));
        Assert.Equal(0, host.CountLogs(Log.IdRedisCallFailed));
        Assert.False(host.Backend.IsDegraded);
        Assert.Equal(0, host.Backend.Local.Count);
        Assert.Equal("v0", Text(await host.Store.GetAsync("warm", default)));
        Assert.False(await db.KeyExistsAsync(host.Backend.Keys.Entry("k0")));

        await db.ExecuteAsync("CONFIG", "SET", "maxmemory", "0");
        await host.Store.SetAsync("k0", Bytes("v1"), ["news"], Long, default);
        Assert.Equal("v1", Text(await host.Store.GetAsync("k0", default)));
    }

    private static byte[] Bytes(string text) => Encoding.UTF8.GetBytes(text);

    private static string? Text(byte[]? page) => page is null ? null : Encoding.UTF8.GetString(page);
}
