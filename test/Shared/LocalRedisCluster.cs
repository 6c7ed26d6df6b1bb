using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Runtime.CompilerServices;
using StackExchange.Redis;

namespace MintCache.Testing;

/// <summary>
/// A Redis Cluster of local <c>redis-server</c> processes on free loopback ports, nothing persisted, every node killed
/// on dispose: three masters with the slots split evenly, each followed by the given number of replicas. The one
/// cluster launcher that the tests' cluster fixtures and the load test's failover scenario compile in.
/// </summary>
/// <remarks>
/// A node can be killed as a crash would kill it, and the cluster asked who serves a key's slot now: what a failover
/// test needs. The node timeout is how long a node may stay silent before the others take it for failed, and so how
/// soon a killed master's replica takes over.
/// </remarks>
internal sealed class LocalRedisCluster : IAsyncDisposable
{
    public const int Masters = 3;
    private const int Slots = 16384;
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(30);

    private readonly List<Node> _nodes = [];
    private readonly int _replicasPerMaster;
    private readonly string _directory;
    private ConnectionMultiplexer? _admin;

    private LocalRedisCluster(int replicasPerMaster, string directory)
    {
        _replicasPerMaster = replicasPerMaster;
        _directory = directory;
    }

    /// <summary>The StackExchange.Redis configuration string naming every node.</summary>
    public string Endpoint => string.Join(",", _nodes.Select(static n => "127.0.0.1:" + n.Port.ToString(CultureInfo.InvariantCulture)));

    /// <summary>How many replicas the cluster started with.</summary>
    public int Replicas => Masters * _replicasPerMaster;

    /// <summary>Starts the nodes, forms the cluster, and returns once every node serves and every replica is in sync.</summary>
    public static async Task<LocalRedisCluster> StartAsync(string executable, int replicasPerMaster, TimeSpan nodeTimeout)
    {
        var cluster = new LocalRedisCluster(replicasPerMaster, Directory.CreateTempSubdirectory("mintcache-cluster-").FullName);
        try
        {
            await cluster.FormAsync(executable, nodeTimeout);
            return cluster;
        }
        catch
        {
            // No redis-server outlives a cluster that failed to start.
            await cluster.DisposeAsync();
            throw;
        }
    }

