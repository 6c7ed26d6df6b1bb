using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using MintCache.AspNetCore.Tests.Fixtures;
using StackExchange.Redis;

namespace MintCache.AspNetCore.Tests.Redis;

/// <summary>
/// The middleware shares one lookup of a key among the requests that arrive while it runs, under the first request's
/// <c>RequestAborted</c>: that client going away must not answer everyone else "miss" (invariant 4: the cache never
/// fails a request, and a miss here would render and store outside any claim).
/// </summary>
public sealed class RedisSharedLookupTests
{
    [Fact]
    public async Task LeaderClientAborts_RequestsSharingItsLookup_ServedTheCachedPage()
    {
        var server = await RedisServerFixture.StartDedicatedAsync();
        var endpoint = new GatedEndpoint();
        var arrivals = new Arrivals();
        var host = await RedisHost.StartAsync(
            server.Endpoint,
            RedisHost.UniquePrefix(),
            endpoint,
            TimeSpan.FromMinutes(5),
            TimeSpan.FromMinutes(1),
            static o =>
            {
                // Every lookup goes to Redis, and only Redis's own answer (or this bound) ends it.
                o.NearCache = false;
                o.RedisOperationTimeout = TimeSpan.FromSeconds(30);
            },
            configureServices: s => s.AddSingleton<IStartupFilter>(arrivals));
        try
        {
            Assert.Equal("page 1", await host.Client.GetStringAsync("/page"));
            Assert.Equal("page 1", await host.Client.GetStringAsync("/page"));
            var lookups = host.Backend.RedisLookups;

            // Redis holds every command for a while: the leader's lookup stays in flight, and the others join it.
            await using (var control = await ConnectionMultiplexer.ConnectAsync(server.Endpoint))
            {
                await control.GetDatabase().ExecuteAsync("CLIENT", "PAUSE", "5000", "ALL");
            }

            using var leaderGone = new CancellationTokenSource();
            var arrived = arrivals.Count;
            var leader = host.Client.GetAsync("/page", leaderGone.Token);
            await Eventually.HoldsAsync(() => host.Backend.RedisLookups > lookups, TimeSpan.FromSeconds(10), "the leader's lookup is sent");
            var followers = Enumerable.Range(0, 4).Select(_ => host.Client.GetStringAsync("/page")).ToArray();
            await Eventually.HoldsAsync(() => arrivals.Count == arrived + 5, TimeSpan.FromSeconds(10), "the others arrive");

            await leaderGone.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => leader);

            var bodies = await Task.WhenAll(followers).WaitAsync(TimeSpan.FromSeconds(60));
            Assert.All(bodies, b => Assert.Equal("page 1", b));
            Assert.Equal(1, endpoint.Executions);
        }
        finally
        {
            server.Dispose();
            await host.DisposeAsync();
        }
    }

    /// <summary>Counts the requests that reached the app, first thing in its pipeline.</summary>
    private sealed class Arrivals : IStartupFilter
    {
        private int _count;

        public int Count => Volatile.Read(ref _count);

        public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
        {
            app.Use(async (context, then) =>
            {
                Interlocked.Increment(ref _count);
                await then(context);
            });
            next(app);
        };
    }
}
