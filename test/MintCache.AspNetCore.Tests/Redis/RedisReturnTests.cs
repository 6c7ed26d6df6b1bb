using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using MintCache.AspNetCore.Diagnostics;
using MintCache.AspNetCore.Tests.Fixtures;

namespace MintCache.AspNetCore.Tests.Redis;

/// <summary>
/// The way to and from Redis: a process comes back as soon as Redis answers, not when its circuit's break runs out, and
/// a connection that cannot be made never holds a request longer than the operation timeout.
/// </summary>
[Collection(RedisCollection.Name)]
public sealed class RedisReturnTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task CircuitOpenForAMinute_RedisBack_ProcessReturnsWithoutWaitingForTheBreak()
    {
        using var server = await RedisServerFixture.StartDedicatedAsync();
        var endpoint = new GatedEndpoint();
        await using var host = await RedisHost.StartAsync(server.Endpoint, RedisHost.UniquePrefix(), endpoint, TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(1), static o =>
        {
            o.Redis.OperationTimeout = TimeSpan.FromSeconds(2);
            o.Redis.BreakDuration = TimeSpan.FromMinutes(1);
            o.Redis.MinimumThroughput = 2;
        });
        Assert.Equal("page 1", await host.Client.GetStringAsync("/page"));

        // Redis dies: calls fail until the breaker opens for a minute, and the process serves from local memory.
        server.Kill();
        await Eventually.HoldsAsync(
            async () =>
            {
                await host.Client.GetStringAsync("/other");
                return host.CountLogs(Log.IdRedisCircuitOpened) >= 1;
            },
            Deadline,
            "the circuit opens");
        Assert.True(host.Backend.IsDegraded);

        // Redis answers again long before the break runs out: the next requests go to Redis and the process is back.
        var restart = Stopwatch.StartNew();
        await server.StartAsync();
        await Eventually.HoldsAsync(
            async () =>
            {
                await host.Client.GetStringAsync("/other");
                return !host.Backend.IsDegraded;
            },
            Deadline,
            "the process is back on Redis");
        Assert.True(restart.Elapsed < TimeSpan.FromMinutes(1), "the process waited for the break to run out");
        Assert.Equal(HealthStatus.Healthy, (await host.Backend.CheckHealthAsync(default)).Status);
        Assert.Equal(1, host.CountLogs(Log.IdRedisRestored));
    }

    [Fact]
    public async Task SilentServer_FirstRequestNotHeldByTheConnection_ServedFromLocalMemory()
    {
        // A loopback port that accepts connections and never answers: the handshake hangs for the whole connect
        // timeout (30 s here). The request waits at most the operation timeout for it, then renders and is stored locally.
        using var silent = new TcpListener(IPAddress.Loopback, 0);
        silent.Start();
        var accepted = new List<TcpClient>();
        using var accepting = new CancellationTokenSource();
        var acceptLoop = Task.Run(async () =>
        {
            while (!accepting.IsCancellationRequested)
            {
                accepted.Add(await silent.AcceptTcpClientAsync(accepting.Token));
            }
        });
        try
        {
            var port = ((IPEndPoint)silent.LocalEndpoint).Port;
            var endpoint = new GatedEndpoint();
            await using var host = await RedisHost.StartAsync($"127.0.0.1:{port},connectTimeout=30000", RedisHost.UniquePrefix(), endpoint, TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(1), static o =>
                o.Redis.OperationTimeout = TimeSpan.FromSeconds(1));

            var clock = Stopwatch.StartNew();
            Assert.Equal("page 1", await host.Client.GetStringAsync("/page"));
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(15), $"the first request waited {clock.Elapsed} for a connection that never came");
            Assert.True(host.Backend.IsDegraded);
            Assert.Equal("page 1", await host.Client.GetStringAsync("/page"));
            Assert.Equal(1, endpoint.Executions);
            Assert.Equal(HealthStatus.Degraded, (await host.Backend.CheckHealthAsync(default)).Status);
        }
        finally
        {
            await accepting.CancelAsync();
            await Task.WhenAny(acceptLoop);
            foreach (var client in accepted)
            {
                client.Dispose();
            }
        }
    }
}
