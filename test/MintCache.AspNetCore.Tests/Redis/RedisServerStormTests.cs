using MintCache.AspNetCore.Tests.Concurrency;
using MintCache.AspNetCore.Tests.Fixtures;
using Xunit.Abstractions;

namespace MintCache.AspNetCore.Tests.Redis;

/// <summary>The storm with two hosts on one Redis server of its own.</summary>
[Collection(SerialCollection.Name)]
public sealed class RedisServerStormTests(RedisServerFixture redis, ITestOutputHelper output) : StaleStormTests(output), IClassFixture<RedisServerFixture>
{
    // The README measures 1.1 clients held per expiry with two hosts on one Redis: the request given the handed-off
    // "miss", now and then with one that shared its lookup.
    protected override int? MaxHeld => 2;

    private protected override async Task<HostFarm> StartFarmAsync(FarmSetup setup, string test)
        => await RedisFarm.StartAsync(redis.Endpoint, redis.Multiplexer, setup, RedisHost.UniquePrefix(test));
}
