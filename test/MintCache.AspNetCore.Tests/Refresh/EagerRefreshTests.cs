using System.Runtime.CompilerServices;
using Microsoft.AspNetCore.OutputCaching;
using Microsoft.Extensions.DependencyInjection;
using MintCache.AspNetCore.Tests.Fixtures;

namespace MintCache.AspNetCore.Tests.Refresh;

/// <summary>
/// Eager refresh through hosts sharing one backend: once a page has been fresh for its threshold of its freshness,
/// the next lookup on any host refreshes it in the background, once farm-wide (design.md §2 invariant 1), while
/// everyone, that request included, is still served the fresh page.
/// </summary>
public abstract class EagerRefreshTests
{
    private static readonly TimeSpan Fresh = TimeSpan.FromSeconds(3);

    // Refreshed from 3 s of 30 s: on Redis's real clock, a refresh that starts while the page is fresh stays there
    // for the 27 s the test may take to gate and store it, and the refreshed page is not refreshed again for 3 s.
    private static readonly TimeSpan ThresholdFresh = TimeSpan.FromSeconds(30);
    private const double Threshold = 0.1;

    private protected abstract Task<HostFarm> StartFarmAsync(FarmSetup setup, string test);

    [Theory]
    [InlineData(RefreshMode.Background)]
    [InlineData(RefreshMode.Foreground)]
    public async Task PastTheThreshold_OneEarlyRefreshFarmWide_EveryoneServedTheFreshPage(RefreshMode mode)
    {
        await using var farm = await StartAsync(o =>
        {
            o.RefreshMode = mode;
            o.EagerRefreshThreshold = Threshold;
        },
        fresh: ThresholdFresh);
        Assert.Equal("v1", await farm.A.Client.GetStringAsync("/page"));

        // Counted from here: the first render was a cold miss.
        using var metrics = new FarmMetrics(farm);
        if (farm.IsExact)
        {
            // Before the threshold: a plain hit, nothing claimed.
            await farm.PassAsync((ThresholdFresh * Threshold) - TimeSpan.FromTicks(1));
            Assert.Equal("v1", await farm.B.Client.GetStringAsync("/page"));
            Assert.Equal(0, metrics.Claim("won"));

            // At the threshold: the lookup wins the claim, is served the fresh page, and a copy refreshes it behind the gate.
            await farm.PassAsync(TimeSpan.FromTicks(1));
            Assert.Equal("v1", await farm.B.Client.GetStringAsync("/page"));
            await farm.Page.RegenerationStarted.WaitAsync(HostFarm.Deadline);
        }
        else
        {
            // Both hosts ask until one of them starts the refresh; every answer is the first page.
            await farm.WaitUntilAsync(
                async () =>
                {
                    Assert.Equal("v1", await farm.A.Client.GetStringAsync("/page"));
                    Assert.Equal("v1", await farm.B.Client.GetStringAsync("/page"));
                    return farm.Page.RegenerationStarted.IsCompleted;
                },
                "one host starts the early refresh");
        }

        for (var i = 0; i < 5; i++)
        {
            Assert.Equal("v1", await farm.Hosts[i % 2].Client.GetStringAsync("/page"));
        }

        Assert.Equal(2, farm.Page.Executions);
        Assert.Equal(1, metrics.Started("eager"));
        Assert.Equal(0, metrics.Started("background") + metrics.Started("foreground"));
        Assert.Equal(0, metrics.Lookup("hit", "stale") + metrics.Lookup("miss", "stale"));

        farm.Page.OpenGate();
        await farm.WaitUntilAsync(() => farm["EntryStored"] >= 2, "the refresh is stored");
        await farm.WaitUntilAsync(async () => await farm.B.Client.GetStringAsync("/page") == "v2", "host B serves the refreshed page");
        Assert.Equal("v2", await farm.A.Client.GetStringAsync("/page"));
        Assert.Equal(2, farm.Page.Executions);
        Assert.Equal(1, metrics.Claim("won"));

        if (farm.IsExact)
        {
            // The refreshed page starts a new period: fresh, and not refreshed again before its own threshold.
            await farm.PassAsync((ThresholdFresh * Threshold) - TimeSpan.FromTicks(1));
            Assert.Equal("v2", await farm.A.Client.GetStringAsync("/page"));
            Assert.Equal(2, farm.Page.Executions);
            Assert.Equal(1, metrics.Claim("won"));
        }
    }

