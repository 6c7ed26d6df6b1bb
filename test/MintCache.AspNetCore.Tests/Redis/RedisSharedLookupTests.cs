using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using MintCache.AspNetCore.Tests.Fixtures;

namespace MintCache.AspNetCore.Tests.Redis;

/// <summary>
/// The middleware shares one lookup of a key among the requests that arrive while it runs, under the first request's
/// <c>RequestAborted</c>: that client going away must not answer everyone else "miss" (invariant 4: the cache never
/// fails a request, and a miss here would render and store outside any claim).
/// </summary>
[Collection(RedisCollection.Name)]
public sealed class RedisSharedLookupTests(RedisServerFixture redis)
{
    [Fact]
    public async Task LeaderClientAborts_RequestsSharingItsLookup_ServedTheCachedPage()
    {
        var endpoint = new GatedEndpoint();
        var arrivals = new Arrivals();
        await using var gate = new RedisReplyGate(redis.Endpoint);

        // StackExchange.Redis's own timeout far away: only the gate, or MintCache's bound, ends the held lookup.
        await using var host = await RedisHost.StartAsync(
            gate.Endpoint + ",asyncTimeout=120000,syncTimeout=120000",
            RedisHost.UniquePrefix(),
            endpoint,
            TimeSpan.FromMinutes(5),
            TimeSpan.FromMinutes(1),
            static o =>
            {
                // Every lookup goes to Redis, and only Redis's own answer (or this bound) ends it.
                o.Redis.NearCache = false;
                o.Redis.OperationTimeout = TimeSpan.FromSeconds(60);
            },
            configureServices: s => s.AddSingleton<IStartupFilter>(arrivals));
        Assert.Equal("page 1", await host.Client.GetStringAsync("/page"));
        Assert.Equal("page 1", await host.Client.GetStringAsync("/page"));
        var lookups = host.Backend.RedisLookups;

        // Redis's replies are held: the leader's lookup stays in flight, and the others join it.
        gate.Hold();
        try
        {
            using var leaderGone = new CancellationTokenSource();
            var arrived = arrivals.Count;
            var leader = host.Client.GetAsync("/page", leaderGone.Token);
            await Eventually.HoldsAsync(() => host.Backend.RedisLookups > lookups, TimeSpan.FromSeconds(30), "the leader's lookup is sent");
            var followers = Enumerable.Range(0, 4).Select(_ => host.Client.GetStringAsync("/page")).ToArray();
            await Eventually.HoldsAsync(() => arrivals.Count == arrived + 5, TimeSpan.FromSeconds(30), "the others arrive");

            // The app sees the leader's client go away; the lookup it shares is still held.
            await leaderGone.CancelAsync();
            await Eventually.HoldsAsync(() => arrivals.Aborted == 1, TimeSpan.FromSeconds(30), "the leader's request is aborted");
            Assert.DoesNotContain(followers, f => f.IsCompleted);

            gate.Release();
            var bodies = await Task.WhenAll(followers).WaitAsync(TimeSpan.FromSeconds(60));
            Assert.All(bodies, b => Assert.Equal("page 1", b));
            Assert.Equal(1, endpoint.Executions);
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => leader.WaitAsync(TimeSpan.FromSeconds(60)));
        }
        finally
        {
            gate.Release();
        }
    }

    /// <summary>Counts the requests that reached the app, first thing in its pipeline, and those whose client went away.</summary>
    private sealed class Arrivals : IStartupFilter
    {
        private int _count;
        private int _aborted;

        public int Count => Volatile.Read(ref _count);

        public int Aborted => Volatile.Read(ref _aborted);

        public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
        {
            app.Use(async (context, then) =>
            {
                Interlocked.Increment(ref _count);
                // Not disposed with the request: a request that ends inside the abort's own callbacks still counts.
                context.RequestAborted.Register(() => Interlocked.Increment(ref _aborted));
                await then(context);
            });
            next(app);
        };
    }
}
