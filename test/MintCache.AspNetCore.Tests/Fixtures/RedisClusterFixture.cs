using System.Globalization;
using System.Net;
using System.Net.Sockets;
using StackExchange.Redis;

namespace MintCache.AspNetCore.Tests.Fixtures;

/// <summary>
/// A real three-master Redis Cluster of local <c>redis-server</c> processes on free loopback ports, slots split evenly:
/// what proves that every script touches one slot and that the keys of a cache key share one.
/// </summary>
/// <remarks>
/// Needs redis-server (Garnet has no cluster mode to start this way): without it the fixture fails, never skips, as the
/// single-server fixture does. Started once for the collection (or the class) that uses it, torn down with it.
/// <see cref="RedisReplicatedClusterFixture"/> adds a replica to each master, and lets a test kill a node.
/// </remarks>
public class RedisClusterFixture : IAsyncLifetime, IAsyncDisposable
{
    private const int Masters = 3;
    private const int Slots = 16384;
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(30);

    private readonly int _replicasPerMaster;
    private readonly TimeSpan _nodeTimeout;
    private readonly List<Node> _nodes = [];
    private string? _directory;
    private ConnectionMultiplexer? _admin;

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
    public string Endpoint { get; private set; } = string.Empty;

    public IConnectionMultiplexer Multiplexer { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        try
        {
            await StartAsync();
        }
        catch
        {
            // Whether or not the runner disposes a fixture that failed to start, no redis-server outlives it.
            await DisposeAsync();
            throw;
        }
    }

    private async Task StartAsync()
    {
        var redisServer = Environment.GetEnvironmentVariable("PATH")?.Split(Path.PathSeparator)
            .Select(dir => Path.Combine(dir, "redis-server"))
            .FirstOrDefault(File.Exists)
            ?? throw new InvalidOperationException("The Redis Cluster tests need redis-server on the PATH (apt-get install redis-server).");
        _directory = Directory.CreateTempSubdirectory("mintcache-cluster-").FullName;
        var nodeTimeout = ((long)_nodeTimeout.TotalMilliseconds).ToString(CultureInfo.InvariantCulture);
        for (var i = 0; i < Masters * (1 + _replicasPerMaster); i++)
        {
            var port = FreePort();
            var p = port.ToString(CultureInfo.InvariantCulture);
            _nodes.Add(new Node(port, ChildProcess.Start(
                redisServer,
                ["--port", p, "--bind", "127.0.0.1", "--cluster-enabled", "yes", "--cluster-config-file", $"nodes-{p}.conf",
                    "--cluster-node-timeout", nodeTimeout, "--save", "", "--appendonly", "no", "--protected-mode", "no",

                    // A replica's first sync starts at once rather than after the default 5 s wait for more replicas,
                    // and a replica may take over however long it was cut off: a stalled test machine must not leave
                    // a failed master without a successor.
                    "--repl-diskless-sync-delay", "0", "--cluster-replica-validity-factor", "0"],
                _directory)));
        }

        foreach (var node in _nodes)
        {
            await WaitUntilListeningAsync(node.Port);
        }

        // Each master gets a third of the slots, then the first node meets the others, and each replica follows its
        // master; the cluster is up once every node says so and every replica is in sync.
        var options = new ConfigurationOptions { AllowAdmin = true, AbortOnConnectFail = false };
        foreach (var node in _nodes)
        {
            options.EndPoints.Add(IPAddress.Loopback, node.Port);
        }

        var setup = await ConnectionMultiplexer.ConnectAsync(options);
        try
        {
            foreach (var node in _nodes)
            {
                node.Id = (string)(await Server(setup, node.Port).ExecuteAsync("CLUSTER", "MYID"))!;
            }

            for (var i = 0; i < Masters; i++)
            {
                var first = Slots * i / Masters;
                var last = (Slots * (i + 1) / Masters) - 1;
                await Server(setup, _nodes[i].Port).ExecuteAsync("CLUSTER", "ADDSLOTSRANGE", first, last);
            }

            foreach (var node in _nodes.Skip(1))
            {
                await Server(setup, _nodes[0].Port).ExecuteAsync("CLUSTER", "MEET", "127.0.0.1", node.Port);
            }

            if (_replicasPerMaster > 0)
            {
                await FollowMastersAsync(setup);
            }

            await Eventually.HoldsAsync(() => IsFormedAsync(setup), StartTimeout, "the cluster is up, every replica in sync");
        }
        finally
        {
            await setup.DisposeAsync();
        }

        Endpoint = string.Join(",", _nodes.Select(n => $"127.0.0.1:{n.Port}"));
        Multiplexer = await ConnectionMultiplexer.ConnectAsync(Endpoint);
        _admin = await ConnectionMultiplexer.ConnectAsync($"{Endpoint},allowAdmin=true,abortConnect=false");
        foreach (var connection in new[] { Multiplexer, _admin })
        {
            await Eventually.HoldsAsync(
                () => connection.GetServers().Count(s => s.IsConnected && !s.IsReplica) == Masters
                    && connection.GetServers().Count(s => s.IsConnected && s.IsReplica) == Masters * _replicasPerMaster,
                StartTimeout,
                "the client sees every master and replica");
        }
    }

