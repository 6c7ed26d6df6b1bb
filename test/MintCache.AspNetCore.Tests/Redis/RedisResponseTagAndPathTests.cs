using Microsoft.AspNetCore.Http;
using MintCache.AspNetCore.Tests.Fixtures;

namespace MintCache.AspNetCore.Tests.Redis;

/// <summary>
/// Response tags and path evictions on two hosts sharing Redis: a purge on one reaches the pages the other stored.
/// Near caches are off, so each answer is Redis's own (NearCacheTests covers how fast near copies follow a purge).
/// </summary>
public sealed class RedisResponseTagAndPathTests(RedisServerFixture redis) : IClassFixture<RedisServerFixture>
{
    [Theory]
    [InlineData(RefreshMode.Foreground)]
    [InlineData(RefreshMode.Background)]
    public async Task SurrogateKey_EvictedOnOneHost_GoneOnBoth(RefreshMode mode)
    {
        var prefix = RedisHost.UniquePrefix();
        var products = new ProductPages();
        await using var a = await StartAsync(prefix, products, mode);
        await using var b = await StartAsync(prefix, products, mode);
        Assert.Equal("7 1", await a.Client.GetStringAsync("/products/7"));
        Assert.Equal("8 2", await a.Client.GetStringAsync("/products/8"));
        Assert.Equal("7 1", await b.Client.GetStringAsync("/products/7"));

        await b.Store.EvictByTagAsync("product-7", default);

        // A render that begins in the eviction's own millisecond is refused its store (evictions win ties), and B would
        // then render the page again: the next render begins on a later millisecond of the server's clock.
        var evictedBy = await redis.ServerNowAsync();
        await redis.WaitUntilServerTimeAsync(evictedBy + 1, TimeSpan.FromSeconds(5), "the server's clock moves on");
        Assert.Equal("7 3", await a.Client.GetStringAsync("/products/7"));
        Assert.Equal("7 3", await b.Client.GetStringAsync("/products/7"));
        Assert.Equal("8 2", await b.Client.GetStringAsync("/products/8"));

        await a.Store.MarkStaleByTagAsync("list", default);

        // Stale on both hosts: served stale until the regeneration (by the request that won the claim or the one it
        // handed its miss to, or by a copy of it in the background) stores its page, with the response's tags again.
        await Eventually.HoldsAsync(
            async () =>
            {
                var body = await b.Client.GetStringAsync("/products/8");
                Assert.Contains(body, new[] { "8 2", "8 4" });
                return body == "8 4";
            },
            TimeSpan.FromSeconds(20),
            "the page marked stale is rendered again");
        Assert.Equal("8 4", await a.Client.GetStringAsync("/products/8"));
        Assert.Equal(4, products.Executions);

        await b.Store.EvictByTagAsync("product-8", default);

        Assert.Equal("8 5", await a.Client.GetStringAsync("/products/8"));
    }

    [Fact]
    public async Task EvictByPath_OnOneHost_EveryVariantGoneOnBoth_NotALongerPath()
    {
        var prefix = RedisHost.UniquePrefix();
        var products = new ProductPages();
        await using var a = await StartAsync(prefix, products);
        await using var b = await StartAsync(prefix, products);
        var variants = new (RedisHost Host, Action<HttpContext> Request)[]
        {
            (a, _ => { }),
            (a, c => c.Request.QueryString = new QueryString("?x=1")),
            (b, c =>
            {
                // A key of its own (the query), under the path in another case.
                c.Request.Path = "/PRODUCTS/42";
                c.Request.QueryString = new QueryString("?y=2");
            }),
            (b, c => c.Request.Host = new HostString("other.example")),
        };
        var bodies = new List<string>();
        foreach (var (host, request) in variants)
        {
            bodies.Add(await host.Server.GetBodyAsync("/products/42", request));
        }

        var longer = await a.Server.GetBodyAsync("/products/420", _ => { });
        Assert.Equal(5, products.Executions);

        await b.Store.EvictByPathAsync("/products/42");

        for (var i = 0; i < variants.Length; i++)
        {
            // Asked of the other host than the one that stored it: the purge went through Redis.
            var other = variants[i].Host == a ? b : a;
            Assert.NotEqual(bodies[i], await other.Server.GetBodyAsync("/products/42", variants[i].Request));
        }

        Assert.Equal(9, products.Executions);
        Assert.Equal(longer, await b.Server.GetBodyAsync("/products/420", _ => { }));
    }

    private Task<RedisHost> StartAsync(string prefix, ProductPages products, RefreshMode mode = RefreshMode.Foreground)
        => RedisHost.StartAsync(
            redis.Endpoint,
            prefix,
            new GatedEndpoint(),
            TimeSpan.FromMinutes(1),
            TimeSpan.FromMinutes(1),
            o =>
            {
                o.Redis.NearCache = false;
                o.TrackPaths = true;
                o.RefreshMode = mode;
            },
            mapMore: app => products.Map(app));
}