    /// <summary>The port of the master that serves <paramref name="key"/>'s slot, as the cluster's nodes see it now.</summary>
    public async Task<int> MasterPortOfAsync(RedisKey key)
    {
        var slot = Admin.HashSlot(key);
        foreach (var node in _nodes.Where(static n => !n.Killed))
        {
            var nodes = (string?)await Server(node.Port).ExecuteAsync("CLUSTER", "NODES");
            foreach (var line in (nodes ?? string.Empty).Split('\n', StringSplitOptions.RemoveEmptyEntries))
            {
                // <id> <ip:port@bus-port> <flags> <master id> <ping> <pong> <epoch> <link> <slot ranges...>
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
        if (master is < 0 or >= Masters || _replicasPerMaster == 0)
        {
            throw new ArgumentException($"{masterPort} was started as no master with a replica.", nameof(masterPort));
        }

        return _nodes[Masters + master].Port;
    }

    /// <summary>Kills the node's process at once, as a crash would: no shutdown, no failover handed over.</summary>
    public void Kill(int port)
    {
        var node = _nodes.Single(n => n.Port == port);
        node.Killed = true;
        node.Stop();
    }

    /// <summary>Whether the node answers <c>ROLE</c> as a master.</summary>
    public async Task<bool> IsMasterAsync(int port)
    {
        var role = (RedisResult[]?)await Server(port).ExecuteAsync("ROLE");
        return role is { Length: > 0 } && (string?)role[0] == "master";
    }

    /// <summary>Whether every node still running says the cluster serves all its slots.</summary>
    public async Task<bool> IsStateOkAsync()
    {
        foreach (var node in _nodes.Where(static n => !n.Killed))
        {
            var info = (string?)await Server(node.Port).ExecuteAsync("CLUSTER", "INFO");
            if (info is null || !info.Contains("cluster_state:ok", StringComparison.Ordinal))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>The keys matching <paramref name="pattern"/> on every master still running.</summary>
    public async IAsyncEnumerable<RedisKey> KeysAsync(string pattern, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        foreach (var node in _nodes.Where(static n => !n.Killed))
        {
            if (!await IsMasterAsync(node.Port))
            {
                continue;
            }

            await foreach (var key in Server(node.Port).KeysAsync(pattern: pattern).WithCancellation(cancellationToken))
            {
                yield return key;
            }
        }
    }

    /// <summary>Runs a command on one node, whatever its slots: a test's own reads (a key on a promoted replica).</summary>
    public Task<RedisResult> ExecuteOnAsync(int port, string command, params object[] args) => Server(port).ExecuteAsync(command, args);

    /// <summary>What the node's <c>redis-server</c> printed: its view of a failover, for a failing test's message.</summary>
    public string LogOf(int port) => _nodes.Single(n => n.Port == port).Output;

    public async ValueTask DisposeAsync()
    {
        if (_admin is not null)
        {
            await _admin.DisposeAsync();
        }

        foreach (var node in _nodes)
        {
            node.Dispose();
        }

        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
            // A node's last write may still be closing; the folder is a temporary one.
        }
    }

    private ConnectionMultiplexer Admin => _admin ?? throw new InvalidOperationException("The cluster is not started.");

    private IServer Server(int port) => Admin.GetServer(new IPEndPoint(IPAddress.Loopback, port));

    private async Task FormAsync(string executable, TimeSpan nodeTimeout)
    {
        var timeout = ((long)nodeTimeout.TotalMilliseconds).ToString(CultureInfo.InvariantCulture);
        for (var i = 0; i < Masters * (1 + _replicasPerMaster); i++)
        {
            var port = LocalRedisServer.FreeLoopbackPort();
            var p = port.ToString(CultureInfo.InvariantCulture);
            _nodes.Add(new Node(await LocalRedisServer.StartAsync(executable, port, password: null,
                ["--cluster-enabled", "yes", "--cluster-config-file", $"nodes-{p}.conf", "--cluster-node-timeout", timeout,

                    // A replica's first sync starts at once rather than after the default 5 s wait for more replicas,
                    // and a replica may take over however long it was cut off: a stalled machine must not leave a
                    // failed master without a successor.
                    "--repl-diskless-sync-delay", "0", "--cluster-replica-validity-factor", "0"],
                _directory)));
        }

        // Admin: CLUSTER and ROLE on one node at a time. The nodes answer before they form a cluster, hence no abort.
        var options = new ConfigurationOptions { AllowAdmin = true, AbortOnConnectFail = false };
        foreach (var node in _nodes)
        {
            options.EndPoints.Add(IPAddress.Loopback, node.Port);
        }

        _admin = await ConnectionMultiplexer.ConnectAsync(options);
        foreach (var node in _nodes)
        {
            node.Id = (string)(await Server(node.Port).ExecuteAsync("CLUSTER", "MYID"))!;
        }

        // Each master gets a third of the slots, then the first node meets the others, and each replica follows its
        // master; the cluster is up once every node says so and every replica is in sync.
        for (var i = 0; i < Masters; i++)
        {
            await Server(_nodes[i].Port).ExecuteAsync("CLUSTER", "ADDSLOTSRANGE", Slots * i / Masters, (Slots * (i + 1) / Masters) - 1);
        }

        foreach (var node in _nodes.Skip(1))
        {
            await Server(_nodes[0].Port).ExecuteAsync("CLUSTER", "MEET", "127.0.0.1", node.Port);
        }

        if (_replicasPerMaster > 0)
        {
            // A replica refuses to follow a node it has not met, and a master votes only for the replicas it knows.
            await UntilAsync(EveryNodeKnowsEveryOtherAsync, "every node knows every other");
            for (var i = Masters; i < _nodes.Count; i++)
            {
                await Server(_nodes[i].Port).ExecuteAsync("CLUSTER", "REPLICATE", _nodes[i % Masters].Id);
            }
        }

        await UntilAsync(IsFormedAsync, "the cluster is up, every replica in sync");

        // The admin connection is kept for the cluster's life: it learns the topology now that there is one.
        await _admin.DisposeAsync();
        _admin = await ConnectionMultiplexer.ConnectAsync($"{Endpoint},allowAdmin=true,abortConnect=false");
        await UntilAsync(
            () => Task.FromResult(_admin.GetServers().Count(static s => s.IsConnected && !s.IsReplica) == Masters
                && _admin.GetServers().Count(static s => s.IsConnected && s.IsReplica) == Replicas),
            "the client sees every master and replica");
    }

    private async Task<bool> EveryNodeKnowsEveryOtherAsync()
    {
        foreach (var node in _nodes)
        {
            var nodes = (string?)await Server(node.Port).ExecuteAsync("CLUSTER", "NODES") ?? string.Empty;
            if (_nodes.Any(other => !nodes.Contains(other.Id, StringComparison.Ordinal)) || nodes.Contains("handshake", StringComparison.Ordinal))
            {
                return false;
            }
        }

        return true;
    }

    private async Task<bool> IsFormedAsync()
    {
        foreach (var node in _nodes)
        {
            var info = (string?)await Server(node.Port).ExecuteAsync("CLUSTER", "INFO");
            var nodes = (string?)await Server(node.Port).ExecuteAsync("CLUSTER", "NODES") ?? string.Empty;
            if (info is null || !info.Contains("cluster_state:ok", StringComparison.Ordinal)
                || nodes.Split('\n').Count(static l => l.Contains("slave", StringComparison.Ordinal)) != Replicas)
            {
                return false;
            }
        }

        foreach (var replica in _nodes.Skip(Masters))
        {
            var replication = (string?)await Server(replica.Port).ExecuteAsync("INFO", "replication");
            if (replication is null || !replication.Contains("master_link_status:up", StringComparison.Ordinal))
            {
                return false;
            }
        }

        return true;
    }

    private static bool InRange(string range, int slot)
    {
        // "first-last" or a single slot; "[slot->-id]" marks a slot being migrated, which this cluster never does.
        var bounds = range.Split('-');
        return int.TryParse(bounds[0], NumberStyles.None, CultureInfo.InvariantCulture, out var first)
            && int.TryParse(bounds[^1], NumberStyles.None, CultureInfo.InvariantCulture, out var last)
            && slot >= first && slot <= last;
    }

    private static async Task UntilAsync(Func<Task<bool>> condition, string what)
    {
        var clock = Stopwatch.StartNew();
        while (!await condition())
        {
            if (clock.Elapsed > StartTimeout)
            {
                throw new TimeoutException($"Not within {StartTimeout}: {what}.");
            }

            await Task.Delay(20);
        }
    }

    /// <summary>One node: its server, its cluster id, and whether the test killed it.</summary>
    private sealed class Node(LocalRedisServer server) : IDisposable
    {
        public int Port => server.Port;

        public string Id { get; set; } = string.Empty;

        public bool Killed { get; set; }

        public string Output => server.Output;

        public void Stop() => server.Kill();

        public void Dispose() => server.Dispose();
    }
}
