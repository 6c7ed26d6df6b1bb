using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.OutputCaching;
using Microsoft.Extensions.DependencyInjection;
using MintCache.AspNetCore.Tests.Fixtures;

namespace MintCache.AspNetCore.Tests.Store;

/// <summary>Evictions by request path (<c>TrackPaths</c>), through a real host on the memory backend.</summary>
public sealed class PathEvictionTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task EvictByPath_EveryVariantOfThePath_NotAnotherPathOrPathBase()
    {
        var products = new ProductPages();
        await using var app = await TestApp.StartAsync(o => o.TrackPaths = true, mapMore: a => products.Map(a));
        var variants = new (string Name, Action<HttpContext> Request)[]
        {
            ("plain", _ => { }),
            ("query", c => c.Request.QueryString = new QueryString("?x=1")),
            ("upper case", c =>
            {
                // The key ignores the path's case: a query gives this one a key of its own.
                c.Request.Path = "/PRODUCTS/42";
                c.Request.QueryString = new QueryString("?y=2");
            }),
            ("other host", c => c.Request.Host = new HostString("other.example")),
        };
        var bodies = new Dictionary<string, string>();
        foreach (var (name, request) in variants)
        {
            bodies[name] = await app.SendAsync("/products/42", request);
        }

        var longer = await app.SendAsync("/products/420", _ => { });
        var underBase = await app.SendAsync("/products/42", c => c.Request.PathBase = "/shop");
        Assert.Equal(6, products.Executions);
        foreach (var (name, request) in variants)
        {
            Assert.Equal(bodies[name], await app.SendAsync("/products/42", request));
        }

        await app.Services.GetRequiredService<IMintCache>().EvictByPathAsync("/products/42");

        foreach (var (name, request) in variants)
        {
            Assert.NotEqual(bodies[name], await app.SendAsync("/products/42", request));
        }

        Assert.Equal(10, products.Executions);
        Assert.Equal(longer, await app.SendAsync("/products/420", _ => { }));
        Assert.Equal(underBase, await app.SendAsync("/products/42", c => c.Request.PathBase = "/shop"));

        await app.Services.GetRequiredService<IMintCache>().EvictByPathAsync("/Shop/Products/42");

        Assert.NotEqual(underBase, await app.SendAsync("/products/42", c => c.Request.PathBase = "/shop"));
        Assert.Equal(longer, await app.SendAsync("/products/420", _ => { }));
    }

    [Fact]
    public async Task EvictByPath_CaseSensitivePaths_ComparesAsTheKeyThenDoes()
    {
        var products = new ProductPages();
        await using var app = await TestApp.StartAsync(
            o => o.TrackPaths = true,
            configureServices: s => s.Configure<OutputCacheOptions>(o => o.UseCaseSensitivePaths = true),
            mapMore: a => products.Map(a));
        Assert.Equal("42 1", await app.Client.GetStringAsync("/products/42"));
        Assert.Equal("42 2", await app.Client.GetStringAsync("/PRODUCTS/42"));

        await app.Services.GetRequiredService<IMintCache>().EvictByPathAsync("/products/42");

        Assert.Equal("42 3", await app.Client.GetStringAsync("/products/42"));
        Assert.Equal("42 2", await app.Client.GetStringAsync("/PRODUCTS/42"));
    }

    [Fact]
    public async Task EvictByPath_WhileARegenerationRuns_ItsOlderPageIsRefused()
    {
        await using var app = await TestApp.StartAsync(o => o.TrackPaths = true);
        Assert.Equal("v1", await app.Client.GetStringAsync("/page"));
        app.Time.Advance(TestApp.Fresh);
        var regeneration = app.Client.GetStringAsync("/page");
        await app.Page.RegenerationStarted.WaitAsync(Deadline);

        // Evictions win: the page rendered from data read before the purge must not be stored as fresh.
        await app.Services.GetRequiredService<IMintCache>().EvictByPathAsync("/page");
        app.Page.OpenGate();

        Assert.Equal("v2", await regeneration.WaitAsync(Deadline));
        await app.Logs.WaitUntilAsync(l => l["FencedWriteRefused"] == 1, Deadline);
        Assert.Equal("v3", await app.Client.GetStringAsync("/page"));
        Assert.Equal("v3", await app.Client.GetStringAsync("/page"));
    }

    [Fact]
    public async Task MarkStaleByPath_ServesStaleOnce_ThenTheNewPage()
    {
        var products = new ProductPages();
        await using var app = await TestApp.StartAsync(
            o =>
            {
                o.TrackPaths = true;
                o.RefreshMode = RefreshMode.Background;
            },
            mapMore: a => products.Map(a));
        var cache = app.Services.GetRequiredService<IMintCache>();
        Assert.Equal("42 1", await app.Client.GetStringAsync("/products/42?x=1"));
        app.Logs.Reset();

        await cache.MarkStaleByPathAsync("/products/42");

        Assert.Equal("42 1", await app.Client.GetStringAsync("/products/42?x=1"));
        await app.Logs.WaitUntilAsync(l => l["EntryStored"] >= 1, Deadline);
        Assert.Equal("42 2", await app.Client.GetStringAsync("/products/42?x=1"));
        Assert.Equal(2, products.Executions);
    }

    [Fact]
    public async Task PathTag_WrittenByAPolicy_IsNoPath_AndLogged()
    {
        var products = new ProductPages();
        await using var app = await TestApp.StartAsync(
            o => o.TrackPaths = true,
            mapMore: a => products.Map(a, p => p.Tag("\u001Fmint:path=/OTHER")));
        var cache = app.Services.GetRequiredService<IMintCache>();
        Assert.Equal("1 1", await app.Client.GetStringAsync("/products/1"));

        await cache.EvictByPathAsync("/other");

        Assert.Equal("1 1", await app.Client.GetStringAsync("/products/1"));
        Assert.Equal(1, app.Logs["ReservedTagIgnored"]);

        await cache.EvictByPathAsync("/products/1");

        Assert.Equal("1 2", await app.Client.GetStringAsync("/products/1"));
    }

    [Fact]
    public async Task ByPath_WithoutTrackPaths_ThrowsNamingTheOption()
    {
        await using var app = await TestApp.StartAsync();
        var cache = app.Services.GetRequiredService<IMintCache>();

        var hard = await Assert.ThrowsAsync<InvalidOperationException>(() => cache.EvictByPathAsync("/products/42").AsTask());
        var soft = await Assert.ThrowsAsync<InvalidOperationException>(() => cache.MarkStaleByPathAsync("/products/42").AsTask());

        Assert.Contains("MintCacheOptions.TrackPaths", hard.Message, StringComparison.Ordinal);
        Assert.Contains("MintCacheOptions.TrackPaths", soft.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("products/42")]
    [InlineData("/products/42?x=1")]
    public async Task ByPath_NotAPath_Throws(string path)
    {
        await using var app = await TestApp.StartAsync(o => o.TrackPaths = true);

        await Assert.ThrowsAsync<ArgumentException>(() => app.Services.GetRequiredService<IMintCache>().EvictByPathAsync(path).AsTask());
    }
}
