using System.Globalization;
using MintCache.Testing;
using StackExchange.Redis;

namespace MintCache.AspNetCore.Tests.Fixtures;

/// <summary>
/// A real Redis-protocol server for the Redis tests, one per test class (<c>IClassFixture</c>), so that Redis classes run
/// in parallel without sharing keys or server statistics: the one named by
/// <c>MINTCACHE_TEST_REDIS=host:port</c>, else a <c>redis-server</c> on a free loopback port when one is installed,
/// else an embedded Garnet server. With <c>CI=true</c>, not getting a server fails the run; it never skips.
/// </summary>
/// <remarks>Tests that kill the server start a dedicated one with <see cref="StartDedicatedAsync"/>.</remarks>
public sealed class RedisServerFixture : IAsyncLifetime
{
    public const string EnvironmentVariable = "MINTCACHE_TEST_REDIS";

    public const string ServerEnvironmentVariable = "MINTCACHE_TEST_SERVER";

    private RedisTestServer? _owned;

    /// <summary>host:port of the shared server.</summary>
    public string Endpoint { get; private set; } = "";

    /// <summary>What serves the tests: "external", "redis-server" or "garnet".</summary>
    public string Kind { get; private set; } = "";

    /// <summary>A connection for the tests' own reads and writes (raw values, TIME, TTLs).</summary>
    public IConnectionMultiplexer Multiplexer { get; private set; } = null!;

    public IDatabase Database => Multiplexer.GetDatabase();

    /// <summary>The entry keys under <paramref name="prefix"/>, read from the master with <c>SCAN</c>.</summary>
    public async Task<List<RedisKey>> EntryKeysAsync(string prefix)
    {
        var server = Multiplexer.GetServers().Single(s => !s.IsReplica);
        var keys = new List<RedisKey>();
        await foreach (var key in server.KeysAsync(pattern: new Backends.Redis.RedisKeys(prefix).EntryPattern))
        {
            keys.Add(key);
        }

        return keys;
    }

    /// <summary>Waits, with a deadline, until every entry under <paramref name="prefix"/> is stale on the server clock.</summary>
    public async Task WaitUntilEntriesStaleAsync(string prefix, TimeSpan timeout)
    {
        var server = Multiplexer.GetServer(Multiplexer.GetEndPoints()[0]);
        await Eventually.HoldsAsync(
            async () =>
            {
                var now = await ServerNowAsync();
                var any = false;
                await foreach (var key in server.KeysAsync(pattern: prefix + "{*}:e"))
                {
                    any = true;
                    var raw = (byte[])(await Database.StringGetAsync(key))!;
                    Backends.Redis.RedisEntryFormat.TryReadHeader(raw, out var staleAt, out _, out _);
                    if (staleAt > now)
                    {
                        return false;
                    }
                }

                return any;
            },
            timeout,
            "the entries go stale on the server clock");
    }

    public async Task InitializeAsync()
    {
        var external = Environment.GetEnvironmentVariable(EnvironmentVariable);
        if (!string.IsNullOrWhiteSpace(external))
        {
            Endpoint = external;
            Kind = "external";
        }
        else
        {
            _owned = await StartDedicatedAsync();
            Endpoint = _owned.Endpoint;
            Kind = _owned.Kind;
        }

        Multiplexer = await ConnectionMultiplexer.ConnectAsync($"{Endpoint},abortConnect=false,connectTimeout=5000");
        var pong = await Multiplexer.GetDatabase().PingAsync();
        Assert.True(pong < TimeSpan.FromSeconds(5), $"The Redis test server at {Endpoint} ({Kind}) is not answering.");
    }

    public async Task DisposeAsync()
    {
        if (Multiplexer is not null)
        {
            await Multiplexer.DisposeAsync();
        }

        _owned?.Dispose();
    }

