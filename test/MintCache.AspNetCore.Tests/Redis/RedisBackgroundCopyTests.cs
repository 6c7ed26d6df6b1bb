using MintCache.AspNetCore.Tests.Fixtures;
using MintCache.AspNetCore.Tests.Refresh;
using StackExchange.Redis;

namespace MintCache.AspNetCore.Tests.Redis;

/// <summary>Background refresh with hosts sharing one Redis; and nothing about a request (its cookie) is written to Redis.</summary>
[Collection(RedisCollection.Name)]
public sealed class RedisBackgroundCopyTests(RedisServerFixture redis) : BackgroundCopyTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(15);
    private static readonly TimeSpan ValidFor = TimeSpan.FromMilliseconds(300);

    // Here only: it reads every key the farm wrote to Redis.
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

    private protected override async Task<HostFarm> StartFarmAsync(FarmSetup setup, string test)
        => await RedisFarm.StartAsync(redis.Endpoint, redis.Multiplexer, setup, RedisHost.UniquePrefix(test));
}
