using Microsoft.AspNetCore.OutputCaching;
using Microsoft.Extensions.DependencyInjection;
using MintCache.AspNetCore.Tests.Fixtures;

namespace MintCache.AspNetCore.Tests.Refresh;

/// <summary>
/// Eager refresh: once a page has been fresh for its threshold of its freshness, the next lookup refreshes it in the
/// background while everyone, that request included, is still served the fresh page.
/// </summary>
public sealed class EagerRefreshTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    [Theory]
    [InlineData(RefreshMode.Background)]
    [InlineData(RefreshMode.Foreground)]
    public async Task PastTheThreshold_OneBackgroundRefresh_EveryoneServedTheFreshPage(RefreshMode mode)
    {
        await using var app = await TestApp.StartAsync(o =>
        {
            o.RefreshMode = mode;
            o.EagerRefreshThreshold = 0.8;
        });
        using var metrics = new MintMetrics(app.Services);
        Assert.Equal("v1", await app.Client.GetStringAsync("/page"));

        // Before the threshold (8 s of a 10 s freshness): a plain hit, nothing claimed.
        app.Time.Advance(TimeSpan.FromSeconds(8) - TimeSpan.FromTicks(1));
        Assert.Equal("v1", await app.Client.GetStringAsync("/page"));
        Assert.Equal(0, metrics.Claim("won"));

        // At the threshold: the lookup wins the claim, is served the fresh page, and a copy refreshes it behind the gate.
        app.Time.Advance(TimeSpan.FromTicks(1));
        Assert.Equal("v1", await app.Client.GetStringAsync("/page"));
        await app.Page.RegenerationStarted.WaitAsync(Deadline);
        for (var i = 0; i < 5; i++)
        {
            Assert.Equal("v1", await app.Client.GetStringAsync("/page"));
        }

        Assert.Equal(2, app.Page.Executions);
        Assert.Equal(1, metrics.Started("eager"));
        Assert.Equal(0, metrics.Started("background") + metrics.Started("foreground"));
        Assert.Equal(0, metrics.Lookup("hit", "stale") + metrics.Lookup("miss", "stale"));

        app.Page.OpenGate();
        await app.Logs.WaitUntilAsync(l => l["EntryStored"] >= 2, Deadline);
        Assert.Equal("v2", await app.Client.GetStringAsync("/page"));

        // The refreshed page starts a new period: fresh, and not refreshed again before its own threshold.
        app.Time.Advance(TimeSpan.FromSeconds(7));
        Assert.Equal("v2", await app.Client.GetStringAsync("/page"));
        Assert.Equal(2, app.Page.Executions);
        Assert.Equal(1, metrics.Claim("won"));
    }

    [Fact]
    public async Task NoTraffic_NoRefresh()
    {
        // No timer refreshes pages: only a lookup past the threshold does, so a page nobody asks for costs nothing.
        await using var app = await TestApp.StartAsync(o => o.EagerRefreshThreshold = 0.5);
        using var metrics = new MintMetrics(app.Services);
        Assert.Equal("v1", await app.Client.GetStringAsync("/page"));
        app.Time.Advance(TimeSpan.FromSeconds(9));
        Assert.Equal(0, app.Services.GetRequiredService<AspNetCore.Refresh.BackgroundRegenerator>().Running);
        Assert.Equal(1, app.Page.Executions);
        Assert.Equal(0, metrics.Claim("won"));
    }

    [Theory]
    [InlineData("/page")]
    [InlineData("/mvc/page")]
    public async Task PolicyThreshold_OverridesTheOptions(string path)
    {
        // Options off, the policy on at half the freshness; the MVC action reaches the same named policy.
        await using var app = await TestApp.StartAsync(pagePolicy: p => p.EagerRefresh(0.5));
        app.Page.OpenGate();
        Assert.Equal("v1", await app.Client.GetStringAsync(path));
        app.Time.Advance(TimeSpan.FromSeconds(5));
        Assert.Equal("v1", await app.Client.GetStringAsync(path));
        await app.Logs.WaitUntilAsync(l => l["EntryStored"] >= 2, Deadline);
        Assert.Equal("v2", await app.Client.GetStringAsync(path));
    }

    [Fact]
    public async Task NoFreeSlot_ClaimGivenBack_PageRefreshedWhenStaleAsWithout()
    {
        await using var app = await TestApp.StartAsync(o =>
        {
            o.RefreshMode = RefreshMode.Background;
            o.EagerRefreshThreshold = 0.5;
            o.MaxConcurrentRegenerations = 1;
        });
        app.Page.UngatedExecutions = 2;
        Assert.Equal("v1", await app.Client.GetStringAsync("/page?id=1"));
        Assert.Equal("v2", await app.Client.GetStringAsync("/page?id=2"));
        app.Time.Advance(TimeSpan.FromSeconds(5));

        // The first page's refresh takes the one slot; the second page's eager claim finds none: nobody renders in
        // the foreground for an eager refresh, and the claim is free again at once.
        Assert.Equal("v1", await app.Client.GetStringAsync("/page?id=1"));
        await app.Page.RegenerationStarted.WaitAsync(Deadline);
        Assert.Equal("v2", await app.Client.GetStringAsync("/page?id=2"));
        Assert.Equal(3, app.Page.Executions);
        Assert.Equal(1, app.Logs["RegenerationSlotsFull"]);

        app.Page.OpenGate();
        await app.Logs.WaitUntilAsync(l => l["EntryStored"] >= 3, Deadline);
        await Eventually.HoldsAsync(() => app.Services.GetRequiredService<AspNetCore.Refresh.BackgroundRegenerator>().Running == 0, Deadline, "the slot is free");
        Assert.Equal("v2", await app.Client.GetStringAsync("/page?id=2"));
        await app.Logs.WaitUntilAsync(l => l["EntryStored"] >= 4, Deadline);
        Assert.Equal("v4", await app.Client.GetStringAsync("/page?id=2"));
    }
}
