using MintCache.AspNetCore.Tests.Concurrency;
using MintCache.AspNetCore.Tests.Fixtures;

namespace MintCache.AspNetCore.Tests.Redis;

/// <summary>The older-page scenarios with hosts sharing one Redis server: the server's clock decides, on real time.</summary>
[Collection(RedisCollection.Name)]
public sealed class RedisServerNeverAnOlderPageTests(RedisServerFixture redis) : NeverAnOlderPageTests
{
    private protected override async Task<HostFarm> StartFarmAsync(FarmSetup setup, string test)
        => await RedisFarm.StartAsync(redis.Endpoint, redis.Multiplexer, setup, RedisHost.UniquePrefix(test));
}
