using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace MintCache.Testing;

/// <summary>
/// A <c>redis-server</c> process on a loopback port, nothing persisted, killed on dispose: the one launcher that the
/// test projects (test/MintCache.AspNetCore.Tests, .FunctionalTests) and the benchmarks (bench/) compile in.
/// </summary>
internal sealed class LocalRedisServer : IDisposable
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(15);

    private readonly Process _process;
    private readonly StringBuilder _output = new();
    private readonly Lock _lock = new();

    private LocalRedisServer(Process process, int port)
    {
        _process = process;
        Port = port;
    }

    public int Port { get; }

    /// <summary>The server's process id (the benchmarks raise its scheduling priority).</summary>
    public int ProcessId => _process.Id;

    public string Endpoint => "127.0.0.1:" + Port.ToString(CultureInfo.InvariantCulture);

    /// <summary>What the server printed, kept for a failing test's message.</summary>
    public string Output
    {
        get
        {
            lock (_lock)
            {
                return _output.ToString();
            }
        }
    }

    /// <summary>The path of <c>redis-server</c> on the PATH, or null when it is not installed.</summary>
    public static string? FindExecutable()
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(dir, "redis-server");
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }

    public static int FreeLoopbackPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>
    /// Starts redis-server on <paramref name="port"/>, with <paramref name="arguments"/> after the ones every server
    /// here gets, in <paramref name="workingDirectory"/> (for the files a cluster node writes), and returns once it
    /// accepts connections.
    /// </summary>
    /// <exception cref="InvalidOperationException">It exited at start.</exception>
    /// <exception cref="TimeoutException">It did not listen within 15 seconds.</exception>
    public static async Task<LocalRedisServer> StartAsync(string executable, int port, string? password = null, IEnumerable<string>? arguments = null, string? workingDirectory = null)
    {
        var info = new ProcessStartInfo(executable)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? string.Empty,
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

        foreach (var argument in arguments ?? [])
        {
            info.ArgumentList.Add(argument);
        }

        var process = Process.Start(info) ?? throw new InvalidOperationException("redis-server did not start.");

        // Drained, so that a chatty server never blocks on a full pipe, and kept.
        var server = new LocalRedisServer(process, port);
        process.OutputDataReceived += (_, e) => server.Append(e.Data);
        process.ErrorDataReceived += (_, e) => server.Append(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            await WaitUntilListeningAsync(port, () => process.HasExited);
        }
        catch
        {
            server.Dispose();
            throw;
        }

        return server;
    }

    /// <summary>Polls the port, under a deadline, until a server accepts connections on it.</summary>
    public static async Task WaitUntilListeningAsync(int port, Func<bool> exited)
    {
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            if (exited())
            {
                throw new InvalidOperationException($"The Redis server on port {port} exited at start.");
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
                throw new TimeoutException($"The Redis server on port {port} did not listen within {StartTimeout}.", ex);
            }
        }
    }

    /// <summary>The version <c>redis-server --version</c> reports, or an empty string.</summary>
    public static string Version(string executable)
    {
        try
        {
            using var version = Process.Start(new ProcessStartInfo(executable, "--version") { RedirectStandardOutput = true, UseShellExecute = false });
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

    /// <summary>Kills the server at once, as a crash would (idempotent).</summary>
    public void Kill()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                _process.WaitForExit(5_000);
            }
        }
        catch (InvalidOperationException)
        {
            // Already gone, or disposed.
        }
    }

    /// <summary>Kills the server at once, as a crash would.</summary>
    public void Dispose()
    {
        Kill();
        _process.Dispose();
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_lock)
        {
            _output.AppendLine(line);
        }
    }
}
