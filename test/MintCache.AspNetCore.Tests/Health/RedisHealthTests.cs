using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using MintCache.AspNetCore.Tests.Fixtures;

namespace MintCache.AspNetCore.Tests.Health;

/// <summary>The health check on Redis probes it: Degraded from start-up while it cannot be reached, with no traffic needed.</summary>
[Collection(RedisCollection.Name)]
public sealed class RedisHealthTests(RedisServerFixture redis)
{
    [Fact]
    public async Task RedisUnreachableFromStartUp_NoTraffic_DegradedWithinTheBound()
    {
        await using var services = Services($"127.0.0.1:{UnusedPort()},connectTimeout=500");
        var clock = Stopwatch.StartNew();

        var report = await services.GetRequiredService<HealthCheckService>().CheckHealthAsync();

        Assert.Equal(HealthStatus.Degraded, report.Status);
        Assert.Equal(false, report.Entries["mintcache"].Data["reachable"]);
        Assert.InRange(clock.Elapsed, TimeSpan.Zero, TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task RedisAnswers_Healthy()
    {
        await using var services = Services(redis.Endpoint);

        var report = await services.GetRequiredService<HealthCheckService>().CheckHealthAsync();

        Assert.Equal(HealthStatus.Healthy, report.Status);
        Assert.Equal(true, report.Entries["mintcache"].Data["reachable"]);
    }

    [Fact]
    public void FailureStatusAndTimeout_ReachTheRegistration()
    {
        var services = new ServiceCollection().AddLogging();
        services.AddOutputCache().AddMintStore();
        services.AddHealthChecks().AddMintCache(failureStatus: HealthStatus.Unhealthy, timeout: TimeSpan.FromSeconds(3));
        using var provider = services.BuildServiceProvider();

        var registration = Assert.Single(provider.GetRequiredService<IOptions<HealthCheckServiceOptions>>().Value.Registrations);
        Assert.Equal(HealthStatus.Unhealthy, registration.FailureStatus);
        Assert.Equal(TimeSpan.FromSeconds(3), registration.Timeout);
    }

    private static ServiceProvider Services(string endpoint)
    {
        var services = new ServiceCollection().AddLogging();
        services.AddOutputCache().AddMintStore(o =>
        {
            o.Redis = endpoint;
            o.RedisOperationTimeout = TimeSpan.FromSeconds(2);
        });
        services.AddHealthChecks().AddMintCache();
        return services.BuildServiceProvider();
    }

    private static int UnusedPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
