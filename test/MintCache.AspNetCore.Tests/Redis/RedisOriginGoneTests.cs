using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.OutputCaching;
using Microsoft.Extensions.DependencyInjection;
using MintCache.AspNetCore.Refresh;
using MintCache.AspNetCore.Tests.Fixtures;
using MintCache.AspNetCore.Tests.Refresh;

namespace MintCache.AspNetCore.Tests.Redis;

/// <summary>
/// The origin's word stands farm-wide (design invariant 10): a regeneration on one host answered "gone" or "not
/// cacheable" ends the stale page for every host sharing the Redis.
/// </summary>
public sealed class RedisOriginGoneTests(RedisServerFixture redis) : IClassFixture<RedisServerFixture>
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(15);
    private static readonly TimeSpan ValidFor = TimeSpan.FromMilliseconds(300);

    [Theory]
    [InlineData(RefreshMode.Background, "404")]
    [InlineData(RefreshMode.Background, "410")]
    [InlineData(RefreshMode.Background, "no-store")]
    [InlineData(RefreshMode.Foreground, "404")]
    public async Task RegenerationOnOneHostSaysGone_TheOtherHostGetsTheOriginsAnswer(RefreshMode mode, string answer)
    {
        var prefix = RedisHost.UniquePrefix();
        var origin = new OriginGoneTests.ChangingOrigin();
        Action<WebApplication> article = web => web.MapGet("/article", origin.Answer).CacheOutput(p => p.Expire(ValidFor).Grace(TimeSpan.FromMinutes(1)));
        await using var a = await RedisHost.StartAsync(redis.Endpoint, prefix, new GatedEndpoint(), ValidFor, TimeSpan.FromMinutes(1), o => o.RefreshMode = mode, mapMore: article);
        await using var b = await RedisHost.StartAsync(redis.Endpoint, prefix, new GatedEndpoint(), ValidFor, TimeSpan.FromMinutes(1), o => o.RefreshMode = mode, mapMore: article);
        Assert.Equal("v1", await a.Client.GetStringAsync("/article"));
        Assert.Equal("v1", await b.Client.GetStringAsync("/article"));
        await redis.WaitUntilEntriesStaleAsync(prefix, Deadline);

        origin.Now = answer;
        var regenerator = b.Services.GetRequiredService<BackgroundRegenerator>();
        await Eventually.HoldsAsync(
            async () =>
            {
                // B's lookups win the claim (or are handed its miss) within a few requests.
                using var response = await b.Client.GetAsync("/article");
                return origin.Executions >= 2;
            },
            Deadline,
            "host B regenerates the page");
        await Eventually.HoldsAsync(() => regenerator.Running == 0 && b.Store.LocalClaimCount == 0, Deadline, "B's regeneration ended");

        using var next = await a.Client.GetAsync("/article");
        Assert.NotEqual("v1", await next.Content.ReadAsStringAsync());
        Assert.Equal(OriginGoneTests.ChangingOrigin.StatusOf(answer), next.StatusCode);
    }
}
