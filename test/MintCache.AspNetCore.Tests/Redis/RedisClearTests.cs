using MintCache.AspNetCore.Diagnostics;
using MintCache.AspNetCore.Tests.Fixtures;

namespace MintCache.AspNetCore.Tests.Redis;

/// <summary>Clears, hard and soft, on two hosts sharing Redis: a clear on one reaches the pages the other stored.</summary>
[Collection(RedisCollection.Name)]
public sealed class RedisClearTests(RedisServerFixture redis)
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task MarkAllStale_DuringAStormOnTwoHosts_EachPageRefreshedOnce_NobodyWaits()
    {
        var prefix = RedisHost.UniquePrefix();
        var pages = new GatedPages();
        await using var a = await StartAsync(prefix, pages, nearCache: true);
        await using var b = await StartAsync(prefix, pages, nearCache: true);

        await ClearStorm.SoftClearAsync([a.Client, b.Client], b.Store, pages);
    }

    [Fact]
    public async Task Clear_OnOneHost_NoPageStoredBeforeIsServedOnEither()
    {
        // Near caches off: each answer is Redis's own (a near copy follows a clear as it follows a tag eviction).
        var prefix = RedisHost.UniquePrefix();
        var pages = new GatedPages();
        await using var a = await StartAsync(prefix, pages, nearCache: false);
        await using var b = await StartAsync(prefix, pages, nearCache: false);

        await ClearStorm.HardClearAsync([a.Client, b.Client], a.Store, pages);
    }

    [Fact]
    public async Task Clear_NearCopiesOnTheOtherHost_GoWithIt()
    {
        var prefix = RedisHost.UniquePrefix();
        var pages = new GatedPages();
        await using var a = await StartAsync(prefix, pages, nearCache: true);
        await using var b = await StartAsync(prefix, pages, nearCache: true);
        Assert.Equal("1 1", await a.Client.GetStringAsync("/pages/1"));
        Assert.Equal("1 1", await b.Client.GetStringAsync("/pages/1"));
        Assert.Equal("1 1", await b.Client.GetStringAsync("/pages/1"));

        await a.Store.ClearAsync();

        await Eventually.HoldsAsync(async () => await b.Client.GetStringAsync("/pages/1") == "1 2", Deadline, "host B drops its near copy");
        Assert.Equal("1 2", await a.Client.GetStringAsync("/pages/1"));
        Assert.Equal(2, pages.ExecutionsOf(1));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Clear_WhileAColdRenderRunsOnTheOtherHost_ItsPageIsRefused(bool soft)
    {
        var prefix = RedisHost.UniquePrefix();
        var endpoint = new GatedEndpoint();
        await using var a = await RedisHost.StartAsync(redis.Endpoint, prefix, endpoint, TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(1), o => o.Redis.NearCache = false);
        await using var b = await RedisHost.StartAsync(redis.Endpoint, prefix, endpoint, TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(1), o => o.Redis.NearCache = false);
        endpoint.Close();
        var render = a.Client.GetStringAsync("/page");
        await Eventually.HoldsAsync(() => endpoint.Waiting == 1, Deadline, "host A renders the page");

        // Evictions win: the page rendered from data read before the clear must not be stored.
        await (soft ? b.Store.MarkAllStaleAsync() : b.Store.ClearAsync());
        endpoint.Open();

        Assert.Equal("page 1", await render.WaitAsync(Deadline));
        await Eventually.HoldsAsync(() => a.CountLogs(Log.IdFencedWriteRefused) == 1, Deadline, "host A's store is refused");
        Assert.Equal("page 2", await b.Client.GetStringAsync("/page"));
        Assert.Equal("page 2", await a.Client.GetStringAsync("/page"));
    }

    private Task<RedisHost> StartAsync(string prefix, GatedPages pages, bool nearCache)
        => RedisHost.StartAsync(
            redis.Endpoint,
            prefix,
            new GatedEndpoint(),
            TimeSpan.FromMinutes(1),
            TimeSpan.FromMinutes(1),
            o =>
            {
                o.Redis.NearCache = nearCache;
                o.RefreshMode = RefreshMode.Background;
                o.MaxConcurrentRegenerations = 2 * ClearStorm.Pages;
            },
            mapMore: pages.Map);
}