    [Fact]
    public async Task NoTraffic_NoRefresh()
    {
        // No timer refreshes pages: only a lookup past the threshold does, so a page nobody asks for costs nothing.
        await using var farm = await StartAsync(o => o.EagerRefreshThreshold = 0.5);
        Assert.Equal("v1", await farm.A.Client.GetStringAsync("/page"));

        // Counted from here: the first render was a cold miss.
        using var metrics = new FarmMetrics(farm);
        await farm.PassAsync(Fresh * 0.9);
        Assert.All(farm.Hosts, h => Assert.Equal(0, h.Services.GetRequiredService<AspNetCore.Refresh.BackgroundRegenerator>().Running));
        Assert.Equal(1, farm.Page.Executions);
        Assert.Equal(0, metrics.Claim("won"));
    }

    [Theory]
    [InlineData("/page")]
    [InlineData("/mvc/page")]
    public async Task PolicyThreshold_OverridesTheOptions(string path)
    {
        // Options off, the policy on at half the freshness; the MVC action reaches the same named policy.
        await using var farm = await StartAsync(pagePolicy: p => p.EagerRefresh(0.5));
        farm.Page.OpenGate();
        Assert.Equal("v1", await farm.A.Client.GetStringAsync(path));
        await farm.PassAsync(Fresh / 2);

        // Still fresh: the lookup that starts the refresh is served the first page, as every other.
        Assert.Equal("v1", await farm.B.Client.GetStringAsync(path));
        await farm.WaitUntilAsync(
            async () =>
            {
                Assert.Contains(await farm.B.Client.GetStringAsync(path), new[] { "v1", "v2" });
                return farm.Page.Executions == 2;
            },
            "one host refreshes early");
        await farm.WaitUntilAsync(() => farm["EntryStored"] >= 2, "the refresh is stored");
        await farm.WaitUntilAsync(async () => await farm.A.Client.GetStringAsync(path) == "v2", "the refreshed page is served");
    }

    [Fact]
    public async Task NoFreeSlot_EagerClaimLeftFree_PageRefreshedWhenStaleAsWithout()
    {
        await using var farm = await StartAsync(o =>
        {
            o.RefreshMode = RefreshMode.Background;
            o.EagerRefreshThreshold = 0.5;
            o.MaxConcurrentRegenerations = 1;
        });
        var a = farm.A;
        farm.Page.UngatedExecutions = 2;
        Assert.Equal("v1", await a.Client.GetStringAsync("/page?id=1"));
        Assert.Equal("v2", await a.Client.GetStringAsync("/page?id=2"));
        await farm.PassAsync(Fresh / 2);

        // The first page's refresh takes host A's one slot; the second page's eager refresh finds none. Nobody renders
        // in the foreground for an eager refresh, so its claim is not taken (it would only be given back), however
        // often the page is asked for meanwhile.
        await farm.WaitUntilAsync(async () => await a.Client.GetStringAsync("/page?id=1") == "v1" && farm.Page.RegenerationStarted.IsCompleted, "the first page's refresh starts");
        using (var metrics = new FarmMetrics(farm))
        {
            for (var i = 0; i < 3; i++)
            {
                Assert.Equal("v2", await a.Client.GetStringAsync("/page?id=2"));
            }

            Assert.Equal(0, metrics.Claim("won"));
            Assert.Equal(0, a.Logs["RegenerationSlotsFull"]);
        }

        Assert.Equal(3, farm.Page.Executions);

        farm.Page.OpenGate();
        await farm.WaitUntilAsync(() => farm["EntryStored"] >= 3, "the first page's refresh is stored");
        await farm.WaitUntilAsync(() => a.Services.GetRequiredService<AspNetCore.Refresh.BackgroundRegenerator>().Running == 0, "the slot is free");
        await farm.WaitUntilAsync(async () => await a.Client.GetStringAsync("/page?id=2") == "v4", "the second page is refreshed");

        // Logged once the store returns, which may be after another request already read the page it wrote.
        await farm.WaitUntilAsync(() => farm["EntryStored"] >= 4, "the second page's refresh is logged");
        Assert.Equal(4, farm["EntryStored"]);
    }

    private Task<HostFarm> StartAsync(
        Action<MintCacheOptions>? configure = null,
        Action<OutputCachePolicyBuilder>? pagePolicy = null,
        TimeSpan? fresh = null,
        [CallerMemberName] string test = "")
        => StartFarmAsync(
            new FarmSetup
            {
                ConfigureMint = o =>
                {
                    o.Grace = TimeSpan.FromMinutes(1);
                    configure?.Invoke(o);
                },
                PagePolicy = pagePolicy,
                Fresh = fresh ?? Fresh,
            },
            test);
}
