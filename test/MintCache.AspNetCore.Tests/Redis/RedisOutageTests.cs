using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using MintCache.AspNetCore.Diagnostics;
using MintCache.AspNetCore.Tests.Fixtures;
using Xunit.Abstractions;

namespace MintCache.AspNetCore.Tests.Redis;

/// <summary>design.md §2 invariant 4 (the cache never fails a request): a real server killed and restarted under load; passwords kept out of logs.</summary>
[Collection(RedisCollection.Name)]
public sealed class RedisOutageTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    // Quick to trip and quick to probe again, so the test sees a whole outage in a few seconds. A killed server fails
    // calls at once (the connection drops), so the timeout stays long enough that a busy machine is not an outage.
    private static readonly Action<MintCacheOptions> Resilient = static o =>
    {
        o.Redis.OperationTimeout = TimeSpan.FromSeconds(2);
        o.Redis.BreakDuration = TimeSpan.FromMilliseconds(500);
        o.Redis.MinimumThroughput = 4;
        o.LeaseDuration = TimeSpan.FromSeconds(2);
        o.FailureBackoff = TimeSpan.FromMilliseconds(200);
    };

    [Fact]
    public async Task RedisKilledMidStorm_NoRequestFails_FallsBackOnceAndReturns()
    {
        using var server = await RedisServerFixture.StartDedicatedAsync();
        var prefix = RedisHost.UniquePrefix();
        var endpoint = new GatedEndpoint();
        await using var a = await RedisHost.StartAsync(server.Endpoint, prefix, endpoint, TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(30), Resilient);
        await using var b = await RedisHost.StartAsync(server.Endpoint, prefix, endpoint, TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(30), Resilient);

        var storm = new Storm([a, b], clientsPerHost: 4);
        await Eventually.HoldsAsync(() => storm.Completed >= 200, Deadline, "the storm warms up on Redis");
        var executionsBeforeKill = endpoint.Executions;

        server.Kill();
        var atKill = storm.Completed;
        await Eventually.HoldsAsync(() => a.Backend.IsDegraded && b.Backend.IsDegraded && storm.Completed >= atKill + 300, Deadline, "both hosts serve from local memory");
        var outage = await a.Backend.CheckHealthAsync(default);
        Assert.Equal(Microsoft.Extensions.Diagnostics.HealthChecks.HealthStatus.Degraded, outage.Status);
        Assert.Equal(true, outage.Data["fallbackActive"]);

        var restart = Stopwatch.StartNew();
        await server.StartAsync();
        try
        {
            await Eventually.HoldsAsync(() => !a.Backend.IsDegraded && !b.Backend.IsDegraded, Deadline, "both hosts are back on Redis");
        }
        catch (TimeoutException)
        {
            var mux = await a.Backend.Connection.GetAsync(default);
            output.WriteLine($"connected={mux.IsConnected} completed={storm.Completed} degraded A={a.Backend.IsDegraded} B={b.Backend.IsDegraded}\n{mux.GetStatus()}");
            output.WriteLine(string.Join("\n", a.Logs.GetSnapshot().TakeLast(10).Select(r => r.ToString() + r.Exception?.Message)));
            throw;
        }

        var backAfter = restart.Elapsed;
        var back = await a.Backend.CheckHealthAsync(default);
        Assert.Equal(Microsoft.Extensions.Diagnostics.HealthChecks.HealthStatus.Healthy, back.Status);
        Assert.Equal(false, back.Data["fallbackActive"]);
        var atReturn = storm.Completed;
        await Eventually.HoldsAsync(() => storm.Completed >= atReturn + 200, Deadline, "the storm goes on on Redis");
        await storm.StopAsync();

        output.WriteLine(
            $"server={server.Kind} requests={storm.Completed} failed={storm.Failed} during outage={atReturn - atKill} " +
            $"fallback logs A={a.CountLogs(Log.IdRedisUnavailable)} B={b.CountLogs(Log.IdRedisUnavailable)} " +
            $"return logs A={a.CountLogs(Log.IdRedisRestored)} B={b.CountLogs(Log.IdRedisRestored)} back on Redis {backAfter.TotalMilliseconds:F0} ms after restart " +
            $"executions before kill={executionsBeforeKill} total={endpoint.Executions}");
        Assert.True(storm.Failed == 0, $"{storm.Failed} requests failed, first: {storm.FirstFailure}");

        // A killed redis-server is gone at once. Stopping embedded Garnet is no crash: sessions it already accepted
        // may answer a moment longer, which is a real flap and is logged as one (at most one more pair).
        var transitions = server.Kind == "garnet" ? 2 : 1;
        foreach (var host in new[] { a, b })
        {
            Assert.InRange(host.CountLogs(Log.IdRedisUnavailable), 1, transitions);
            Assert.Equal(host.CountLogs(Log.IdRedisUnavailable), host.CountLogs(Log.IdRedisRestored));
        }

        output.WriteLine(string.Join("\n", a.Logs.GetSnapshot().Where(r => r.Category?.StartsWith("MintCache", StringComparison.Ordinal) == true && r.Level >= Microsoft.Extensions.Logging.LogLevel.Information).Select(r => r.ToString())));

        // Sharing again: a page stored by A is served to B from Redis without another execution.
        var before = endpoint.Executions;
        var page = await a.Client.GetStringAsync("/other");
        Assert.Equal(page, await b.Client.GetStringAsync("/other"));
        Assert.Equal(before + 1, endpoint.Executions);
    }

    [Fact]
    public async Task StartWithRedisDown_ServesFromLocalMemory()
    {
        using var server = await RedisServerFixture.StartDedicatedAsync();
        server.Kill();
        var endpoint = new GatedEndpoint();
        await using var host = await RedisHost.StartAsync(server.Endpoint, RedisHost.UniquePrefix(), endpoint, TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(1), Resilient);

        // The first request stores locally; the second is served from local memory.
        Assert.Equal("page 1", await host.Client.GetStringAsync("/page"));
        Assert.Equal("page 1", await host.Client.GetStringAsync("/page"));
        Assert.Equal(1, endpoint.Executions);
        Assert.True(host.Backend.IsDegraded);
        Assert.Equal(1, host.CountLogs(Log.IdRedisUnavailable));
    }

    [Fact]
    public async Task Password_NeverInLogsOrExceptions()
    {
        const string password = "S3cret-Pa55word-xyzzy";
        const string wrongPassword = "Wr0ng-Pa55word-plugh";
        using var server = await RedisServerFixture.StartDedicatedAsync(password);
        var endpoint = new GatedEndpoint();
        await using var good = await RedisHost.StartAsync($"{server.Endpoint},password={password}", RedisHost.UniquePrefix(), endpoint, TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(1), Resilient);
        await using var wrong = await RedisHost.StartAsync($"{server.Endpoint},password={wrongPassword}", RedisHost.UniquePrefix(), endpoint, TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(1), Resilient);

        // Authenticated: shared through Redis. Refused: served locally, never failed.
        Assert.Equal("page 1", await good.Client.GetStringAsync("/page"));
        Assert.False(good.Backend.IsDegraded);
        Assert.StartsWith("page", await wrong.Client.GetStringAsync("/page"));
        Assert.True(wrong.Backend.IsDegraded);

        // An outage: connection errors are logged too.
        server.Kill();
        for (var i = 0; i < 10; i++)
        {
            Assert.StartsWith("page", await good.Client.GetStringAsync("/other"));
        }

        Assert.True(good.Backend.IsDegraded);

        // An invalid string fails validation without echoing itself.
        var services = new ServiceCollection();
        services.AddOutputCache().AddMintStore(o => o.Redis.Configuration = $"{server.Endpoint},password={password},=oops,ssl=notabool");
        using var provider = services.BuildServiceProvider();
        var invalid = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IOptions<MintCacheOptions>>().Value);

        var texts = good.Logs.GetSnapshot().Concat(wrong.Logs.GetSnapshot())
            .Select(r => $"{r.Message} {r.Exception} {string.Join(",", r.StructuredState ?? [])}")
            .Append(invalid.ToString())
            .ToList();
        Assert.True(texts.Count > 5, "the outage was logged");
        Assert.DoesNotContain(texts, t => t.Contains(password, StringComparison.Ordinal) || t.Contains(wrongPassword, StringComparison.Ordinal));
    }

    /// <summary>Clients that request /page in a loop on each host, counting completions and failures, until stopped.</summary>
    private sealed class Storm
    {
        // A bound on the whole storm, so a bug cannot make it run forever.
        private const int MaxRequests = 500_000;

        private readonly CancellationTokenSource _stop = new();
        private readonly Task[] _clients;
        private int _completed;
        private int _failed;

        public Storm(RedisHost[] hosts, int clientsPerHost)
        {
            _clients = hosts.SelectMany(host => Enumerable.Range(0, clientsPerHost).Select(_ => Task.Run(() => RunAsync(host)))).ToArray();
        }

        public int Completed => Volatile.Read(ref _completed);

        public int Failed => Volatile.Read(ref _failed);

        public string? FirstFailure { get; private set; }

        public async Task StopAsync()
        {
            await _stop.CancelAsync();
            await Task.WhenAll(_clients).WaitAsync(Deadline);
        }

        private async Task RunAsync(RedisHost host)
        {
            while (!_stop.IsCancellationRequested && Completed < MaxRequests)
            {
                try
                {
                    using var response = await host.Client.GetAsync("/page");
                    var body = await response.Content.ReadAsStringAsync();
                    if (!response.IsSuccessStatusCode || !body.StartsWith("page ", StringComparison.Ordinal))
                    {
                        Fail($"{(int)response.StatusCode} '{body}'");
                    }
                }
                catch (Exception ex)
                {
                    Fail(ex.ToString());
                }

                Interlocked.Increment(ref _completed);
            }
        }

        private void Fail(string what)
        {
            if (Interlocked.Increment(ref _failed) == 1)
            {
                FirstFailure = what;
            }
        }
    }
}
