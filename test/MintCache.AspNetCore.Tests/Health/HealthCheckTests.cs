using System.Buffers;
using Microsoft.AspNetCore.OutputCaching;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using Microsoft.Extensions.Options;
using MintCache.AspNetCore.Backends;
using MintCache.AspNetCore.Entries;
using MintCache.AspNetCore.Store;

namespace MintCache.AspNetCore.Tests.Health;

/// <summary>The health check registered by <c>AddHealthChecks().AddMintCache()</c>, and option binding.</summary>
public sealed class HealthCheckTests
{
    [Fact]
    public async Task AddMintCache_MemoryBackend_Healthy()
    {
        var report = await CheckAsync(backend: null);

        var entry = Assert.Single(report.Entries);
        Assert.Equal("mintcache", entry.Key);
        Assert.Equal(HealthStatus.Healthy, entry.Value.Status);
        Assert.Equal("memory", entry.Value.Data["backend"]);
    }

    [Fact]
    public async Task AddMintCache_BackendReportsFallback_Degraded()
    {
        var degraded = HealthCheckResult.Degraded(
            "Redis unreachable; serving from the local fallback.",
            data: new Dictionary<string, object> { ["backend"] = "redis", ["reachable"] = false, ["circuit"] = "open", ["fallbackActive"] = true });

        var report = await CheckAsync(new ReportingBackend(() => degraded));

        Assert.Equal(HealthStatus.Degraded, report.Status);
        Assert.Equal("open", report.Entries["mintcache"].Data["circuit"]);
    }

    [Fact]
    public async Task AddMintCache_BackendHealthThrows_DegradedNotUnhealthy()
    {
        var report = await CheckAsync(new ReportingBackend(() => throw new InvalidOperationException("broken")));

        Assert.Equal(HealthStatus.Degraded, report.Status);
        Assert.IsType<InvalidOperationException>(report.Entries["mintcache"].Exception);
    }

    [Fact]
    public async Task AddMintCache_StatusChanges_LoggedOncePerChangeNotPerProbe()
    {
        var status = HealthStatus.Healthy;
        var services = new ServiceCollection().AddLogging(b => b.AddFakeLogging());
        services.AddSingleton<IMintBackend>(new ReportingBackend(() => new HealthCheckResult(status, $"now {status}")));
        services.AddOutputCache().AddMintStore();
        services.AddHealthChecks().AddMintCache();
        await using var provider = services.BuildServiceProvider();
        var health = provider.GetRequiredService<HealthCheckService>();
        var logs = provider.GetRequiredService<FakeLogCollector>();
        int Changes() => logs.GetSnapshot().Count(r => r.Id.Id == AspNetCore.Diagnostics.Log.IdBackendHealthChanged);

        await health.CheckHealthAsync();
        Assert.Equal(0, Changes());

        status = HealthStatus.Degraded;
        await health.CheckHealthAsync();
        await health.CheckHealthAsync();
        Assert.Equal(1, Changes());
        Assert.Equal(LogLevel.Warning, logs.LatestRecord.Level);

        status = HealthStatus.Healthy;
        await health.CheckHealthAsync();
        await health.CheckHealthAsync();
        Assert.Equal(2, Changes());
        Assert.Equal(LogLevel.Information, logs.LatestRecord.Level);
    }

    [Fact]
    public void Options_EveryOption_BindsFromTheMintCacheSection()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["MintCache:Grace"] = "00:02:00",
            ["MintCache:LeaseDuration"] = "00:00:20",
            ["MintCache:FailureBackoff"] = "00:00:03",
            ["MintCache:RefreshMode"] = "Background",
            ["MintCache:MaxConcurrentRegenerations"] = "8",
            ["MintCache:RegenerationTimeout"] = "00:01:00",
            ["MintCache:FailSafe"] = "01:00:00",
            ["MintCache:Redis:KeyPrefix"] = "app1:",
            ["MintCache:CacheStatusHeader"] = "true",
        }).Build();
        using var services = new ServiceCollection().AddLogging().AddSingleton<IConfiguration>(configuration)
            .AddOutputCache().AddMintStore().BuildServiceProvider();

        var options = services.GetRequiredService<IOptions<MintCacheOptions>>().Value;

        Assert.Equal(TimeSpan.FromMinutes(2), options.Grace);
        Assert.Equal(TimeSpan.FromSeconds(20), options.LeaseDuration);
        Assert.Equal(TimeSpan.FromSeconds(3), options.FailureBackoff);
        Assert.Equal(RefreshMode.Background, options.RefreshMode);
        Assert.Equal(8, options.MaxConcurrentRegenerations);
        Assert.Equal(TimeSpan.FromMinutes(1), options.RegenerationTimeout);
        Assert.Equal(TimeSpan.FromHours(1), options.FailSafe);
        Assert.Equal("app1:", options.Redis.KeyPrefix);
        Assert.True(options.CacheStatusHeader);
    }

    private static async Task<HealthReport> CheckAsync(IMintBackend? backend)
    {
        var services = new ServiceCollection().AddLogging();
        if (backend is not null)
        {
            // Registered first: AddMintStore only try-adds its memory backend.
            services.AddSingleton(backend);
        }

        services.AddOutputCache().AddMintStore();
        services.AddHealthChecks().AddMintCache();
        await using var provider = services.BuildServiceProvider();
        return await provider.GetRequiredService<HealthCheckService>().CheckHealthAsync();
    }

    /// <summary>A backend that only reports health, as the Redis backend will.</summary>
    private sealed class ReportingBackend(Func<HealthCheckResult> report) : IMintBackend, IBackendHealth
    {
        public string Name => "redis";

        public ValueTask<HealthCheckResult> CheckHealthAsync(CancellationToken cancellationToken) => ValueTask.FromResult(report());

        public ValueTask<BackendLookup> LookupAsync(string key, TimeSpan leaseDuration, CancellationToken cancellationToken) => throw new NotSupportedException();

        public long EvictionMark => 0;

        public ValueTask<StoreOutcome> SetAsync(string key, ReadOnlySequence<byte> page, string[] tags, EntryLifetime lifetime, StoreFence fence, CancellationToken cancellationToken) => throw new NotSupportedException();

        public ValueTask<ClaimRenewal> RenewClaimAsync(string key, ClaimTicket claim, TimeSpan leaseDuration, CancellationToken cancellationToken) => throw new NotSupportedException();

        public ValueTask ReleaseClaimAsync(string key, ClaimTicket claim, TimeSpan retryAfter, bool failed, CancellationToken cancellationToken) => throw new NotSupportedException();

        public ValueTask<bool> WaitForEntryAsync(string key, BackendLookup lookup, TimeSpan timeout, CancellationToken cancellationToken)
            => ValueTask.FromResult(false);

        public ValueTask EvictByTagAsync(string tag, bool soft, CancellationToken cancellationToken) => throw new NotSupportedException();

        public ValueTask EvictKeyAsync(string key, CancellationToken cancellationToken) => throw new NotSupportedException();

        public ValueTask ClearAsync(bool soft, CancellationToken cancellationToken) => throw new NotSupportedException();
    }
}
