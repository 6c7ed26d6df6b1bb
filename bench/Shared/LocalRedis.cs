using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

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

    private readonly Process? _process;

    private LocalRedis(string? endpoint, Process? process, string description)
    {
        Endpoint = endpoint;
        _process = process;
        Description = description;
    }

    /// <summary>"127.0.0.1:port", or null when no Redis could be had.</summary>
    public string? Endpoint { get; }

    public string Description { get; }

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

        var port = FreeLoopbackPort();
        Process? process;
        try
        {
            process = Process.Start(new ProcessStartInfo("redis-server")
            {
                ArgumentList = { "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--protected-mode", "yes" },
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            });
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return new LocalRedis(null, null, "no redis-server on PATH: Redis variants skipped (apt-get install -y redis-server)");
        }

        if (process is null)
        {
            return new LocalRedis(null, null, "redis-server did not start: Redis variants skipped");
        }

        process.OutputDataReceived += static (_, _) => { };
        process.ErrorDataReceived += static (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        var endpoint = $"127.0.0.1:{port}";
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < TimeSpan.FromSeconds(10))
        {
            if (Ping(port))
            {
                Environment.SetEnvironmentVariable(EnvironmentVariable, endpoint);
                return new LocalRedis(endpoint, process, $"redis-server {Version()} started on {endpoint}");
            }

            Thread.Sleep(50);
        }

        process.Kill();
        process.Dispose();
        return new LocalRedis(null, null, "redis-server did not answer PING within 10 s: Redis variants skipped");
    }

    public void Dispose()
    {
        if (_process is { HasExited: false })
        {
            _process.Kill();
            _process.WaitForExit(5000);
        }

        _process?.Dispose();
    }

    private static string Version()
    {
        try
        {
            using var version = Process.Start(new ProcessStartInfo("redis-server", "--version") { RedirectStandardOutput = true, UseShellExecute = false });
            var text = version?.StandardOutput.ReadToEnd() ?? string.Empty;
            version?.WaitForExit();
            var start = text.IndexOf("v=", StringComparison.Ordinal);
            return start < 0 ? string.Empty : text[(start + 2)..].Split(' ')[0];
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return string.Empty;
        }
    }

    private static int FreeLoopbackPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static bool Ping(int port)
    {
        try
        {
            using var client = new TcpClient();
            client.Connect(IPAddress.Loopback, port);
            using var stream = client.GetStream();
            stream.Write("PING\r\n"u8);
            var buffer = new byte[16];
            var read = stream.Read(buffer);
            return read >= 5 && buffer.AsSpan(0, 5).SequenceEqual("+PONG"u8);
        }
        catch (SocketException)
        {
            return false;
        }
        catch (IOException)
        {
            return false;
        }
    }
}
