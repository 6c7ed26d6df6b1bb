using MintCache.AspNetCore.Tests.Fixtures;

namespace MintCache.AspNetCore.Tests.Redis;

/// <summary>Eager refresh on Redis: one early refresh farm-wide, decided on the server's clock, past the near cache.</summary>
[Collection(RedisCollection.Name)]
public sealed class RedisEagerRefreshTests(RedisServerFixture redis)
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(15);

    [Fact]
    public async Task TwoHosts_OneEarlyRefresh_WhileThePageIsFresh_NobodyServedStale()
    {
        // Fresh 3 s, refreshed from 0.9 s: the refresh starts while the page is fresh, and is held at the gate.
        var prefix = RedisHost.UniquePrefix();
        var endpoint = new GatedEndpoint();
        Action<MintCacheOptions> eager = static o =>
        {
            o.RefreshMode = RefreshMode.Background;
            o.EagerRefreshThreshold = 0.3;
        };
        var validFor = TimeSpan.FromSeconds(3);
        await using var a = await RedisHost.StartAsync(redis.Endpoint, prefix, endpoint, validFor, TimeSpan.FromMinutes(1), eager);
        await using var b = await RedisHost.StartAsync(redis.Endpoint, prefix, endpoint, validFor, TimeSpan.FromMinutes(1), eager);
        Assert.Equal("page 1", await a.Client.GetStringAsync("/page"));

        // Counted from here: the first render was a cold miss's claim, a foreground regeneration.
        using var metricsA = new MintMetrics(a.Services);
        using var metricsB = new MintMetrics(b.Services);

        // Both hosts ask until one of them starts the refresh; every answer is the first page.
        endpoint.Close();
        await Eventually.HoldsAsync(
            async () =>
            {
                Assert.Equal("page 1", await a.Client.GetStringAsync("/page"));
                Assert.Equal("page 1", await b.Client.GetStringAsync("/page"));
                return endpoint.Waiting == 1;
            },
            Deadline,
            "one host starts the early refresh");

        Assert.Equal(1, metricsA.Started("eager") + metricsB.Started("eager"));
        Assert.Equal(0, metricsA.Started("background") + metricsB.Started("background") + metricsA.Started("foreground") + metricsB.Started("foreground"));
        Assert.Equal(0, metricsA.Lookup("hit", "stale") + metricsB.Lookup("hit", "stale"));

        endpoint.Open();
        await Eventually.HoldsAsync(async () => await b.Client.GetStringAsync("/page") == "page 2", Deadline, "host B serves the refreshed page");
        Assert.Equal("page 2", await a.Client.GetStringAsync("/page"));
        Assert.Equal(2, endpoint.Executions);
    }
}
