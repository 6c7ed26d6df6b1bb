using System.Diagnostics;
using System.Runtime.CompilerServices;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.OutputCaching;
using Microsoft.Extensions.DependencyInjection;
using MintCache.AspNetCore.Tests.Fixtures;

namespace MintCache.AspNetCore.Tests.Concurrency;

/// <summary>
/// design.md §2, invariants 2 and 8, through real hosts sharing one backend: a regeneration that began before an
/// eviction on any host, or under a claim another host took over since, never puts its older page back in service; a
/// live holder's claim is renewed, and a stopped host's claim lapses after one lease.
/// </summary>
public abstract class NeverAnOlderPageTests
{
    private static readonly TimeSpan Deadline = HostFarm.Deadline;

    // A live holder renews every third of a lease: on Redis (real time) a lease of 1 s lapsed once on 2 busy cores, when
    // the thread pool ran the renewal more than 667 ms late. 3 s tolerates a 2 s stall and still lapses a dead holder fast.
    private static readonly TimeSpan Lease = TimeSpan.FromSeconds(3);

    private protected abstract Task<HostFarm> StartFarmAsync(FarmSetup setup, string test);

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task LateStoreUnderClaimTakenOverByOtherHost_IsRefused_NewerPageStays(bool newHolderStoresFirst)
    {
        var page = new VersionedPage();

        // A stuck holder: its heartbeat stops at the regeneration timeout, then its claim lapses after one lease.
        await using var farm = await StartAsync(page, o => o.RegenerationTimeout = Lease);
        Assert.Equal("data 1", await farm.A.Client.GetStringAsync("/news"));
        await farm.Mint(farm.A).MarkStaleByTagAsync("news");

        page.Data = 2;
        var holdA = page.HoldNext();
        var a = await StartHeldAsync(farm.A, holdA);

        // Past the timeout and one lease, B takes the claim over and renders the newer data.
        await farm.PassAsync(Lease + Lease + TimeSpan.FromMilliseconds(100));
        page.Data = 3;
        var holdB = page.HoldNext();
        var b = await StartHeldAsync(farm.B, holdB);
        if (newHolderStoresFirst)
        {
            holdB.Release();
            Assert.Equal("data 3", await b.WaitAsync(Deadline));
            await farm.WaitUntilAsync(() => farm.B.Logs["EntryStored"] == 1, "B's store is accepted");
        }

        // A stores late: the claim is B's now, whether or not B has stored yet.
        holdA.Release();
        Assert.Equal("data 2", await a.WaitAsync(Deadline));
        await farm.WaitUntilAsync(() => farm.A.Logs["FencedWriteRefused"] == 1, "A's late store is refused");
        Assert.NotEqual("data 2", await farm.A.Client.GetStringAsync("/news"));

        holdB.Release();
        Assert.Equal("data 3", await b.WaitAsync(Deadline));
        await farm.WaitUntilAsync(() => farm.B.Logs["EntryStored"] == 1, "B's store is accepted");
        Assert.Equal("data 3", await farm.A.Client.GetStringAsync("/news"));
        Assert.Equal("data 3", await farm.B.Client.GetStringAsync("/news"));
        Assert.Equal(0, farm.B.Logs["FencedWriteRefused"]);
        Assert.Equal(3, page.Executions);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task EvictionOnOtherHostDuringRegeneration_OlderPageNeverServedFresh(bool soft)
    {
        var page = new VersionedPage();
        await using var farm = await StartAsync(page);
        Assert.Equal("data 1", await farm.A.Client.GetStringAsync("/news"));
        await farm.GoStaleAsync();

        var hold = page.HoldNext();
        var regeneration = await StartHeldAsync(farm.A, hold);

        // The data changes while the page is regenerated from the old data, and the app evicts on the other host.
        page.Data = 2;
        await Evict(farm.Mint(farm.B), soft);
        hold.Release();
        Assert.Equal("data 1", await regeneration.WaitAsync(Deadline));
        await farm.WaitUntilAsync(() => farm.A.Logs["FencedWriteRefused"] == 1, "the regeneration's store is refused");

        if (farm.IsExact)
        {
            // The next request renders the new data (a miss after a hard eviction, a claim after a soft one).
            Assert.Equal("data 2", await farm.A.Client.GetStringAsync("/news"));
            Assert.Equal("data 2", await farm.A.Client.GetStringAsync("/news"));
            Assert.Equal(3, page.Executions);
        }

        // From now on data 1 is never served as fresh: at most stale (its Age past its freshness) until data 2 is in.
        await farm.WaitUntilAsync(
            async () =>
            {
                foreach (var host in farm.Hosts)
                {
                    var response = await host.Client.GetAsync("/news");
                    var body = await response.Content.ReadAsStringAsync();
                    if (body == "data 1")
                    {
                        Assert.True(response.Headers.Age >= farm.Fresh, $"data 1 served as fresh (Age {response.Headers.Age})");
                        return false;
                    }

                    Assert.Equal("data 2", body);
                }

                return true;
            },
            "every host serves data 2");
    }

    [Fact]
    public async Task HardEvictionOnOtherHostDuringColdMissRender_RenderedOlderPageNotStored()
    {
        var page = new VersionedPage();
        await using var farm = await StartAsync(page);
        var hold = page.HoldNext();
        var first = farm.A.Client.GetStringAsync("/news");
        await hold.Started.WaitAsync(Deadline);

        page.Data = 2;
        await farm.Mint(farm.B).EvictByTagAsync("news");
        hold.Release();
        Assert.Equal("data 1", await first.WaitAsync(Deadline));
        await farm.WaitUntilAsync(() => farm.A.Logs["FencedWriteRefused"] == 1, "the cold render's store is refused");

        Assert.Equal("data 2", await farm.B.Client.GetStringAsync("/news"));
        Assert.Equal("data 2", await farm.A.Client.GetStringAsync("/news"));
        Assert.Equal("data 2", await farm.A.Client.GetStringAsync("/news"));
        Assert.Equal(2, page.Executions);
    }

    [Fact]
    public async Task EvictionOfAnotherTag_DoesNotRefuseTheStore()
    {
        var page = new VersionedPage();
        await using var farm = await StartAsync(page);
        Assert.Equal("data 1", await farm.A.Client.GetStringAsync("/news"));
        await farm.GoStaleAsync();

        var hold = page.HoldNext();
        page.Data = 2;
        var regeneration = await StartHeldAsync(farm.A, hold);
        await farm.Mint(farm.B).EvictByTagAsync("sport");
        hold.Release();
        Assert.Equal("data 2", await regeneration.WaitAsync(Deadline));
        await farm.WaitUntilAsync(() => farm["EntryStored"] == 2, "the regeneration is stored");

        Assert.Equal("data 2", await farm.A.Client.GetStringAsync("/news"));
        Assert.Equal("data 2", await farm.B.Client.GetStringAsync("/news"));
        Assert.Equal(2, page.Executions);
        Assert.Equal(0, farm["FencedWriteRefused"]);
    }

    [Fact]
    public async Task RegenerationOfThreeLeases_IsRenewed_RendersOnceAcrossHosts()
    {
        var page = new VersionedPage();
        await using var farm = await StartAsync(page);
        Assert.Equal("data 1", await farm.A.Client.GetStringAsync("/news"));
        await farm.GoStaleAsync();

        // Counted from here: on Redis the cold miss took a claim too.
        var claimsBefore = farm["ClaimWon"];
        page.Data = 2;
        var hold = page.HoldNext();
        var regeneration = await StartHeldAsync(farm.A, hold);

        // A regeneration that takes three leases: B keeps being served the stale page, and never regenerates it.
        for (var i = 0; i < 30; i++)
        {
            await farm.PassAsync(Lease / 10);
            Assert.Equal("data 1", await farm.B.Client.GetStringAsync("/news"));
        }

        Assert.Equal(2, page.Executions);
        hold.Release();
        Assert.Equal("data 2", await regeneration.WaitAsync(Deadline));
        await farm.WaitUntilAsync(() => farm["EntryStored"] == 2, "the regeneration is stored");
        await farm.WaitUntilAsync(async () => await farm.B.Client.GetStringAsync("/news") == "data 2", "B is served data 2");
        Assert.Equal(2, page.Executions);
        Assert.Equal(1, farm["ClaimWon"] - claimsBefore);
        Assert.Equal(0, farm["FencedWriteRefused"]);
    }

    [Fact]
    public async Task HolderHostStopped_ClaimLapsesAfterOneLease_OtherHostRegenerates()
    {
        var page = new VersionedPage();
        await using var farm = await StartAsync(page);
        Assert.Equal("data 1", await farm.A.Client.GetStringAsync("/news"));
        await farm.GoStaleAsync();

        page.Data = 2;
        var hold = page.HoldNext();
        var stuck = await StartHeldAsync(farm.A, hold);

        // A's host stops (its request still in flight): its heartbeat stops, and B takes the claim over.
        var stopping = farm.A.StopAsync();
        page.Data = 3;
        var clock = Stopwatch.StartNew();
        await farm.PassAsync(Lease);
        await farm.WaitUntilAsync(async () => await farm.B.Client.GetStringAsync("/news") == "data 3", "B regenerates once A's claim lapsed");
        Assert.InRange(clock.Elapsed, TimeSpan.Zero, Lease + TimeSpan.FromSeconds(10));
        Assert.Equal(3, page.Executions);

        hold.Release();
        await stopping.WaitAsync(Deadline);
        _ = await Record.ExceptionAsync(() => stuck.WaitAsync(Deadline));
    }

    private Task<HostFarm> StartAsync(VersionedPage page, Action<MintCacheOptions>? configure = null, [CallerMemberName] string test = "")
        => StartFarmAsync(
            new FarmSetup
            {
                ConfigureMint = o =>
                {
                    o.Grace = TimeSpan.FromMinutes(5);
                    o.LeaseDuration = Lease;
                    o.FailureBackoff = TimeSpan.FromMilliseconds(200);
                    configure?.Invoke(o);
                },
                ConfigureServices = s => s.AddSingleton(page),
                MapMore = (app, fresh) => app.MapGet("/news", (VersionedPage versioned, HttpContext context) => versioned.RenderAsync(context.RequestAborted))
                    .CacheOutput(p => p.Expire(fresh).Tag("news")),
            },
            test);

    /// <summary>
    /// Looks the stale page up on <paramref name="host"/> until one request regenerates it and is held: on memory the
    /// first; on Redis a slow lookup that wins the claim serves the stale page and hands the "miss" to the next lookup.
    /// </summary>
    private static async Task<Task<string>> StartHeldAsync(TestApp host, VersionedPage.Hold hold)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var request = host.Client.GetStringAsync("/news");
            if (await Task.WhenAny(request, hold.Started) == hold.Started)
            {
                return request;
            }

            _ = await request;
            if (clock.Elapsed > Deadline)
            {
                throw new TimeoutException("No request regenerated the page.");
            }
        }
    }

    private static ValueTask Evict(IMintCache mint, bool soft) => soft ? mint.MarkStaleByTagAsync("news") : mint.EvictByTagAsync("news");
}
