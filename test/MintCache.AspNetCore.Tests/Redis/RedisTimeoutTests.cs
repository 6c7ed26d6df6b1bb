using Microsoft.Extensions.Time.Testing;
using MintCache.AspNetCore.Diagnostics;
using MintCache.AspNetCore.Tests.Fixtures;
using StackExchange.Redis;

namespace MintCache.AspNetCore.Tests.Redis;

/// <summary>
/// A Redis that stops answering (connected, silent): a hit's reads skip the resilience pipeline while it is healthy,
/// yet a lookup still waits no longer than <see cref="MintRedisOptions.OperationTimeout"/> on the backend's clock,
/// and such timeouts still open the circuit breaker.
/// </summary>
public sealed class RedisTimeoutTests
{
    [Fact]
    public async Task RedisStopsAnswering_LookupsAnsweredLocallyAtTheTimeout_AndTheBreakerCountsThem()
    {
        var server = await RedisServerFixture.StartDedicatedAsync();
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);

        // StackExchange.Redis's own timeout far away: only MintCache's can end these lookups within the test.
        var harness = new RedisStoreHarness(server.Endpoint + ",asyncTimeout=120000,syncTimeout=120000", RedisStoreHarness.UniquePrefix(), static o =>
            {
                o.Redis.NearCache = false;
                o.Redis.OperationTimeout = TimeSpan.FromSeconds(1);
                o.Redis.MinimumThroughput = 2;
                o.Redis.FailureRatio = 0.5;
            }, time);
        try
        {
            var page = "page"u8.ToArray();
            await harness.Store.SetAsync("GET\u001ehttp\u001elocalhost/a", page, [], TimeSpan.FromMinutes(10), default);
            await harness.Store.SetAsync("GET\u001ehttp\u001elocalhost/b", page, [], TimeSpan.FromMinutes(10), default);

            // Fresh hits once the server's clock is known: plain reads, outside the pipeline.
            await Eventually.HoldsAsync(
                async () =>
                {
                    Assert.Equal(page, await harness.Store.GetAsync("GET\u001ehttp\u001elocalhost/a", default));
                    return harness.Backend.FastReads.Clocks.IsKnown;
                },
                TimeSpan.FromSeconds(30),
                "the server's clock is measured");
            Assert.Equal(page, await harness.Store.GetAsync("GET\u001ehttp\u001elocalhost/b", default));

            // The successes so far leave the breaker's sampling window: from here on it counts only what follows.
            time.Advance(MintCacheConstants.RedisSamplingDuration + TimeSpan.FromSeconds(1));

            await using (var control = await ConnectionMultiplexer.ConnectAsync(server.Endpoint))
            {
                await control.GetDatabase().ExecuteAsync("CLIENT", "PAUSE", "120000", "ALL");
            }

            var a = harness.Store.GetAsync("GET\u001ehttp\u001elocalhost/a", default).AsTask();
            var b = harness.Store.GetAsync("GET\u001ehttp\u001elocalhost/b", default).AsTask();
            Assert.False(a.IsCompleted || b.IsCompleted, "Redis answered while paused");

            time.Advance(TimeSpan.FromSeconds(1));
            var answers = await Task.WhenAll(a, b).WaitAsync(TimeSpan.FromSeconds(60));

            // Answered by local memory, which holds nothing yet: misses, and no request failed.
            Assert.All(answers, Assert.Null);
            Assert.True(harness.Backend.IsDegraded);
            Assert.Equal(2, harness.CountLogs(Log.IdRedisCallFailed));

            // Polly runs its breaker's callbacks on a thread of its own, after the call that opened it.
            await Eventually.HoldsAsync(() => harness.CountLogs(Log.IdRedisCircuitOpened) == 1, TimeSpan.FromSeconds(30), "the breaker opens");
        }
        finally
        {
            // Before the harness disconnects: a paused server would hold its goodbye.
            server.Dispose();
            await harness.DisposeAsync();
        }
    }
}
