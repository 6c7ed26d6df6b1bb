using MintCache.AspNetCore.Tests.Concurrency;
using MintCache.AspNetCore.Tests.Fixtures;
using Xunit.Abstractions;

namespace MintCache.AspNetCore.Tests.Redis;

/// <summary>
/// The storm on a three-master Redis Cluster of its own: the entry and its claim on one master, the tag's set and the
/// channel the hosts hear of changes on wherever their slots fall.
/// </summary>
[Collection(SerialCollection.Name)]
public sealed class RedisClusterStormTests(RedisClusterFixture cluster, ITestOutputHelper output) : StaleStormTests(output), IClassFixture<RedisClusterFixture>
{
    protected override int? MaxHeld => 2;

    private protected override async Task<HostFarm> StartFarmAsync(FarmSetup setup, string test)
        => await RedisFarm.StartAsync(cluster.Endpoint, cluster.Multiplexer, setup, RedisHost.UniquePrefix(test));
}
