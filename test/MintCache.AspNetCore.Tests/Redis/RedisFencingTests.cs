using MintCache.AspNetCore.Diagnostics;
using MintCache.AspNetCore.Tests.Fixtures;
using StackExchange.Redis;

namespace MintCache.AspNetCore.Tests.Redis;

/// <summary>
/// Evictions win on every store path (design.md §2, invariant 8): a page rendered without a claim is fenced against
/// the evictions that came after its lookup missed, through real hosts sharing one Redis.
/// </summary>
public sealed class RedisFencingTests(RedisServerFixture redis) : IClassFixture<RedisServerFixture>
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task UnclaimedColdStore_EvictionBetweenMissAndStore_PageNeverServedFresh()
    {
        var prefix = RedisHost.UniquePrefix();
        var endpoint = new GatedEndpoint();
        var executions = 0;

        // The first render fails, so its claim backs off; every later one succeeds.
        endpoint.OnExecution = () => Interlocked.Increment(ref executions) == 1 ? 500 : 200;

        // A backoff far longer than the steps below, so B's lookup certainly falls inside it on a busy machine.
        void Configure(MintCacheOptions o)
        {
            o.LeaseDuration = TimeSpan.FromMinutes(1);
            o.FailureBackoff = TimeSpan.FromSeconds(50);
        }

        await using var a = await RedisHost.StartAsync(redis.Endpoint, prefix, endpoint, TimeSpan.FromMinutes(5), TimeSpan.FromMinutes(1), Configure);
        await using var b = await RedisHost.StartAsync(redis.Endpoint, prefix, endpoint, TimeSpan.FromMinutes(5), TimeSpan.FromMinutes(1), Configure);

        // Host A's cold render fails: its claim is released to back off.
        using (var failed = await a.Client.GetAsync("/page"))
        {
            Assert.Equal(500, (int)failed.StatusCode);
        }

        await Eventually.HoldsAsync(async () => await ClaimValueAsync(prefix) is { } claim && claim.StartsWith('-'), Deadline, "A's claim backs off");

        // Within the backoff, host B misses and renders without a claim; its render is held at the gate.
        endpoint.Close();
        var rendering = b.Client.GetStringAsync("/page");
        await Eventually.HoldsAsync(() => endpoint.Waiting == 1, Deadline, "B renders");

        // The app purges the page's tag: nothing is in the tag yet and no claim is live, and the call returns.
        await a.Store.EvictByTagAsync("pages", default);

        // Then B's render completes and is handed to the store.
        endpoint.Open();
        Assert.Equal("page 2", await rendering.WaitAsync(Deadline));
        await Eventually.HoldsAsync(
            () => b.CountLogs(Log.IdEntryStored) + b.CountLogs(Log.IdFencedWriteRefused) == 1,
            Deadline,
            "B's store is answered");

        // Neither host serves the page whose render began before the purge as fresh.
        Assert.NotEqual("page 2", await b.Client.GetStringAsync("/page"));
        Assert.NotEqual("page 2", await a.Client.GetStringAsync("/page"));

        // B's store at least; a miss decided by plain reads is fenced from the earliest the node's clock may have read,
        // so the next render, begun a few milliseconds after the purge, may be refused too (the safe side).
        Assert.InRange(b.CountLogs(Log.IdFencedWriteRefused), 1, 2);
    }

    // The claim key of the one page the test renders.
    private async Task<string?> ClaimValueAsync(string prefix)
    {
        var server = redis.Multiplexer.GetServer(redis.Multiplexer.GetEndPoints()[0]);
        await foreach (var key in server.KeysAsync(pattern: prefix + "*:c"))
        {
            return await redis.Database.StringGetAsync(key);
        }

        return null;
    }
}
