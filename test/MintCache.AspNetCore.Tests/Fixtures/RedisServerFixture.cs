using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using StackExchange.Redis;

namespace MintCache.AspNetCore.Tests.Fixtures;

/// <summary>
/// A real Redis-protocol server for the Redis tests, started once per test run and shared: the one named by
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

    /// <summary>
    /// Starts a server of its own for a test that kills, restarts or password-protects it: redis-server when installed,
    /// Garnet otherwise. Fails loudly when neither can start.
    /// </summary>
    public static async Task<RedisTestServer> StartDedicatedAsync(string? password = null)
    {
        // MINTCACHE_TEST_SERVER=garnet runs the suite on the embedded server even where redis-server is installed.
        var redisServer = string.Equals(Environment.GetEnvironmentVariable(ServerEnvironmentVariable), "garnet", StringComparison.OrdinalIgnoreCase)
            ? null
            : FindOnPath("redis-server");
        Exception? failure = null;
        if (redisServer is not null)
        {
            try
            {
                return await RedisTestServer.StartRedisAsync(redisServer, FreePort(), password);
            }
            catch (Exception ex) when (ex is InvalidOperationException or TimeoutException or System.ComponentModel.Win32Exception)
            {
                failure = ex;
            }
        }

        try
        {
            return await RedisTestServer.StartGarnetAsync(FreePort(), password);
        }
        catch (Exception ex)
        {
            // Never a skip: without a server the Redis behaviours are untested, and that must fail the run.
            throw new InvalidOperationException($"No Redis test server could start: redis-server {(failure is null ? "is not installed" : $"failed ({failure.Message})")}, Garnet failed ({ex.Message}).", ex);
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static string? FindOnPath(string name)
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(dir, name);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }
}

/// <summary>One Redis-protocol server a test owns: it may be killed and started again on the same port.</summary>
public sealed class RedisTestServer : IDisposable
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(15);

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
        var server = new RedisTestServer("redis-server", port, async () =>
        {
            var info = new ProcessStartInfo(executable)
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };

            // Loopback only, nothing persisted: a restarted server starts empty, as after a crash without persistence.
            foreach (var arg in new[] { "--port", port.ToString(CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--protected-mode", "no" })
            {
                info.ArgumentList.Add(arg);
            }

            if (password is not null)
            {
                info.ArgumentList.Add("--requirepass");
                info.ArgumentList.Add(password);
            }

            var process = Process.Start(info) ?? throw new InvalidOperationException("redis-server did not start.");
            process.OutputDataReceived += static (_, _) => { };
            process.ErrorDataReceived += static (_, _) => { };
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            var handle = new ProcessHandle(process);
            try
            {
                await WaitUntilListeningAsync(port, () => process.HasExited);
            }
            catch
            {
                handle.Dispose();
                throw;
            }

            return handle;
        });
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
            await WaitUntilListeningAsync(port, static () => false);
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

    private static async Task WaitUntilListeningAsync(int port, Func<bool> exited)
    {
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            if (exited())
            {
                throw new InvalidOperationException($"The Redis test server on port {port} exited at start.");
            }

            try
            {
                using var client = new TcpClient();
                await client.ConnectAsync(IPAddress.Loopback, port);
                return;
            }
            catch (SocketException) when (deadline.Elapsed < StartTimeout)
            {
                await Task.Delay(20);
            }
            catch (SocketException ex)
            {
                throw new TimeoutException($"The Redis test server on port {port} did not listen within {StartTimeout}.", ex);
            }
        }
    }

    private sealed class ProcessHandle(Process process) : IDisposable
    {
        public void Dispose()
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
                process.WaitForExit(5_000);
            }

            process.Dispose();
        }
    }
}

[CollectionDefinition(Name)]
public sealed class RedisCollection : ICollectionFixture<RedisServerFixture>
{
    public const string Name = "Redis";
}
