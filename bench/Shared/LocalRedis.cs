using MintCache.Testing;

namespace MintCache.Bench.Shared;

/// <summary>
/// The one local redis-server the benchmarks share: the endpoint in <see cref="EnvironmentVariable"/> when set,
/// otherwise a redis-server started here on a free loopback port (and stopped on dispose).
/// </summary>
/// <remarks>
/// The endpoint is published in the environment so that child processes (BenchmarkDotNet's per-benchmark processes,
/// the load test's app instances) use the same server.
/// </remarks>
internal sealed class LocalRedis : IDisposable
{
    public const string EnvironmentVariable = "MINTCACHE_BENCH_REDIS";

    private readonly LocalRedisServer? _server;

    private LocalRedis(string? endpoint, LocalRedisServer? server, string description)
    {
        Endpoint = endpoint;
        _server = server;
        Description = description;
    }

    /// <summary>"127.0.0.1:port", or null when no Redis could be had.</summary>
    public string? Endpoint { get; }

    public string Description { get; }

    /// <summary>The server's process id when it was started here, or null when attached to another.</summary>
    public int? ProcessId => _server?.ProcessId;

    /// <summary>The endpoint a child process inherited, or null.</summary>
    public static string? FromEnvironment()
    {
        var value = Environment.GetEnvironmentVariable(EnvironmentVariable);
        return string.IsNullOrWhiteSpace(value) ? null : value;
    }

    public static LocalRedis StartOrAttach()
    {
        if (FromEnvironment() is { } existing)
        {
            return new LocalRedis(existing, null, $"redis at {existing} (from {EnvironmentVariable})");
        }

        if (LocalRedisServer.FindExecutable() is not { } executable)
        {
            return new LocalRedis(null, null, "no redis-server on PATH: Redis variants skipped (apt-get install -y redis-server)");
        }

        LocalRedisServer server;
        try
        {
            // Top-level programs only: nothing else runs yet that blocking could starve.
            server = LocalRedisServer.StartAsync(executable, LocalRedisServer.FreeLoopbackPort()).GetAwaiter().GetResult();
        }
        catch (Exception ex) when (ex is InvalidOperationException or TimeoutException or System.ComponentModel.Win32Exception)
        {
            return new LocalRedis(null, null, $"redis-server did not start ({ex.Message}): Redis variants skipped");
        }

        Environment.SetEnvironmentVariable(EnvironmentVariable, server.Endpoint);
        return new LocalRedis(server.Endpoint, server, $"redis-server {LocalRedisServer.Version(executable)} started on {server.Endpoint}");
    }

    public void Dispose() => _server?.Dispose();
}