    /// <summary>The server time, in Unix milliseconds: the clock MintCache's scripts decide on.</summary>
    public async Task<long> ServerNowAsync()
    {
        var time = await Multiplexer.GetServer(Multiplexer.GetEndPoints()[0]).TimeAsync();
        return new DateTimeOffset(time, TimeSpan.Zero).ToUnixTimeMilliseconds();
    }

    /// <summary>Waits, with a deadline, until the server clock reads <paramref name="atLeast"/> (Unix milliseconds) or later.</summary>
    public Task WaitUntilServerTimeAsync(long atLeast, TimeSpan timeout, string what)
        => Eventually.HoldsAsync(async () => await ServerNowAsync() >= atLeast, timeout, what);

    /// <summary>
    /// Starts a server of its own for a test that kills, restarts or password-protects it: redis-server when installed,
    /// Garnet otherwise. Fails loudly when neither can start.
    /// </summary>
    public static async Task<RedisTestServer> StartDedicatedAsync(string? password = null)
    {
        // MINTCACHE_TEST_SERVER=garnet runs the suite on the embedded server even where redis-server is installed.
        var redisServer = string.Equals(Environment.GetEnvironmentVariable(ServerEnvironmentVariable), "garnet", StringComparison.OrdinalIgnoreCase)
            ? null
            : LocalRedisServer.FindExecutable();
        Exception? failure = null;
        if (redisServer is not null)
        {
            try
            {
                return await RedisTestServer.StartRedisAsync(redisServer, LocalRedisServer.FreeLoopbackPort(), password);
            }
            catch (Exception ex) when (ex is InvalidOperationException or TimeoutException or System.ComponentModel.Win32Exception)
            {
                failure = ex;
            }
        }

        try
        {
            return await RedisTestServer.StartGarnetAsync(LocalRedisServer.FreeLoopbackPort(), password);
        }
        catch (Exception ex)
        {
            // Never a skip: without a server the Redis behaviours are untested, and that must fail the run.
            throw new InvalidOperationException($"No Redis test server could start: redis-server {(failure is null ? "is not installed" : $"failed ({failure.Message})")}, Garnet failed ({ex.Message}).", ex);
        }
    }
}

/// <summary>One Redis-protocol server a test owns: it may be killed and started again on the same port.</summary>
public sealed class RedisTestServer : IDisposable
{
    private readonly Func<Task<IDisposable>> _start;
    private IDisposable? _running;

    private RedisTestServer(string kind, int port, Func<Task<IDisposable>> start)
    {
        Kind = kind;
        Port = port;
        _start = start;
    }

    public string Kind { get; }

    public int Port { get; }

    public string Endpoint => "127.0.0.1:" + Port.ToString(CultureInfo.InvariantCulture);

    public static async Task<RedisTestServer> StartRedisAsync(string executable, int port, string? password)
    {
        var server = new RedisTestServer("redis-server", port, async () => await LocalRedisServer.StartAsync(executable, port, password));
        await server.StartAsync();
        return server;
    }

    public static async Task<RedisTestServer> StartGarnetAsync(int port, string? password)
    {
        var server = new RedisTestServer("garnet", port, async () =>
        {
            var args = new List<string> { "--port", port.ToString(CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--lua", "true" };
            if (password is not null)
            {
                args.AddRange(["--auth", "Password", "--password", password]);
            }

            var garnet = new Garnet.GarnetServer([.. args]);
            garnet.Start();
            await LocalRedisServer.WaitUntilListeningAsync(port, static () => false);
            return garnet;
        });
        await server.StartAsync();
        return server;
    }

    /// <summary>Starts (or starts again, after <see cref="Kill"/>) the server on its port.</summary>
    public async Task StartAsync()
    {
        Assert.Null(_running);
        _running = await _start();
    }

    /// <summary>Kills the server at once, as a crash would.</summary>
    public void Kill()
    {
        _running?.Dispose();
        _running = null;
    }

    public void Dispose() => Kill();
}
