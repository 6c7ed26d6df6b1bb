using System.Net.Http.Headers;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.OutputCaching;
using Microsoft.Extensions.DependencyInjection;
using MintCache.AspNetCore.Diagnostics;
using MintCache.AspNetCore.Tests.Fixtures;

namespace MintCache.AspNetCore.Tests.Redis;

/// <summary>
/// design.md §2, invariants 2 and 8 with two hosts sharing one Redis, through real hosts: a regeneration that began
/// before an eviction on another host, or under a claim another host took over since, never puts its older page back
/// in service; a live holder's claim is renewed, and a stopped host's claim lapses after one lease.
/// </summary>
/// <remarks>
/// Redis decides on its server's clock, so these tests run on real time, with windows wide enough for a stalled machine.
/// They run on one server and on a real three-master Redis Cluster, where a tag's set and an entry live on different
/// nodes.
/// </remarks>
public abstract class RedisNeverAnOlderPageTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);
    // A live holder renews every third of a lease: a lease of 1 s lapsed once under the full suite on 2 cores, when the
    // thread pool ran the renewal more than 667 ms late. 3 s tolerates a 2 s stall, and still lapses a dead holder fast.
    private static readonly TimeSpan Lease = TimeSpan.FromSeconds(3);
    private static readonly TimeSpan StaleAfter = TimeSpan.FromSeconds(1);

    /// <summary>The StackExchange.Redis configuration string of the server or cluster under test.</summary>
    protected abstract string Endpoint { get; }

    [Fact]
    public async Task LateStoreUnderClaimTakenOverByOtherHost_IsRefused_EvenBeforeTheNewHolderStores()
    {
        var page = new VersionedPage();

        // A stuck holder: its heartbeat stops at the regeneration timeout, then its claim lapses after one lease.
        await using var farm = await Farm.StartAsync(Endpoint, page, o => o.RegenerationTimeout = Lease);
        Assert.Equal("data 1", await farm.A.Client.GetStringAsync("/news"));
        await Mint(farm.A).MarkStaleByTagAsync("news");

        page.Data = 2;
        var holdA = page.HoldNext();
        var a = await StartHeldAsync(farm.A, holdA);

        // B is served the stale page until A's claim lapses, then takes it over and renders the newer data.
        page.Data = 3;
        var holdB = page.HoldNext();
        var b = await StartHeldAsync(farm.B, holdB, Deadline);

        // A stores first: the entry is still the one both claimed, but the claim is B's now.
        holdA.Release();
        Assert.Equal("data 2", await a.WaitAsync(Deadline));
        await Eventually.HoldsAsync(() => farm.A.CountLogs(Log.IdFencedWriteRefused) == 1, Deadline, "A's late store is refused");
        Assert.NotEqual("data 2", await farm.A.Client.GetStringAsync("/news"));

        holdB.Release();
        Assert.Equal("data 3", await b.WaitAsync(Deadline));
        await Eventually.HoldsAsync(() => farm.B.CountLogs(Log.IdEntryStored) >= 1, Deadline, "B's store is accepted");
        Assert.Equal("data 3", await farm.A.Client.GetStringAsync("/news"));
        Assert.Equal("data 3", await farm.B.Client.GetStringAsync("/news"));
        Assert.Equal(0, farm.B.CountLogs(Log.IdFencedWriteRefused));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task EvictionOnOtherHostDuringRegeneration_OlderPageNeverServedFresh(bool soft)
    {
        var page = new VersionedPage();
        await using var farm = await Farm.StartAsync(Endpoint, page);
        Assert.Equal("data 1", await farm.A.Client.GetStringAsync("/news"));

        var hold = page.HoldNext();
        var regeneration = await StartHeldAsync(farm.A, hold);
        page.Data = 2;
        if (soft)
        {
            await Mint(farm.B).MarkStaleByTagAsync("news");
        }
        else
        {
            await Mint(farm.B).EvictByTagAsync("news");
        }

        hold.Release();
        Assert.Equal("data 1", await regeneration.WaitAsync(Deadline));
        await Eventually.HoldsAsync(() => farm.A.CountLogs(Log.IdFencedWriteRefused) == 1, Deadline, "the regeneration's store is refused");

        // From now on data 1 is never served as fresh: at most stale (its Age past its freshness) until data 2 is in.
        await Eventually.HoldsAsync(
            async () =>
            {
                foreach (var host in new[] { farm.A, farm.B })
                {
                    var response = await host.Client.GetAsync("/news");
                    var body = await response.Content.ReadAsStringAsync();
                    if (body == "data 1")
                    {
                        Assert.True(response.Headers.Age >= StaleAfter, $"data 1 served as fresh (Age {response.Headers.Age})");
                        return false;
                    }

                    Assert.Equal("data 2", body);
                }

                return true;
            },
            Deadline,
            "every host serves data 2");
    }

    [Fact]
    public async Task HardEvictionOnOtherHostDuringColdMissRender_RenderedOlderPageNotStored()
    {
        var page = new VersionedPage();
        await using var farm = await Farm.StartAsync(Endpoint, page);
        var hold = page.HoldNext();
        var first = farm.A.Client.GetStringAsync("/news");
        await hold.Started.WaitAsync(Deadline);

        page.Data = 2;
        await Mint(farm.B).EvictByTagAsync("news");
        hold.Release();
        Assert.Equal("data 1", await first.WaitAsync(Deadline));
        await Eventually.HoldsAsync(() => farm.A.CountLogs(Log.IdFencedWriteRefused) == 1, Deadline, "the cold render's store is refused");

        Assert.Equal("data 2", await farm.B.Client.GetStringAsync("/news"));
        Assert.Equal("data 2", await farm.A.Client.GetStringAsync("/news"));
        Assert.Equal(2, page.Executions);
    }

    [Fact]
    public async Task RegenerationOfThreeLeases_IsRenewed_RendersOnceAcrossHosts()
    {
        var page = new VersionedPage();
        await using var farm = await Farm.StartAsync(Endpoint, page);
        Assert.Equal("data 1", await farm.A.Client.GetStringAsync("/news"));

        page.Data = 2;
        var hold = page.HoldNext();
        var regeneration = await StartHeldAsync(farm.A, hold);

        // A regeneration that takes three leases: B keeps being served the stale page, and never regenerates it.
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (clock.Elapsed < 3 * Lease)
        {
            Assert.Equal("data 1", await farm.B.Client.GetStringAsync("/news"));
        }

        Assert.Equal(2, page.Executions);
        hold.Release();
        Assert.Equal("data 2", await regeneration.WaitAsync(Deadline));
        await Eventually.HoldsAsync(async () => await farm.B.Client.GetStringAsync("/news") == "data 2", Deadline, "B is served data 2");
        Assert.Equal(2, page.Executions);
        Assert.Equal(0, farm.A.CountLogs(Log.IdFencedWriteRefused));
    }

    [Fact]
    public async Task HolderHostStopped_ClaimLapsesAfterOneLease_OtherHostRegenerates()
    {
        var page = new VersionedPage();
        await using var farm = await Farm.StartAsync(Endpoint, page);
        Assert.Equal("data 1", await farm.A.Client.GetStringAsync("/news"));

        page.Data = 2;
        var hold = page.HoldNext();
        var stuck = await StartHeldAsync(farm.A, hold);

        // A's host stops (its request still in flight): its heartbeat stops, and B takes the claim over.
        var stopping = farm.A.StopAsync();
        page.Data = 3;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        await Eventually.HoldsAsync(async () => await farm.B.Client.GetStringAsync("/news") == "data 3", Deadline, "B regenerates once A's claim lapsed");
        Assert.InRange(clock.Elapsed, TimeSpan.Zero, Lease + TimeSpan.FromSeconds(10));
        Assert.Equal(3, page.Executions);

        hold.Release();
        await stopping.WaitAsync(Deadline);
        _ = await Record.ExceptionAsync(() => stuck.WaitAsync(Deadline));
    }

    /// <summary>
    /// Looks the stale page up on <paramref name="host"/> until one request regenerates it and is held: a slow
    /// Redis lookup that wins the claim serves the stale page and hands the "miss" to the host's next lookup.
    /// </summary>
    private static async Task<Task<string>> StartHeldAsync(RedisHost host, VersionedPage.Hold hold, TimeSpan? within = null)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (true)
        {
            var request = host.Client.GetStringAsync("/news");
            if (await Task.WhenAny(request, hold.Started) == hold.Started)
            {
                return request;
            }

            _ = await request;
            if (clock.Elapsed > (within ?? Deadline))
            {
                throw new TimeoutException("No request regenerated the page.");
            }
        }
    }

    private static IMintCache Mint(RedisHost host) => host.Services.GetRequiredService<IMintCache>();

    private sealed class Farm(RedisHost a, RedisHost b) : IAsyncDisposable
    {
        public RedisHost A { get; } = a;

        public RedisHost B { get; } = b;

        public static async Task<Farm> StartAsync(string endpoint, VersionedPage page, Action<MintCacheOptions>? configure = null)
        {
            var prefix = RedisStoreHarness.UniquePrefix();
            var unused = new GatedEndpoint();
            void Configure(MintCacheOptions o)
            {
                o.LeaseDuration = Lease;
                o.FailureBackoff = TimeSpan.FromMilliseconds(200);
                configure?.Invoke(o);
            }

            void Map(WebApplication app)
                => app.MapGet("/news", (Func<HttpContext, Task<string>>)(context => page.RenderAsync(context.RequestAborted)))
                    .CacheOutput(p => p.Expire(StaleAfter).Grace(TimeSpan.FromMinutes(1)).Tag("news"));

            var a = await RedisHost.StartAsync(endpoint, prefix, unused, StaleAfter, TimeSpan.FromMinutes(1), Configure, mapMore: Map);
            var b = await RedisHost.StartAsync(endpoint, prefix, unused, StaleAfter, TimeSpan.FromMinutes(1), Configure, mapMore: Map);
            await Eventually.HoldsAsync(() => a.Backend.Notifications.IsLive && b.Backend.Notifications.IsLive, Deadline, "both hosts subscribed");
            return new Farm(a, b);
        }

        public async ValueTask DisposeAsync()
        {
            await A.DisposeAsync();
            await B.DisposeAsync();
        }
    }
}

/// <summary>The older-page scenarios on one Redis server.</summary>
[Collection(RedisCollection.Name)]
public sealed class RedisServerNeverAnOlderPageTests(RedisServerFixture redis) : RedisNeverAnOlderPageTests
{
    protected override string Endpoint => redis.Endpoint;
}

/// <summary>The older-page scenarios on a real Redis Cluster: every script on one slot, tags and entries on different nodes.</summary>
[Collection(RedisClusterCollection.Name)]
public sealed class RedisClusterNeverAnOlderPageTests(RedisClusterFixture cluster) : RedisNeverAnOlderPageTests
{
    protected override string Endpoint => cluster.Endpoint;
}
