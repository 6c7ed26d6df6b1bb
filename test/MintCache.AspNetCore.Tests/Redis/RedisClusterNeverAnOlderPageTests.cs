using MintCache.AspNetCore.Tests.Concurrency;
using MintCache.AspNetCore.Tests.Fixtures;

namespace MintCache.AspNetCore.Tests.Redis;

/// <summary>The older-page scenarios on a real Redis Cluster: every script on one slot, tags and entries on different nodes.</summary>
[Collection(RedisClusterCollection.Name)]
public sealed class RedisClusterNeverAnOlderPageTests(RedisClusterFixture cluster) : NeverAnOlderPageTests
{
    private protected override async Task<HostFarm> StartFarmAsync(FarmSetup setup, string test)
        => await RedisFarm.StartAsync(cluster.Endpoint, cluster.Multiplexer, setup, RedisHost.UniquePrefix(test));
}
