using MintCache.AspNetCore.Tests.Fixtures;
using MintCache.AspNetCore.Tests.Refresh;

namespace MintCache.AspNetCore.Tests.Redis;

/// <summary>Eager refresh with hosts sharing one Redis: decided on the server's clock, past the near cache.</summary>
public sealed class RedisEagerRefreshTests(RedisServerFixture redis) : EagerRefreshTests, IClassFixture<RedisServerFixture>
{
    private protected override async Task<HostFarm> StartFarmAsync(FarmSetup setup, string test)
        => await RedisFarm.StartAsync(redis.Endpoint, redis.Multiplexer, setup, RedisHost.UniquePrefix(test));
}