    public async Task DisposeAsync()
    {
        if (Multiplexer is not null)
        {
            await Multiplexer.DisposeAsync();
        }

        if (_admin is not null)
        {
            await _admin.DisposeAsync();
        }

        foreach (var node in _nodes)
        {
            node.Process.Dispose();
        }

        if (_directory is not null)
        {
            try
            {
                Directory.Delete(_directory, recursive: true);
            }
            catch (IOException)
            {
            }
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

    /// <summary>The port of the master that serves <paramref name="key"/>'s slot, as the cluster's nodes see it now.</summary>
    public async Task<int> MasterPortOfAsync(RedisKey key)
    {
        var slot = Multiplexer.HashSlot(key);
        foreach (var node in _nodes.Where(n => !n.Killed))
        {
            var nodes = (string?)await Admin(node.Port).ExecuteAsync("CLUSTER", "NODES");
            foreach (var line in (nodes ?? string.Empty).Split('\n', StringSplitOptions.RemoveEmptyEntries))
            {
                var fields = line.Split(' ');
                if (fields[2].Contains("master", StringComparison.Ordinal) && !fields[2].Contains("fail", StringComparison.Ordinal)
                    && fields.Skip(8).Any(range => InRange(range, slot)))
                {
                    return int.Parse(fields[1].Split('@')[0].Split(':')[1], CultureInfo.InvariantCulture);
                }
            }
        }

        throw new InvalidOperationException($"No master serves slot {slot}.");
    }

    /// <summary>The port of the (first) replica that follows the master started on <paramref name="masterPort"/>.</summary>
    public int ReplicaPortOf(int masterPort)
    {
        var master = _nodes.FindIndex(n => n.Port == masterPort);
        Assert.InRange(master, 0, Masters - 1);
        Assert.True(_replicasPerMaster > 0, "This cluster has no replicas.");
        return _nodes[Masters + master].Port;
    }

    /// <summary>Kills the node's process at once, as a crash would: no shutdown, no failover handed over.</summary>
    public void Kill(int port)
    {
        var node = _nodes.Single(n => n.Port == port);
        node.Killed = true;
        node.Process.Dispose();
    }

    /// <summary>Whether the node answers <c>ROLE</c> as a master.</summary>
    public async Task<bool> IsMasterAsync(int port)
    {
        var role = (RedisResult[]?)await Admin(port).ExecuteAsync("ROLE");
        return role is { Length: > 0 } && (string?)role[0] == "master";
    }

    /// <summary>Whether every node still running says the cluster serves all its slots.</summary>
    public async Task<bool> IsStateOkAsync()
    {
        foreach (var node in _nodes.Where(n => !n.Killed))
        {
            var info = (string?)await Admin(node.Port).ExecuteAsync("CLUSTER", "INFO");
            if (info is null || !info.Contains("cluster_state:ok", StringComparison.Ordinal))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Runs a command on one node, whatever its slots, for the tests' own reads (a key on a promoted replica).</summary>
    public Task<RedisResult> ExecuteOnAsync(int port, string command, params object[] args) => Admin(port).ExecuteAsync(command, args);

    /// <summary>What the node's <c>redis-server</c> printed: its view of a failover, for a failing test's message.</summary>
    public string LogOf(int port) => _nodes.Single(n => n.Port == port).Process.Output;

    private IServer Admin(int port) => Server(_admin ?? throw new InvalidOperationException("The cluster is not started."), port);

    private static IServer Server(IConnectionMultiplexer connection, int port) => connection.GetServer(new IPEndPoint(IPAddress.Loopback, port));

    private static bool InRange(string range, int slot)
    {
        // "first-last" or a single slot; "[slot->-id]" marks a slot being migrated, which this cluster never does.
        var bounds = range.Split('-');
        return int.TryParse(bounds[0], NumberStyles.None, CultureInfo.InvariantCulture, out var first)
            && int.TryParse(bounds[^1], NumberStyles.None, CultureInfo.InvariantCulture, out var last)
            && slot >= first && slot <= last;
    }

    /// <summary>
    /// Makes replica <c>Masters + i</c> follow master <c>i % Masters</c>, once every node knows every other: a replica
    /// refuses to follow a node it has not met yet, and a master votes only for the replicas it knows of.
    /// </summary>
    private async Task FollowMastersAsync(ConnectionMultiplexer setup)
    {
        await Eventually.HoldsAsync(
            async () =>
            {
                foreach (var node in _nodes)
                {
                    var nodes = (string?)await Server(setup, node.Port).ExecuteAsync("CLUSTER", "NODES") ?? string.Empty;
                    if (_nodes.Any(other => !nodes.Contains(other.Id, StringComparison.Ordinal)) || nodes.Contains("handshake", StringComparison.Ordinal))
                    {
                        return false;
                    }
                }

                return true;
            },
            StartTimeout,
            "every node knows every other");

        for (var i = Masters; i < _nodes.Count; i++)
        {
            await Server(setup, _nodes[i].Port).ExecuteAsync("CLUSTER", "REPLICATE", _nodes[i % Masters].Id);
        }
    }

    private async Task<bool> IsFormedAsync(ConnectionMultiplexer setup)
    {
        foreach (var node in _nodes)
        {
            var server = Server(setup, node.Port);
            var info = (string?)await server.ExecuteAsync("CLUSTER", "INFO");
            var nodes = (string?)await server.ExecuteAsync("CLUSTER", "NODES") ?? string.Empty;
            if (info is null || !info.Contains("cluster_state:ok", StringComparison.Ordinal)
                || nodes.Split('\n').Count(l => l.Contains("slave", StringComparison.Ordinal)) != Masters * _replicasPerMaster)
            {
                return false;
            }
        }

        foreach (var replica in _nodes.Skip(Masters))
        {
            var replication = (string?)await Server(setup, replica.Port).ExecuteAsync("INFO", "replication");
            if (replication is null || !replication.Contains("master_link_status:up", StringComparison.Ordinal))
            {
                return false;
            }
        }

        return true;
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static Task WaitUntilListeningAsync(int port)
        => Eventually.HoldsAsync(
            async () =>
            {
                using var client = new TcpClient();
                try
                {
                    await client.ConnectAsync(IPAddress.Loopback, port);
                    return true;
                }
                catch (SocketException)
                {
                    return false;
                }
            },
            StartTimeout,
            $"redis-server listens on {port}");

    private sealed class Node(int port, ChildProcess process)
    {
        public int Port { get; } = port;

        public ChildProcess Process { get; } = process;

        public string Id { get; set; } = string.Empty;

        public bool Killed { get; set; }
    }
}

[CollectionDefinition(Name)]
public sealed class RedisClusterCollection : ICollectionFixture<RedisClusterFixture>
{
    public const string Name = "Redis Cluster";
}
