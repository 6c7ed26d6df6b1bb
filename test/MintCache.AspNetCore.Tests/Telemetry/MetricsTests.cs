using System.Net;
using MintCache.AspNetCore.Tests.Fixtures;
using Xunit.Abstractions;

namespace MintCache.AspNetCore.Tests.Telemetry;

/// <summary>MintCache's metrics, read with MetricCollector through a real host.</summary>
[Collection(SerialCollection.Name)]
public sealed class MetricsTests(ITestOutputHelper output)
{
    private const int StormSize = 200;

    // How many store lookups serve a storm varies with how the middleware shares concurrent lookups (139 to 199 seen
    // under load), and so does how many requests share the one answered "miss" and wait: the metrics count store
    // answers, and those are exact.
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task StaleStorm_Metrics_OneClaimWonOneRegenerationStoredRestServedStale()
    {
        await using var app = await TestApp.StartAsync(o => o.Grace = TimeSpan.FromMinutes(1));

        // Warmed as the other storms are, so that the first claim's JIT does not widen the lookup that answers "miss".
        await app.WarmUpClaimPathAsync("/page");
        app.Time.Advance(TestApp.Fresh);
        using var metrics = new MintMetrics(app.Services);
        app.Logs.Reset();

        var storm = Enumerable.Range(0, StormSize).Select(_ => app.Client.GetAsync("/page")).ToArray();
        await app.Logs.WaitUntilAsync(l => l["CachedResponseServed"] + l["NoResponseServed"] >= StormSize, Deadline);
        await app.Page.RegenerationStarted.WaitAsync(Deadline);
        app.Page.OpenGate();
        var responses = await Task.WhenAll(storm).WaitAsync(Deadline);
        Assert.All(responses, r => Assert.Equal(HttpStatusCode.OK, r.StatusCode));
        await metrics.WaitUntilAsync(m => m.Regeneration("stored") >= 1, Deadline);
        output.WriteLine($"storm of {StormSize}: {metrics.Describe()}; middleware: {app.Logs["CachedResponseServed"]} served from cache, {app.Logs["NoResponseServed"]} not");

        Assert.Equal(1, metrics.Claim("won"));
        Assert.Equal(1, metrics.Lookup("miss", "stale"));
        Assert.Equal(1, metrics.Started("foreground"));
        Assert.Equal(1, metrics.Regeneration("stored"));
        Assert.Equal(0, metrics.Regeneration("failed") + metrics.Regeneration("lapsed"));
        Assert.Equal(0, metrics.Lookup("hit", "fresh") + metrics.Lookup("miss", "absent"));

        // Every stale lookup lost the claim. The middleware shares one lookup among the requests that arrive while it
        // runs, so requests are served by another's lookup: lookups count store answers, not requests. Every request
        // may have shared the one answered "miss" (its thread descheduled on a busy machine; LockingOffTests saw 199
        // of 200), so no request need have been served from the cache.
        var stale = metrics.Lookup("hit", "stale");
        Assert.Equal(stale, metrics.Claim("lost"));
        Assert.InRange(app.Logs["CachedResponseServed"], 0, StormSize - 1);
        Assert.InRange(stale, 0, app.Logs["CachedResponseServed"]);
        Assert.True(stale > 0 || app.Logs["CachedResponseServed"] == 0, "requests served from the cache without a stale lookup");

        // The store was timed; the memory backend's lookups are not (they take nanoseconds, on the hit path, and are
        // counted by mintcache.lookups); nothing failed.
        Assert.Empty(metrics.BackendErrors.GetMeasurementSnapshot());
        Assert.Single(metrics.BackendDuration.GetMeasurementSnapshot());
        Assert.All(
            metrics.Lookups.GetMeasurementSnapshot(),
            m => Assert.Equal(["mintcache.backend", "mintcache.entry.state", "mintcache.result"], m.Tags.Keys.Order()));
    }

    [Fact]
    public async Task FailedRegeneration_Metrics_CountedFailedAndAbsentAfterGrace()
    {
        await using var app = await TestApp.StartAsync(o => o.Grace = TimeSpan.FromSeconds(30));
        app.Page.Outcome = RegenerationOutcome.ServerError;
        await app.Client.GetStringAsync("/page");
        app.Time.Advance(TestApp.Fresh);
        using var metrics = new MintMetrics(app.Services);

        app.Page.OpenGate();
        var failed = await app.Client.GetAsync("/page");
        Assert.Equal(HttpStatusCode.InternalServerError, failed.StatusCode);
        await metrics.WaitUntilAsync(m => m.Regeneration("failed") == 1, Deadline);

        app.Time.Advance(TimeSpan.FromMinutes(5));
        await app.Client.GetAsync("/page");
        output.WriteLine(metrics.Describe());

        Assert.Equal(1, metrics.Regeneration("failed"));
        Assert.Equal(1, metrics.Lookup("miss", "stale"));
        Assert.Equal(1, metrics.Lookup("miss", "absent"));
        Assert.Equal(2, metrics.Lookups.GetMeasurementSnapshot().Sum(m => m.Value));
    }

    [Fact]
    public async Task BackgroundRefresh_Metrics_CountsStartedRegeneration()
    {
        await using var app = await TestApp.StartAsync(o =>
        {
            o.Grace = TimeSpan.FromMinutes(1);
            o.RefreshMode = RefreshMode.Background;
        });
        await app.Client.GetStringAsync("/page");
        app.Time.Advance(TestApp.Fresh);
        using var metrics = new MintMetrics(app.Services);

        Assert.Equal("v1", await app.Client.GetStringAsync("/page"));
        await app.Page.RegenerationStarted.WaitAsync(Deadline);
        app.Page.OpenGate();
        await metrics.WaitUntilAsync(m => m.Regeneration("stored") == 1, Deadline);
        output.WriteLine(metrics.Describe());

        Assert.Equal(1, metrics.Started("background"));
        Assert.Equal(0, metrics.Started("foreground"));
        Assert.Equal(1, metrics.Claim("won"));
        Assert.Equal(1, metrics.Lookup("hit", "stale"));
        Assert.Equal(0, metrics.Lookup("miss", "stale") + metrics.Lookup("miss", "absent"));
    }
}
