using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using MintCache.Bench.Shared;

namespace MintCache.LoadTest;

/// <summary>An app instance in its own process (this executable in server mode), stopped on dispose.</summary>
internal sealed class AppInstance : IAsyncDisposable
{
    private readonly Process _process;

    private AppInstance(Process process, Uri baseAddress)
    {
        _process = process;
        BaseAddress = baseAddress;
    }

    public Uri BaseAddress { get; }

    public static async Task<AppInstance> StartAsync(StoreKind store, int renderMs, string instance, bool countLookups = false, double? eagerRefresh = null)
    {
        var port = FreePort();
        var self = Environment.ProcessPath ?? throw new InvalidOperationException("No process path.");
        var start = new ProcessStartInfo(self) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        if (Path.GetFileNameWithoutExtension(self) == "dotnet")
        {
            start.ArgumentList.Add(typeof(AppInstance).Assembly.Location);
        }

        foreach (var arg in new[] { "server", store.ToString(), port.ToString(CultureInfo.InvariantCulture), renderMs.ToString(CultureInfo.InvariantCulture), instance, countLookups ? "count" : "plain", eagerRefresh?.ToString("R", CultureInfo.InvariantCulture) ?? "none" })
        {
            start.ArgumentList.Add(arg);
        }

        // Like any ASP.NET Core app: server GC.
        start.Environment["DOTNET_gcServer"] = "1";
        var process = Process.Start(start) ?? throw new InvalidOperationException("The app instance did not start.");
        process.OutputDataReceived += static (_, e) => { if (e.Data is { Length: > 0 }) { Console.Error.WriteLine($"  [app] {e.Data}"); } };
        process.ErrorDataReceived += static (_, e) => { if (e.Data is { Length: > 0 }) { Console.Error.WriteLine($"  [app] {e.Data}"); } };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        var app = new AppInstance(process, new Uri($"http://127.0.0.1:{port}/"));
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < TimeSpan.FromSeconds(30))
        {
            if (process.HasExited)
            {
                throw new InvalidOperationException($"The app instance {instance} ({store}) exited with {process.ExitCode}.");
            }

            try
            {
                await http.GetStringAsync(new Uri(app.BaseAddress, "bench/ready"));
                return app;
            }
            catch (HttpRequestException)
            {
                await Task.Delay(100);
            }
            catch (TaskCanceledException)
            {
                await Task.Delay(100);
            }
        }

        await app.DisposeAsync();
        throw new TimeoutException($"The app instance {instance} ({store}) did not answer within 30 s.");
    }

    /// <summary>One counter of <see cref="StatsAsync"/>, summed over <paramref name="apps"/>.</summary>
    public static async Task<long> SumAsync(IEnumerable<AppInstance> apps, Func<StatsSnapshot, long> counter)
    {
        long sum = 0;
        foreach (var app in apps)
        {
            sum += counter(await app.StatsAsync());
        }

        return sum;
    }

    public async Task<StatsSnapshot> StatsAsync()
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        return await http.GetFromJsonAsync(new Uri(BaseAddress, "bench/stats"), ServerStatsJson.Default.StatsSnapshot)
            ?? throw new InvalidOperationException("No stats.");
    }

    /// <summary>The processor time the instance's process has used so far (user and system).</summary>
    public TimeSpan ProcessorTime
    {
        get
        {
            _process.Refresh();
            return _process.TotalProcessorTime;
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill();
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
    }

    private static int FreePort()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
    }
}
