using Microsoft.Extensions.DependencyInjection;
using MintCache.AspNetCore.Tests.Fixtures;

namespace MintCache.AspNetCore.Tests.Store;

/// <summary>Clears, hard and soft, through a real host on the memory backend.</summary>
public sealed class ClearTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task MarkAllStale_DuringAStorm_EachPageRefreshedOnce_NobodyWaits()
    {
        var pages = new GatedPages();
        await using var app = await StartAsync(pages);

        await ClearStorm.SoftClearAsync([app.Client], app.Services.GetRequiredService<IMintCache>(), pages);
    }

    [Fact]
    public async Task Clear_NoPageStoredBeforeIsServed()
    {
        var pages = new GatedPages();
        await using var app = await StartAsync(pages);

        await ClearStorm.HardClearAsync([app.Client], app.Services.GetRequiredService<IMintCache>(), pages);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Clear_WhileARegenerationRuns_ItsOlderPageIsRefused(bool soft)
    {
        await using var app = await TestApp.StartAsync();
        Assert.Equal("v1", await app.Client.GetStringAsync("/page"));
        app.Time.Advance(TestApp.Fresh);
        var regeneration = app.Client.GetStringAsync("/page");
        await app.Page.RegenerationStarted.WaitAsync(Deadline);

        // Evictions win: the page rendered from data read before the clear must not be stored.
        var cache = app.Services.GetRequiredService<IMintCache>();
        await (soft ? cache.MarkAllStaleAsync() : cache.ClearAsync());
        app.Page.OpenGate();

        Assert.Equal("v2", await regeneration.WaitAsync(Deadline));
        await app.Logs.WaitUntilAsync(l => l["FencedWriteRefused"] == 1, Deadline);
        Assert.Equal("v3", await app.Client.GetStringAsync("/page"));
        Assert.Equal("v3", await app.Client.GetStringAsync("/page"));
    }

    private static Task<TestApp> StartAsync(GatedPages pages)
        => TestApp.StartAsync(
            o =>
            {
                o.RefreshMode = RefreshMode.Background;
                o.MaxConcurrentRegenerations = 2 * ClearStorm.Pages;
            },
            mapMore: pages.Map);
}
