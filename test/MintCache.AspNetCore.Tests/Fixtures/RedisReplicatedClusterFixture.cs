namespace MintCache.AspNetCore.Tests.Fixtures;

/// <summary>
/// A Redis Cluster of three masters, each with one replica, whose nodes take a silent node for failed after 2 s: a
/// killed master's replica is promoted within a few seconds, which is what a failover test waits for.
/// </summary>
/// <remarks>
/// Never shared: a test that kills a node starts a cluster of its own with <see cref="StartAsync"/> (a class fixture
/// would leave the next test of the class a cluster with a master gone). 2 s rather than less, so that a test machine
/// stalled for a second does not fail a healthy master over on its own.
/// </remarks>
public sealed class RedisReplicatedClusterFixture() : RedisClusterFixture(replicasPerMaster: 1, nodeTimeout: TimeSpan.FromSeconds(2))
{
    /// <summary>Starts a cluster of its own for one test, which disposes it.</summary>
    public static async Task<RedisReplicatedClusterFixture> StartAsync()
    {
        // InitializeAsync stops every node it started when it fails.
        var cluster = new RedisReplicatedClusterFixture();
        await cluster.InitializeAsync();
        return cluster;
    }
}
