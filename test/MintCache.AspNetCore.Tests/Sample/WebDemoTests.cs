using System.Net;
using System.Net.Http.Json;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using MintCache.AspNetCore.Tests.Fixtures;

namespace MintCache.AspNetCore.Tests.Sample;

/// <summary>The sample, as a new user runs it, hosted by WebApplicationFactory on a fake clock.</summary>
public sealed class WebDemoTests : IClassFixture<WebApplicationFactory<Program>>
{
    private readonly WebApplicationFactory<Program> _factory;
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));

    public WebDemoTests(WebApplicationFactory<Program> factory)
    {
        _factory = factory.WithWebHostBuilder(web =>
        {
            // Long enough that requests which shared the one "miss" join its execution rather than start their own
            // after it finished (the middleware's lock lasts only while the execution runs): 200 ms once let a sharer
            // resumed late on a loaded machine run a second execution.
            web.UseSetting("Demo:GenerationDelayMs", "1000");
            web.ConfigureTestServices(services => services.AddSingleton<TimeProvider>(_time));
        });
    }

    [Fact]
    public async Task SlowPage_StormAfterExpiry_OneRegeneration()
    {
        using var client = _factory.CreateClient();
        await client.PostAsync("/stats/reset", null);
        var first = await client.GetStringAsync("/slow");
        _time.Advance(TimeSpan.FromSeconds(2));

        var storm = await Task.WhenAll(Enumerable.Range(0, 50).Select(_ => client.GetStringAsync("/slow")));

        // The storm was served the stale page while a copy of one request regenerates it in the background: counted
        // once that page is served (the clock stands still, so it stays fresh and nothing regenerates it again).
        await Eventually.HoldsAsync(
            async () => (await client.GetStringAsync("/slow")).Contains("generation 2", StringComparison.Ordinal),
            TimeSpan.FromSeconds(30),
            "the background regeneration stored");
        var stats = await client.GetFromJsonAsync<Dictionary<string, int>>("/stats");

        Assert.Equal(2, stats!["/slow"]);
        Assert.Contains("generation 1", first, StringComparison.Ordinal);
        Assert.All(storm, page => Assert.Contains("slow page, generation", page, StringComparison.Ordinal));
    }

    [Fact]
    public async Task News_SoftEviction_RefreshesOnce_HardEvictionRemoves()
    {
        using var client = _factory.CreateClient();
        var original = await client.GetStringAsync("/news");
        Assert.Equal(original, await client.GetStringAsync("/news"));

        // Soft: the page is still there, stale; the next request is served it and wins the claim, and a copy of that
        // request regenerates it in the background (the sample runs on the defaults). A hard eviction would leave
        // nothing to be stale: that request would be a plain miss (the sample turns Cache-Status on).
        await client.PostAsync("/evict/news?soft=true", null);
        using var stale = await client.GetAsync("/news");
        Assert.Equal(original, await stale.Content.ReadAsStringAsync());
        Assert.Matches("^MintCache; hit; ttl=(0|-)", CacheStatus(stale));
        var refreshed = original;
        await Eventually.HoldsAsync(
            async () => (refreshed = await client.GetStringAsync("/news")) != original, TimeSpan.FromSeconds(30), "the background regeneration stored");
        using var after = await client.GetAsync("/news");
        Assert.Equal(refreshed, await after.Content.ReadAsStringAsync());
        Assert.StartsWith("MintCache; hit;", CacheStatus(after), StringComparison.Ordinal);

        await client.PostAsync("/evict/news", null);
        using var evicted = await client.GetAsync("/news");
        Assert.Equal("MintCache; fwd=miss", CacheStatus(evicted));
        Assert.NotEqual(refreshed, await evicted.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Evict_OutsideDevelopment_IsNotMapped()
    {
        // The demo's purge lets anyone empty the cache: it must not exist where the sample is deployed.
        await using var production = _factory.WithWebHostBuilder(web => web.UseEnvironment("Production"));
        using var client = production.CreateClient();
        using var response = await client.PostAsync("/evict/news", null);
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
    }

    [Fact]
    public async Task Products_PurgedByTheirResponseTag_AndByPath()
    {
        using var client = _factory.CreateClient();
        using var first = await client.GetAsync("/products/7");
        var original = await first.Content.ReadAsStringAsync();
        Assert.Equal("product-7 products", string.Join(',', first.Headers.GetValues("Surrogate-Key")));
        Assert.Equal(original, await client.GetStringAsync("/products/7"));

        (await client.PostAsync("/evict/product-7", null)).EnsureSuccessStatusCode();
        var afterTag = await client.GetStringAsync("/products/7");
        Assert.NotEqual(original, afterTag);
        Assert.Equal(afterTag, await client.GetStringAsync("/products/7"));

        (await client.PostAsync("/evict-path?path=/products/7", null)).EnsureSuccessStatusCode();
        var afterPath = await client.GetStringAsync("/products/7");
        Assert.NotEqual(afterTag, afterPath);
        Assert.Contains("product 7, generation", afterPath, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Clear_HardThenSoft_EveryPageRendersAgain()
    {
        using var client = _factory.CreateClient();
        var original = await client.GetStringAsync("/products/8");
        Assert.Equal(original, await client.GetStringAsync("/products/8"));

        (await client.PostAsync("/clear", null)).EnsureSuccessStatusCode();
        var cleared = await client.GetStringAsync("/products/8");
        Assert.NotEqual(original, cleared);

        // Soft: the next request is served the old page while a background copy renders the new one.
        (await client.PostAsync("/clear?soft=true", null)).EnsureSuccessStatusCode();
        Assert.Equal(cleared, await client.GetStringAsync("/products/8"));
        await Eventually.HoldsAsync(async () => await client.GetStringAsync("/products/8") != cleared, TimeSpan.FromSeconds(20), "the page marked stale is rendered again");
    }

    private static string CacheStatus(HttpResponseMessage response)
        => string.Join(", ", response.Headers.TryGetValues("Cache-Status", out var values) ? values : []);
}
