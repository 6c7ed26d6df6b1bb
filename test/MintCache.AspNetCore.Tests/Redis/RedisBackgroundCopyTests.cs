using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.OutputCaching;
using Microsoft.Extensions.DependencyInjection;
using MintCache.AspNetCore.Tests.Fixtures;
using StackExchange.Redis;

namespace MintCache.AspNetCore.Tests.Redis;

/// <summary>
/// Background refresh from a copy of the winning request, on Redis: a cache-key prefix does not stop it, a Host sent
/// once does not come back, and nothing about a request (its cookie, its URL's values) is written to Redis.
/// </summary>
[Collection(RedisCollection.Name)]
public sealed class RedisBackgroundCopyTests(RedisServerFixture redis)
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(15);
    private static readonly TimeSpan ValidFor = TimeSpan.FromMilliseconds(300);

    [Fact]
    public async Task CacheKeyPrefix_InBaseAndEndpointPolicies_StillRegeneratesInTheBackground()
    {
        var prefix = RedisHost.UniquePrefix();
        var endpoint = new GatedEndpoint();
        await using var host = await RedisHost.StartAsync(
            redis.Endpoint, prefix, endpoint, ValidFor, TimeSpan.FromMinutes(1),
            configure: o => o.RefreshMode = new MintCacheOptions().RefreshMode,
            mapMore: web => web.MapGet("/prefixed", (Delegate)endpoint.HandleAsync)
                .CacheOutput(p => p.Expire(ValidFor).Grace(TimeSpan.FromMinutes(1)).SetCacheKeyPrefix("tenant-a")),
            configureServices: services => services.Configure<OutputCacheOptions>(o => o.AddBasePolicy(b => b.SetCacheKeyPrefix("site"))));
        Assert.Equal("page 1", await host.Client.GetStringAsync("/prefixed"));
        await redis.WaitUntilEntriesStaleAsync(prefix, Deadline);

        endpoint.Close();
        Assert.Equal("page 1", await host.Client.GetStringAsync("/prefixed"));
        await Eventually.HoldsAsync(() => endpoint.Waiting == 1, Deadline, "the copy runs the endpoint");
        Assert.Equal("page 1", await host.Client.GetStringAsync("/prefixed"));

        endpoint.Open();
        await Eventually.HoldsAsync(async () => await host.Client.GetStringAsync("/prefixed") == "page 2", Deadline, "the regenerated page is served");
        Assert.Equal(2, endpoint.Executions);
        Assert.Equal(1, host.CountLogs(Diagnostics.Log.IdBackgroundRegenerationStarted));
    }

    [Fact]
    public async Task HostSentOnce_DoesNotComeBackAtLaterRefreshes_AcrossTwoHosts()
    {
        var prefix = RedisHost.UniquePrefix();
        var endpoint = new GatedEndpoint();
        Action<WebApplication> links = web => web.MapGet("/links", (HttpContext c) => $"links to {c.Request.Host}")
            .CacheOutput(p => p.Expire(ValidFor).Grace(TimeSpan.FromMinutes(1)).SetVaryByHost(false));
        await using var a = await RedisHost.StartAsync(redis.Endpoint, prefix, endpoint, ValidFor, TimeSpan.FromMinutes(1), o => o.RefreshMode = RefreshMode.Background, mapMore: links);
        await using var b = await RedisHost.StartAsync(redis.Endpoint, prefix, endpoint, ValidFor, TimeSpan.FromMinutes(1), o => o.RefreshMode = RefreshMode.Background, mapMore: links);
        Assert.Equal("links to www.example", await SendAsync(a, "www.example"));

        // A forged Host wins one refresh on host A: its copy renders what the foreground would have.
        await redis.WaitUntilEntriesStaleAsync(prefix, Deadline);
        Assert.Equal("links to www.example", await SendAsync(a, "evil.example"));
        await Eventually.HoldsAsync(async () => await SendAsync(b, "www.example") == "links to evil.example", Deadline, "the forged refresh is stored");

        // Then only honest requests, on host B: the next refresh copies one of them; nothing replays the forged Host.
        await redis.WaitUntilEntriesStaleAsync(prefix, Deadline);
        await Eventually.HoldsAsync(async () => await SendAsync(b, "www.example") == "links to www.example", Deadline, "an honest refresh replaces it");
        Assert.Equal("links to www.example", await SendAsync(a, "www.example"));

        static Task<string> SendAsync(RedisHost host, string hostName) => host.Server.GetBodyAsync("/links", c => c.Request.Host = new HostString(hostName));
    }

    [Fact]
    public async Task WinnersCookie_IsNeverWrittenToRedis()
    {
        var prefix = RedisHost.UniquePrefix();
        var endpoint = new GatedEndpoint();
        await using var host = await RedisHost.StartAsync(redis.Endpoint, prefix, endpoint, ValidFor, TimeSpan.FromMinutes(1), o => o.RefreshMode = RefreshMode.Background);
        Assert.Equal("page 1", await GetAsync("session=first-secret"));
        await redis.WaitUntilEntriesStaleAsync(prefix, Deadline);

        Assert.Equal("page 1", await GetAsync("session=winner-secret"));
        await Eventually.HoldsAsync(async () => await GetAsync("session=later") == "page 2", Deadline, "the background refresh is stored");

        // Every key this farm wrote, whatever its type: none holds a cookie. (The cache key holds the query string, as
        // the built-in store's does: the output cache varies by it by default.)
        var server = redis.Multiplexer.GetServer(redis.Multiplexer.GetEndPoints()[0]);
        var keys = 0;
        await foreach (var key in server.KeysAsync(pattern: prefix + "*"))
        {
            keys++;
            var dump = await redis.Database.KeyTypeAsync(key) switch
            {
                RedisType.String => (string?)await redis.Database.StringGetAsync(key) ?? "",
                RedisType.SortedSet => string.Join("|", await redis.Database.SortedSetRangeByRankAsync(key)),
                _ => "",
            };
            Assert.DoesNotContain("secret", dump, StringComparison.Ordinal);
        }

        Assert.True(keys > 0, "the farm wrote nothing to look at");

        async Task<string> GetAsync(string cookie)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "/page");
            request.Headers.Add("Cookie", cookie);
            return await (await host.Client.SendAsync(request)).Content.ReadAsStringAsync();
        }
    }

    [Fact]
    public async Task HostStops_RunningCopyCancelledAndAwaited_ItsClaimReleasedForTheOtherHostAtOnce()
    {
        var prefix = RedisHost.UniquePrefix();
        var endpoint = new GatedEndpoint();

        // A lease and a backoff far longer than the test: only an immediate release lets host B take the page over.
        Action<MintCacheOptions> options = o =>
        {
            o.RefreshMode = RefreshMode.Background;
            o.LeaseDuration = TimeSpan.FromMinutes(1);
            o.FailureBackoff = TimeSpan.FromMinutes(1);
        };
        await using var a = await RedisHost.StartAsync(redis.Endpoint, prefix, endpoint, ValidFor, TimeSpan.FromMinutes(1), options);
        await using var b = await RedisHost.StartAsync(redis.Endpoint, prefix, endpoint, ValidFor, TimeSpan.FromMinutes(1), options);
        Assert.Equal("page 1", await a.Client.GetStringAsync("/page"));
        await redis.WaitUntilEntriesStaleAsync(prefix, Deadline);

        endpoint.Close();
        Assert.Equal("page 1", await a.Client.GetStringAsync("/page"));
        await Eventually.HoldsAsync(() => endpoint.Waiting == 1, Deadline, "A's copy runs the endpoint");

        // The stop returns once the copy ended and its claim was released.
        await a.StopAsync().WaitAsync(Deadline);
        Assert.Equal(0, a.Services.GetRequiredService<AspNetCore.Refresh.BackgroundRegenerator>().Running);

        endpoint.Open();
        await Eventually.HoldsAsync(async () => await b.Client.GetStringAsync("/page") == "page 3", Deadline, "B regenerates the page at once");
    }
}
