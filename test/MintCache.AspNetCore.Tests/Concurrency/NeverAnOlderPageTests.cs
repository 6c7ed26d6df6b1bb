using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.OutputCaching;
using Microsoft.Extensions.DependencyInjection;
using MintCache.AspNetCore.Tests.Fixtures;

namespace MintCache.AspNetCore.Tests.Concurrency;

/// <summary>
/// design.md §2, invariants 2 and 8 on the embedded backend, through a real host: a regeneration that began before an
/// eviction, or under a claim that was taken over since, never puts its older page back in service.
/// </summary>
public sealed class NeverAnOlderPageTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan Lease = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan UnlockedFresh = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task LateStoreUnderTakenOverClaim_IsRefused_NewerPageStays()
    {
        // The holder's heartbeat stops at the regeneration timeout, as a stuck holder's would: then its claim lapses.
        await using var app = await StartAsync(o => o.RegenerationTimeout = Lease);
        var page = Page(app);
        Assert.Equal("data 1", await app.Client.GetStringAsync("/unlocked"));
        await MintCache(app).MarkStaleByTagAsync("news");

        page.Data = 2;
        var holdA = page.HoldNext();
        var a = app.Client.GetStringAsync("/unlocked");
        await holdA.Started.WaitAsync(Deadline);

        // Past the timeout and one lease, B takes the claim over and stores the newer data.
        app.Time.Advance(Lease + Lease + TimeSpan.FromMilliseconds(100));
        page.Data = 3;
        Assert.Equal("data 3", await app.Client.GetStringAsync("/unlocked"));
        await app.Logs.WaitUntilAsync(l => l["EntryStored"] == 2, Deadline);

        holdA.Release();
        Assert.Equal("data 2", await a.WaitAsync(Deadline));
        await app.Logs.WaitUntilAsync(l => l["FencedWriteRefused"] == 1, Deadline);

        Assert.Equal("data 3", await app.Client.GetStringAsync("/unlocked"));
        Assert.Equal(3, page.Executions);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task EvictionDuringRegeneration_RegeneratedOlderPageNotServed(bool soft)
    {
        await using var app = await StartAsync();
        var page = Page(app);
        Assert.Equal("data 1", await app.Client.GetStringAsync("/news"));
        app.Time.Advance(TestApp.Fresh);

        var hold = page.HoldNext();
        var regeneration = app.Client.GetStringAsync("/news");
        await hold.Started.WaitAsync(Deadline);

        // The data changes while the page is regenerated from the old data, and the app evicts.
        page.Data = 2;
        await Evict(app, soft);
        hold.Release();
        Assert.Equal("data 1", await regeneration.WaitAsync(Deadline));
        await app.Logs.WaitUntilAsync(l => l["FencedWriteRefused"] == 1, Deadline);

        // The next request renders the new data (a miss after a hard eviction, a claim after a soft one), and the
        // older page is never served again.
        Assert.Equal("data 2", await app.Client.GetStringAsync("/news"));
        Assert.Equal("data 2", await app.Client.GetStringAsync("/news"));
        Assert.Equal(3, page.Executions);
    }

    [Fact]
    public async Task EvictionDuringColdMissRender_RenderedOlderPageNotStored()
    {
        await using var app = await StartAsync();
        var page = Page(app);
        var hold = page.HoldNext();
        var first = app.Client.GetStringAsync("/news");
        await hold.Started.WaitAsync(Deadline);

        page.Data = 2;
        await Evict(app, soft: false);
        hold.Release();
        Assert.Equal("data 1", await first.WaitAsync(Deadline));
        await app.Logs.WaitUntilAsync(l => l["FencedWriteRefused"] == 1, Deadline);

        Assert.Equal("data 2", await app.Client.GetStringAsync("/news"));
        Assert.Equal("data 2", await app.Client.GetStringAsync("/news"));
        Assert.Equal(2, page.Executions);
    }

    [Fact]
    public async Task EvictionOfAnotherTag_DoesNotRefuseTheStore()
    {
        await using var app = await StartAsync();
        var page = Page(app);
        Assert.Equal("data 1", await app.Client.GetStringAsync("/news"));
        app.Time.Advance(TestApp.Fresh);

        var hold = page.HoldNext();
        page.Data = 2;
        var regeneration = app.Client.GetStringAsync("/news");
        await hold.Started.WaitAsync(Deadline);
        await MintCache(app).EvictByTagAsync("sport");
        hold.Release();
        Assert.Equal("data 2", await regeneration.WaitAsync(Deadline));
        await app.Logs.WaitUntilAsync(l => l["EntryStored"] == 2, Deadline);

        Assert.Equal("data 2", await app.Client.GetStringAsync("/news"));
        Assert.Equal(2, page.Executions);
        Assert.Equal(0, app.Logs["FencedWriteRefused"]);
    }

    [Fact]
    public async Task RegenerationSlowerThanLease_IsRenewed_RendersOnce()
    {
        // Locking off: a lapsed claim would let the next request render the page a second time.
        await using var app = await StartAsync();
        var page = Page(app);
        Assert.Equal("data 1", await app.Client.GetStringAsync("/unlocked"));
        app.Time.Advance(UnlockedFresh);

        page.Data = 2;
        var hold = page.HoldNext();
        var regeneration = app.Client.GetStringAsync("/unlocked");
        await hold.Started.WaitAsync(Deadline);

        // Three leases pass while the regeneration runs: every other request is served the stale page.
        for (var i = 0; i < 30; i++)
        {
            app.Time.Advance(Lease / 10);
            Assert.Equal("data 1", await app.Client.GetStringAsync("/unlocked"));
        }

        hold.Release();
        Assert.Equal("data 2", await regeneration.WaitAsync(Deadline));
        await app.Logs.WaitUntilAsync(l => l["EntryStored"] == 2, Deadline);
        Assert.Equal("data 2", await app.Client.GetStringAsync("/unlocked"));
        Assert.Equal(2, page.Executions);
        Assert.Equal(1, app.Logs["ClaimWon"]);
    }

    private static Task<TestApp> StartAsync(Action<MintCacheOptions>? configure = null)
        => TestApp.StartAsync(
            o =>
            {
                o.Grace = TimeSpan.FromMinutes(5);
                o.LeaseDuration = Lease;
                o.FailureBackoff = TimeSpan.FromMilliseconds(500);
                configure?.Invoke(o);
            },
            configureServices: s => s.AddSingleton<VersionedPage>(),
            mapMore: app =>
            {
                app.MapGet("/news", (VersionedPage page, HttpContext context) => page.RenderAsync(context.RequestAborted))
                    .CacheOutput(p => p.Expire(TestApp.Fresh).Tag("news"));
                app.MapGet("/unlocked", (VersionedPage page, HttpContext context) => page.RenderAsync(context.RequestAborted))
                    .CacheOutput(p => p.Expire(UnlockedFresh).Tag("news").SetLocking(false));
            });

    private static VersionedPage Page(TestApp app) => app.Services.GetRequiredService<VersionedPage>();

    private static IMintCache MintCache(TestApp app) => app.Services.GetRequiredService<IMintCache>();

    private static ValueTask Evict(TestApp app, bool soft)
        => soft ? MintCache(app).MarkStaleByTagAsync("news") : MintCache(app).EvictByTagAsync("news");
}
