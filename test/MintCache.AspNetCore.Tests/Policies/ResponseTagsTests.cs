using Microsoft.AspNetCore.OutputCaching;
using Microsoft.Extensions.DependencyInjection;
using MintCache.AspNetCore.Diagnostics;
using MintCache.AspNetCore.Tests.Fixtures;

namespace MintCache.AspNetCore.Tests.Policies;

/// <summary>Tags from the response's <c>Surrogate-Key</c> header, through a real host on the memory backend.</summary>
public sealed class ResponseTagsTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    [Theory]
    [InlineData(RefreshMode.Foreground)]
    [InlineData(RefreshMode.Background)]
    public async Task SurrogateKey_EvictByOneOfItsTags_RemovesThePage_AlsoWhenARefreshStoredIt(RefreshMode mode)
    {
        var products = new ProductPages();
        await using var app = await TestApp.StartAsync(o => o.RefreshMode = mode, mapMore: a => products.Map(a));
        var cache = app.Services.GetRequiredService<IMintCache>();
        Assert.Equal("7 1", await app.Client.GetStringAsync("/products/7"));
        Assert.Equal("8 2", await app.Client.GetStringAsync("/products/8"));

        await cache.EvictByTagAsync("product-7");

        Assert.Equal("7 3", await app.Client.GetStringAsync("/products/7"));
        Assert.Equal("8 2", await app.Client.GetStringAsync("/products/8"));

        // A refresh stores the page again (in the background mode, from a copy of the request): with its response's tags.
        app.Time.Advance(ProductPages.Fresh);
        app.Logs.Reset();
        await app.Client.GetStringAsync("/products/7");
        await app.Logs.WaitUntilAsync(l => l["EntryStored"] >= 1, Deadline);
        Assert.Equal("7 4", await app.Client.GetStringAsync("/products/7"));

        await cache.EvictByTagAsync("list");

        Assert.Equal("7 5", await app.Client.GetStringAsync("/products/7"));
        Assert.Equal("8 6", await app.Client.GetStringAsync("/products/8"));
    }

    [Fact]
    public async Task OverLongForgedAndSurplusTags_IgnoredAndLogged_TheOthersKept()
    {
        var longTag = new string('x', MintCacheConstants.MaxResponseTagLength + 1);
        var surplus = Enumerable.Range(0, 40).Select(i => $"t{i}");
        var products = new ProductPages
        {
            // A reserved tag can be forged neither as a setting nor as another page's path.
            TagsOf = _ => string.Join(' ', ["ok", longTag, "\u001Fmint:path=/OTHER", .. surplus]),
        };
        await using var app = await TestApp.StartAsync(o => o.TrackPaths = true, mapMore: a => products.Map(a));
        var cache = app.Services.GetRequiredService<IMintCache>();

        // Through the server, not a client: a client would refuse the control character before the test could see it.
        Assert.Equal("1 1", await app.SendAsync("/products/1", _ => { }));

        var ignored = app.Logs.Collector.GetSnapshot().Where(r => r.Id.Id == Log.IdResponseTagsIgnored).ToArray();
        Assert.Equal(3, ignored.Length);
        Assert.Equal([1, 1, 9], ignored.Select(r => int.Parse(r.StructuredState!.Single(p => p.Key == "Count").Value!)).Order());
        Assert.All(ignored, r => Assert.DoesNotContain(longTag, r.Message, StringComparison.Ordinal));

        await cache.EvictByTagAsync(longTag);
        await cache.EvictByPathAsync("/other");
        await cache.EvictByTagAsync("t39"); // the 41st tag: past the cap of 32
        Assert.Equal("1 1", await app.SendAsync("/products/1", _ => { }));

        await cache.EvictByTagAsync("t30"); // the 32nd
        Assert.Equal("1 2", await app.SendAsync("/products/1", _ => { }));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task TagHeader_ReachesClientsUnlessStripped_TagsWorkEitherWay(bool strip)
    {
        var products = new ProductPages();
        await using var app = await TestApp.StartAsync(o => o.StripResponseTagHeader = strip, mapMore: a => products.Map(a));

        using var fresh = await app.Client.GetAsync("/products/7");
        using var cached = await app.Client.GetAsync("/products/7");

        Assert.Equal("7 1", await cached.Content.ReadAsStringAsync());
        Assert.True(cached.Headers.Contains("Age"), "served from the cache");
        foreach (var response in new[] { fresh, cached })
        {
            Assert.Equal(strip ? null : "product-7 list", response.Headers.TryGetValues("Surrogate-Key", out var values) ? string.Join(',', values) : null);
        }

        await app.Services.GetRequiredService<IMintCache>().EvictByTagAsync("product-7");
        Assert.Equal("7 2", await app.Client.GetStringAsync("/products/7"));
    }

    [Fact]
    public async Task ResponseTagHeaderOff_HeaderIsNoTag()
    {
        var products = new ProductPages();
        await using var app = await TestApp.StartAsync(o => o.ResponseTagHeader = null, mapMore: a => products.Map(a));
        Assert.Equal("7 1", await app.Client.GetStringAsync("/products/7"));

        await app.Services.GetRequiredService<IMintCache>().EvictByTagAsync("product-7");

        Assert.Equal("7 1", await app.Client.GetStringAsync("/products/7"));
    }
}
