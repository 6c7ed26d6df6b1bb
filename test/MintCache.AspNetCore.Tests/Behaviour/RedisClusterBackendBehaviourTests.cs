using Microsoft.Extensions.Logging;
using MintCache.AspNetCore.Backends;
using MintCache.AspNetCore.Store;
using MintCache.AspNetCore.Tests.Fixtures;
using StackExchange.Redis;

namespace MintCache.AspNetCore.Tests.Behaviour;

/// <summary>
/// The shared promises on a real three-master Redis Cluster: an entry, its claim and its tags' sets live on different
/// slots and nodes, and every node decides on its own clock.
/// </summary>
public sealed class RedisClusterBackendBehaviourTests(RedisClusterFixture cluster) : BackendBehaviourTests, IClassFixture<RedisClusterFixture>
{
    private RedisStoreHarness? _harness;

    private protected override Task<IMintBackend> CreateBackendAsync()
    {
        _harness = new RedisStoreHarness(cluster.Endpoint, RedisStoreHarness.UniquePrefix(nameof(RedisClusterBackendBehaviourTests)));
        return Task.FromResult<IMintBackend>(_harness.Backend);
    }

    private protected override MintOutputCacheStore Store => _harness!.Store;

    private protected override string Logged => _harness!.LogDigest(LogLevel.Debug);

    protected override async Task PassAsync(TimeSpan duration)
    {
        // Every master's clock must pass the duration: each stamps and decides the entries of its own slots.
        var servers = cluster.Multiplexer.GetServers().Where(static s => s.IsConnected && !s.IsReplica).ToArray();
        var until = await LatestNowAsync(servers) + (long)duration.TotalMilliseconds + 1;
        await Eventually.HoldsAsync(async () => await EarliestNowAsync(servers) >= until, duration + TimeSpan.FromSeconds(10), $"{duration} pass on every master's clock");
    }

    public override async Task DisposeAsync()
    {
        if (_harness is not null)
        {
            await _harness.DisposeAsync();
        }
    }

    private static async Task<long> LatestNowAsync(IServer[] servers) => (await Task.WhenAll(servers.Select(NowAsync))).Max();

    private static async Task<long> EarliestNowAsync(IServer[] servers) => (await Task.WhenAll(servers.Select(NowAsync))).Min();

    private static async Task<long> NowAsync(IServer server) => (await server.TimeAsync()).Ticks / TimeSpan.TicksPerMillisecond - (DateTime.UnixEpoch.Ticks / TimeSpan.TicksPerMillisecond);
}
