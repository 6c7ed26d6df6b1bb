using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using Microsoft.Extensions.Options;
using MintCache.AspNetCore.Diagnostics;
using MintCache.AspNetCore.Tests.Fixtures;
using MintCache.Testing;

namespace MintCache.AspNetCore.Tests.Health;

/// <summary>The health check on Redis probes it: Degraded from start-up while it cannot be reached, with no traffic needed.</summary>
public sealed class RedisHealthTests(RedisServerFixture redis) : IClassFixture<RedisServerFixture>
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

    [Theory]
    [InlineData("allkeys-lru")]
    [InlineData("volatile-lru")]
    public async Task EvictionPolicyReachingPurgeKeys_DegradedNamingIt_OneWarningAtStartUp(string policy)
    {
        // volatile-*: the managed-Redis default. Tag sets and revocations carry TTLs, so they are eviction candidates.
        var executable = LocalRedisServer.FindExecutable();
        Assert.True(executable is not null, "redis-server is not installed.");
        using var server = await LocalRedisServer.StartAsync(executable, LocalRedisServer.FreeLoopbackPort(), arguments: ["--maxmemory", "40mb", "--maxmemory-policy", policy]);
        await using var services = Services(server.Endpoint, fakeLogs: true);
        var checks = services.GetRequiredService<HealthCheckService>();

        var report = await checks.CheckHealthAsync();
        await checks.CheckHealthAsync();

        // Redis may evict the keys purges and fences rely on: the farm shares a cache that may forget a purge.
        Assert.Equal(HealthStatus.Degraded, report.Status);
        Assert.Contains(policy, report.Entries["mintcache"].Description, StringComparison.Ordinal);
        Assert.Equal(policy, report.Entries["mintcache"].Data["memoryPolicy"]);
        Assert.Equal(true, report.Entries["mintcache"].Data["reachable"]);
        var logs = services.GetRequiredService<FakeLogCollector>();
        var warning = Assert.Single(logs.GetSnapshot(), r => r.Id.Id == Log.IdRedisMemoryPolicyEvicts);
        Assert.Equal(LogLevel.Warning, warning.Level);
        Assert.Contains(policy, warning.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("40mb", "noeviction")]
    [InlineData("0", "volatile-lru")] // no memory limit: Redis never evicts, whatever the policy says
    public async Task NothingEvicted_Healthy_ReadsNoEviction(string maxMemory, string policy)
    {
        var executable = LocalRedisServer.FindExecutable();
        Assert.True(executable is not null, "redis-server is not installed.");
        using var server = await LocalRedisServer.StartAsync(executable, LocalRedisServer.FreeLoopbackPort(), arguments: ["--maxmemory", maxMemory, "--maxmemory-policy", policy]);
        await using var services = Services(server.Endpoint, fakeLogs: true);

        var report = await services.GetRequiredService<HealthCheckService>().CheckHealthAsync();

        Assert.Equal(HealthStatus.Healthy, report.Status);
        Assert.Equal("noeviction", report.Entries["mintcache"].Data["memoryPolicy"]);
        Assert.DoesNotContain(services.GetRequiredService<FakeLogCollector>().GetSnapshot(), r => r.Id.Id == Log.IdRedisMemoryPolicyEvicts);
    }

    [Fact]
    public async Task MemoryPolicyNotReadable_HealthyAndSaidAtDebug()
    {
        // A user whose ACL refuses INFO (managed services refuse CONFIG, and allow INFO: this is rarer).
        var user = "noinfo-" + Guid.NewGuid().ToString("N")[..8];
        await redis.Database.ExecuteAsync("ACL", "SETUSER", user, "on", ">secret", "~*", "&*", "+@all", "-info");
        try
        {
            await using var services = Services($"{redis.Endpoint},user={user},password=secret", fakeLogs: true);

            var report = await services.GetRequiredService<HealthCheckService>().CheckHealthAsync();

            Assert.Equal(HealthStatus.Healthy, report.Status);
            var logs = services.GetRequiredService<FakeLogCollector>();
            var debug = Assert.Single(logs.GetSnapshot(), r => r.Id.Id == Log.IdRedisMemoryPolicyUnknown);
            Assert.Equal(LogLevel.Debug, debug.Level);
        }
        finally
        {
            await redis.Database.ExecuteAsync("ACL", "DELUSER", user);
        }
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

    private static ServiceProvider Services(string endpoint, bool fakeLogs = false)
    {
        var services = new ServiceCollection().AddLogging(b =>
        {
            if (fakeLogs)
            {
                b.AddFakeLogging().SetMinimumLevel(LogLevel.Debug);
            }
        });
        services.AddOutputCache().AddMintStore(o =>
        {
            o.Redis.Configuration = endpoint;
            o.Redis.OperationTimeout = TimeSpan.FromSeconds(2);
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
