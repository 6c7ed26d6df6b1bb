using MintCache.Testing;
using StackExchange.Redis;

namespace MintCache.AspNetCore.Tests.Fixtures;

/// <summary>
/// A real three-master Redis Cluster of local <c>redis-server</c> processes on free loopback ports, slots split evenly:
/// what proves that every script touches one slot and that the keys of a cache key share one.
/// </summary>
/// <remarks>
/// Needs redis-server (Garnet has no cluster mode to start this way): without it the fixture fails, never skips, as the
/// single-server fixture does. Started once for the class that uses it (<c>IClassFixture</c>), torn down with it.
/// <see cref="RedisReplicatedClusterFixture"/> adds a replica to each master, and lets a test kill a node. The nodes
/// are started by <see cref="LocalRedisCluster"/>, which the load test's failover scenario starts too.
/// </remarks>
public class RedisClusterFixture : IAsyncLifetime, IAsyncDisposable
{
    private readonly int _replicasPerMaster;
    private readonly TimeSpan _nodeTimeout;
    private LocalRedisCluster? _cluster;

    public RedisClusterFixture()
        : this(replicasPerMaster: 0, nodeTimeout: TimeSpan.FromSeconds(5))
    {
    }

    /// <param name="replicasPerMaster">How many replicas follow each master.</param>
    /// <param name="nodeTimeout">
    /// How long a node may not answer before the others take it for failed: also how soon a replica takes over.
    /// </param>
    protected RedisClusterFixture(int replicasPerMaster, TimeSpan nodeTimeout)
    {
        _replicasPerMaster = replicasPerMaster;
        _nodeTimeout = nodeTimeout;
    }

    /// <summary>The StackExchange.Redis configuration string naming every node.</summary>
    public string Endpoint => Cluster.Endpoint;

    public IConnectionMultiplexer Multiplexer { get; private set; } = null!;

    private LocalRedisCluster Cluster => _cluster ?? throw new InvalidOperationException("The cluster is not started.");

    public async Task InitializeAsync()
    {
        var redisServer = LocalRedisServer.FindExecutable()
            ?? throw new InvalidOperationException("The Redis Cluster tests need redis-server on the PATH (apt-get install redis-server).");
        _cluster = await LocalRedisCluster.StartAsync(redisServer, _replicasPerMaster, _nodeTimeout);
        try
        {
            Multiplexer = await ConnectionMultiplexer.ConnectAsync(Endpoint);
            await Eventually.HoldsAsync(
                () => Multiplexer.GetServers().Count(s => s.IsConnected && !s.IsReplica) == LocalRedisCluster.Masters
                    && Multiplexer.GetServers().Count(s => s.IsConnected && s.IsReplica) == Cluster.Replicas,
                TimeSpan.FromSeconds(30),
                "the client sees every master and replica");
        }
        catch
        {
            // Whether or not the runner disposes a fixture that failed to start, no redis-server outlives it.
            await DisposeAsync();
            throw;
        }
    }

    public async Task DisposeAsync()
    {
        if (Multiplexer is not null)
        {
            await Multiplexer.DisposeAsync();
        }

        if (_cluster is not null)
        {
            await _cluster.DisposeAsync();
        }
    }

    ValueTask IAsyncDisposable.DisposeAsync() => new(DisposeAsync());

    /// <summary>
    /// Waits, with a deadline, until every entry under <paramref name="prefix"/> is stale on the clock of the master
    /// that holds it: each master stamps and decides the entries of its own slots.
    /// </summary>
    public Task WaitUntilEntriesStaleAsync(string prefix, TimeSpan timeout)
        => Eventually.HoldsAsync(
            async () =>
            {
                var any = false;
                foreach (var server in Multiplexer.GetServers().Where(static s => s.IsConnected && !s.IsReplica))
                {
                    var now = new DateTimeOffset(await server.TimeAsync(), TimeSpan.Zero).ToUnixTimeMilliseconds();
                    await foreach (var key in server.KeysAsync(pattern: prefix + "{*}:e"))
                    {
                        any = true;
                        var raw = (byte[])(await Multiplexer.GetDatabase().StringGetAsync(key))!;
                        Backends.Redis.RedisEntryFormat.TryReadHeader(raw, out var staleAt, out _, out _);
                        if (staleAt > now)
                        {
                            return false;
                        }
                    }
                }

                return any;
            },
            timeout,
            "the entries go stale on their masters' clocks");

    /// <summary>The keys matching <paramref name="pattern"/> on every master still running.</summary>
    public IAsyncEnumerable<RedisKey> KeysAsync(string pattern) => Cluster.KeysAsync(pattern);

    /// <summary>The port of the master that serves <paramref name="key"/>'s slot, as the cluster's nodes see it now.</summary>
    public Task<int> MasterPortOfAsync(RedisKey key) => Cluster.MasterPortOfAsync(key);

    /// <summary>The port of the (first) replica that follows the master started on <paramref name="masterPort"/>.</summary>
    public int ReplicaPortOf(int masterPort) => Cluster.ReplicaPortOf(masterPort);

    /// <summary>Kills the node's process at once, as a crash would: no shutdown, no failover handed over.</summary>
    public void Kill(int port) => Cluster.Kill(port);

    /// <summary>Whether the node answers <c>ROLE</c> as a master.</summary>
    public Task<bool> IsMasterAsync(int port) => Cluster.IsMasterAsync(port);

    /// <summary>Whether every node still running says the cluster serves all its slots.</summary>
    public Task<bool> IsStateOkAsync() => Cluster.IsStateOkAsync();

    /// <summary>Runs a command on one node, whatever its slots: a test's own reads (a key on a promoted replica).</summary>
    public Task<RedisResult> ExecuteOnAsync(int port, string command, params object[] args) => Cluster.ExecuteOnAsync(port, command, args);

    /// <summary>What the node's <c>redis-server</c> printed: its view of a failover, for a failing test's message.</summary>
    public string LogOf(int port) => Cluster.LogOf(port);
}
