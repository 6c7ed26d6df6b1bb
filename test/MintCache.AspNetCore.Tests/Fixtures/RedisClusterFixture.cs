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
/// single-server fixture does. Started once for the collection, torn down with it.
/// </remarks>
public sealed class RedisClusterFixture : IAsyncLifetime
{
    private const int Masters = 3;
    private readonly List<ChildProcess> _nodes = [];
    private string? _directory;

    /// <summary>The StackExchange.Redis configuration string naming every node.</summary>
    public string Endpoint { get; private set; } = string.Empty;

    public IConnectionMultiplexer Multiplexer { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        var redisServer = Environment.GetEnvironmentVariable("PATH")?.Split(Path.PathSeparator)
            .Select(dir => Path.Combine(dir, "redis-server"))
            .FirstOrDefault(File.Exists)
            ?? throw new InvalidOperationException("The Redis Cluster tests need redis-server on the PATH (apt-get install redis-server).");
        _directory = Directory.CreateTempSubdirectory("mintcache-cluster-").FullName;
        var ports = Enumerable.Range(0, Masters).Select(_ => FreePort()).ToArray();
        foreach (var port in ports)
        {
            var p = port.ToString(CultureInfo.InvariantCulture);
            _nodes.Add(ChildProcess.Start(
                redisServer,
                ["--port", p, "--bind", "127.0.0.1", "--cluster-enabled", "yes", "--cluster-config-file", $"nodes-{p}.conf",
                    "--cluster-node-timeout", "5000", "--save", "", "--appendonly", "no", "--protected-mode", "no"],
                _directory));
        }

        foreach (var port in ports)
        {
            await WaitUntilListeningAsync(port);
        }

        // Each node gets a third of the slots, then the first meets the others; the cluster is up once every node says so.
        var options = new ConfigurationOptions { AllowAdmin = true, AbortOnConnectFail = false };
        foreach (var port in ports)
        {
            options.EndPoints.Add(IPAddress.Loopback, port);
        }

        var admin = await ConnectionMultiplexer.ConnectAsync(options);
        try
        {
            const int slots = 16384;
            for (var i = 0; i < Masters; i++)
            {
                var server = admin.GetServer(new IPEndPoint(IPAddress.Loopback, ports[i]));
                var first = slots * i / Masters;
                var last = (slots * (i + 1) / Masters) - 1;
                await server.ExecuteAsync("CLUSTER", "ADDSLOTSRANGE", first, last);
                if (i > 0)
                {
                    await admin.GetServer(new IPEndPoint(IPAddress.Loopback, ports[0])).ExecuteAsync("CLUSTER", "MEET", "127.0.0.1", ports[i]);
                }
            }

            await Eventually.HoldsAsync(
                async () =>
                {
                    foreach (var port in ports)
                    {
                        var info = (string?)await admin.GetServer(new IPEndPoint(IPAddress.Loopback, port)).ExecuteAsync("CLUSTER", "INFO");
                        if (info is null || !info.Contains("cluster_state:ok", StringComparison.Ordinal))
                        {
                            return false;
                        }
                    }

                    return true;
                },
                TimeSpan.FromSeconds(30),
                "the cluster is up");
        }
        finally
        {
            await admin.DisposeAsync();
        }

        Endpoint = string.Join(",", ports.Select(p => $"127.0.0.1:{p}"));
        Multiplexer = await ConnectionMultiplexer.ConnectAsync(Endpoint);
        await Eventually.HoldsAsync(
            () => Multiplexer.GetServers().Count(s => s.IsConnected && !s.IsReplica) == Masters,
            TimeSpan.FromSeconds(30),
            "the client sees every master");
    }

    public async Task DisposeAsync()
    {
        if (Multiplexer is not null)
        {
            await Multiplexer.DisposeAsync();
        }

        foreach (var node in _nodes)
        {
            node.Dispose();
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
            TimeSpan.FromSeconds(30),
            $"redis-server listens on {port}");
}

[CollectionDefinition(Name)]
public sealed class RedisClusterCollection : ICollectionFixture<RedisClusterFixture>
{
    public const string Name = "Redis Cluster";
}
