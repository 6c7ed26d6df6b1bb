using MintCache.AspNetCore.Tests.Concurrency;
using MintCache.AspNetCore.Tests.Fixtures;

namespace MintCache.AspNetCore.Tests.Redis;

/// <summary>The older-page scenarios with hosts sharing one Redis server: the server's clock decides, on real time.</summary>
public sealed class RedisServerNeverAnOlderPageTests(RedisServerFixture redis) : NeverAnOlderPageTests, IClassFixture<RedisServerFixture>
{
    private protected override async Task<HostFarm> StartFarmAsync(FarmSetup setup, string test)
        => await RedisFarm.StartAsync(redis.Endpoint, redis.Multiplexer, setup, RedisHost.UniquePrefix(test));
}
