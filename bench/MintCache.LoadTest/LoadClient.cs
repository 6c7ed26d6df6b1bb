using System.Diagnostics;
using System.Net;

namespace MintCache.LoadTest;

/// <summary>
/// A closed-loop HTTP/1.1 client: each of <c>clients</c> workers sends one request, reads the whole response, and
/// sends the next. Bounded twice: it stops at <c>duration</c> and after <c>maxRequests</c> requests, whichever comes
/// first. Loopback only: every target must be 127.0.0.1.
/// </summary>
internal static class LoadClient
{
    /// <param name="path">
    /// When set, each request goes to the path it returns under its client's target (drawn from the client's own
    /// random source), instead of the target itself.
    /// </param>
    public static async Task<Sample[]> RunAsync(IReadOnlyList<Uri> targets, int clients, TimeSpan duration, long maxRequests, Func<Random, string>? path = null)
    {
        foreach (var target in targets)
        {
            if (!IPAddress.TryParse(target.Host, out var address) || !IPAddress.IsLoopback(address))
            {
                throw new ArgumentException($"Load goes to 127.0.0.1 only, not {target}.", nameof(targets));
            }
        }

        using var handler = new SocketsHttpHandler
        {
            MaxConnectionsPerServer = clients,
            PooledConnectionLifetime = Timeout.InfiniteTimeSpan,
            UseProxy = false,
            AutomaticDecompression = DecompressionMethods.None,
        };
        using var http = new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(30) };

        // One Host for every instance, as a load balancer forwards it: the output cache's key includes the Host, so
        // without it two instances on two ports would never share a page.
        http.DefaultRequestHeaders.Host = "bench.local";

        var deadline = Stopwatch.GetTimestamp() + (long)(duration.TotalSeconds * Stopwatch.Frequency);
        long issued = 0;
        var perClient = new List<Sample>[clients];
        var workers = new Task[clients];
        for (var c = 0; c < clients; c++)
        {
            var samples = perClient[c] = new List<Sample>(4096);
            var target = targets[c % targets.Count];
            var instance = c % targets.Count;
            var random = new Random(c);
            workers[c] = Task.Run(async () =>
            {
                var buffer = new byte[16 * 1024];
                while (Stopwatch.GetTimestamp() < deadline && Interlocked.Increment(ref issued) <= maxRequests)
                {
                    var start = Stopwatch.GetTimestamp();
                    var ok = true;
                    try
                    {
                        using var response = await http.GetAsync(path is null ? target : new Uri(target, path(random)), HttpCompletionOption.ResponseHeadersRead).ConfigureAwait(false);
                        await using var body = await response.Content.ReadAsStreamAsync().ConfigureAwait(false);
                        while (await body.ReadAsync(buffer).ConfigureAwait(false) > 0)
                        {
                        }

                        ok = response.StatusCode == HttpStatusCode.OK;
                    }
                    catch (HttpRequestException)
                    {
                        ok = false;
                    }
                    catch (TaskCanceledException)
                    {
                        ok = false;
                    }

                    samples.Add(new Sample(start, Stopwatch.GetTimestamp(), instance, ok));
                }
            });
        }

        await Task.WhenAll(workers).ConfigureAwait(false);
        return [.. perClient.SelectMany(static s => s).OrderBy(static s => s.Start)];
    }
}

/// <summary>One request: Stopwatch timestamps when it was sent and when its body was read, and which instance.</summary>
internal readonly record struct Sample(long Start, long End, int Instance, bool Ok)
{
    public double Milliseconds => (End - Start) * 1000.0 / Stopwatch.Frequency;
}
