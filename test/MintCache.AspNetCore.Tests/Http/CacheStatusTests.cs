using System.Net;
using System.Reflection;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.OutputCaching;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using MintCache.AspNetCore.Tests.Fixtures;

namespace MintCache.AspNetCore.Tests.Http;

/// <summary>The <c>Cache-Status</c> header (RFC 9211) and <c>Age</c> through a real host.</summary>
/// <remarks>Serial: its storm must not compete for the CPU with the other storms' timing-sensitive assertions.</remarks>
[Collection(SerialCollection.Name)]
public sealed class CacheStatusTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    [Theory]
    [InlineData("/page")]
    [InlineData("/mvc/page")]
    public async Task CacheStatus_LifeOfAnEntry_MissHitStaleHitRegenerationHit(string path)
    {
        await using var app = await StartAsync();

        var miss = await app.Client.GetAsync(path);
        Assert.Equal("MintCache; fwd=miss", Single(miss));
        Assert.Null(miss.Headers.Age);

        app.Time.Advance(TimeSpan.FromSeconds(3));
        var hit = await app.Client.GetAsync(path);
        Assert.Equal("v1", await hit.Content.ReadAsStringAsync());
        Assert.Equal("MintCache; hit; ttl=7", Single(hit)); // one value: the miss's header was not cached with the page
        Assert.Equal(TimeSpan.FromSeconds(3), hit.Headers.Age);

        app.Time.Advance(TimeSpan.FromSeconds(9)); // 12 s old: 2 s past its freshness of 10 s
        var regeneration = app.Client.GetAsync(path);
        await app.Page.RegenerationStarted.WaitAsync(Deadline);
        var stale = await app.Client.GetAsync(path);
        Assert.Equal("v1", await stale.Content.ReadAsStringAsync());
        Assert.Equal("MintCache; hit; ttl=-2", Single(stale));
        Assert.Equal(TimeSpan.FromSeconds(12), stale.Headers.Age);

        app.Page.OpenGate();
        var regenerated = await regeneration.WaitAsync(Deadline);
        Assert.Equal("v2", await regenerated.Content.ReadAsStringAsync());
        Assert.Equal("MintCache; fwd=stale", Single(regenerated));
        Assert.Null(regenerated.Headers.Age);

        await app.Logs.WaitUntilAsync(l => l["EntryStored"] >= 2, Deadline);
        app.Time.Advance(TimeSpan.FromSeconds(1)); // the middleware refuses a page of age zero
        var fresh = await app.Client.GetAsync(path);
        Assert.Equal("v2", await fresh.Content.ReadAsStringAsync());
        Assert.Equal("MintCache; hit; ttl=9", Single(fresh));
        Assert.Equal(TimeSpan.FromSeconds(1), fresh.Headers.Age);
    }

    [Fact]
    public async Task CacheStatus_StaleStorm_OneForwardedRestHits()
    {
        await using var app = await StartAsync();
        await app.Client.GetAsync("/page");
        app.Time.Advance(TimeSpan.FromSeconds(12));

        var storm = Enumerable.Range(0, 50).Select(_ => app.Client.GetAsync("/page")).ToArray();
        await app.Logs.WaitUntilAsync(l => l["CachedResponseServed"] + l["NoResponseServed"] >= 50, Deadline);
        await app.Page.RegenerationStarted.WaitAsync(Deadline);
        var servedStale = app.Logs["CachedResponseServed"];
        app.Page.OpenGate();
        var statuses = (await Task.WhenAll(storm).WaitAsync(Deadline)).Select(Single).ToList();
        var summary = string.Join(", ", statuses.GroupBy(s => s).Select(g => $"{g.Key} x{g.Count()}"));

        // Stale hits include requests that shared another's stale lookup (no answer of their own: told by Age).
        // Requests that shared the regenerating lookup are served its new page by the middleware: fresh hits. The
        // middleware may hand the execution to one of those, which the store never saw: then it reads fwd=miss.
        Assert.True(1 == statuses.Count(s => s is "MintCache; fwd=stale" or "MintCache; fwd=miss"), summary);
        var staleHits = statuses.Count(s => s == "MintCache; hit; ttl=-2");
        Assert.True(staleHits >= servedStale && staleHits + statuses.Count(s => s == "MintCache; hit; ttl=10") == 49, $"{servedStale} served stale by the gate; {summary}");
    }

    [Theory]
    [InlineData("stale", "12", false, "MintCache; hit; ttl=-2")]
    [InlineData("stale", "9", false, "MintCache; hit; ttl=0")] // Age truncated: the store's clock said stale
    [InlineData("fresh", "10", false, "MintCache; hit; ttl=1")] // and fresh
    [InlineData("stale", "0", true, "MintCache; hit; ttl=10")] // its lookup missed, and another request's render was served
    [InlineData(null, "3", false, "MintCache; hit; ttl=7")] // it shared another's lookup
    [InlineData("stale", "", false, "MintCache; fwd=stale")]
    [InlineData(null, "", false, "MintCache; fwd=miss")]
    public void CacheStatus_Format_FromAgeAndWhatTheLookupAnswered(string? state, string age, bool missed, string expected)
    {
        var policy = new AspNetCore.Policies.CacheStatusPolicy(TimeSpan.FromSeconds(10));
        var context = new OutputCacheContext { HttpContext = new DefaultHttpContext(), AllowCacheLookup = true, EnableOutputCaching = true };
        Assert.Equal(expected, policy.Format(context, state, age, missed));
    }

    [Fact]
    public async Task CacheStatus_Off_ByDefault()
    {
        await using var app = await TestApp.StartAsync();
        await app.Client.GetAsync("/page");
        app.Time.Advance(TimeSpan.FromSeconds(1));
        var response = await app.Client.GetAsync("/page");
        Assert.False(response.Headers.Contains("Cache-Status"));
    }

    [Fact]
    public async Task CacheStatus_UncachedEndpoint_NoHeader_PolicyWithoutLookup_Bypass()
    {
        await using var app = await StartAsync(mapMore: web =>
        {
            web.MapGet("/plain", () => "plain");
            web.MapGet("/nolookup", () => "nolookup").CacheOutput(p => p.AddPolicy<NoLookupPolicy>());
        });

        Assert.False((await app.Client.GetAsync("/plain")).Headers.Contains("Cache-Status"));
        Assert.Equal("MintCache; fwd=bypass", Single(await app.Client.GetAsync("/nolookup")));
    }

    private static string Single(HttpResponseMessage response)
    {
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return Assert.Single(response.Headers.GetValues("Cache-Status"));
    }

    /// <summary>A host with the header on, grace of a minute, and the middleware on the store's fake clock.</summary>
    private static Task<TestApp> StartAsync(Action<WebApplication>? mapMore = null)
    {
        // Each reading moves the clock a tick: the middleware refuses to serve a page whose age is exactly zero,
        // which on a frozen clock would make the requests waiting for a regeneration run the endpoint again.
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero)) { AutoAdvanceAmount = TimeSpan.FromTicks(1) };
        return TestApp.StartAsync(
            o =>
            {
                o.CacheStatusHeader = true;
                o.Grace = TimeSpan.FromMinutes(1);
            },
            configureServices: s => s.PostConfigure<OutputCacheOptions>(o => UseClock(o, time)),
            time: time,
            mapMore: mapMore);
    }

    /// <summary>
    /// The middleware computes <c>Age</c> on its own clock, <c>OutputCacheOptions.TimeProvider</c>, internal and
    /// "for testing purposes only": one clock for the host, so that ages follow the fake time.
    /// </summary>
    private static void UseClock(OutputCacheOptions options, TimeProvider time)
    {
        var property = typeof(OutputCacheOptions).GetProperty("TimeProvider", BindingFlags.Instance | BindingFlags.NonPublic)
            ?? throw new InvalidOperationException("OutputCacheOptions.TimeProvider is gone: the test needs another way to fake the middleware's clock.");
        property.SetValue(options, time);
    }

    private sealed class NoLookupPolicy : IOutputCachePolicy
    {
        public ValueTask CacheRequestAsync(OutputCacheContext context, CancellationToken cancellation)
        {
            context.EnableOutputCaching = true;
            context.AllowCacheLookup = false;
            context.AllowCacheStorage = true;
            return ValueTask.CompletedTask;
        }

        public ValueTask ServeFromCacheAsync(OutputCacheContext context, CancellationToken cancellation) => ValueTask.CompletedTask;

        public ValueTask ServeResponseAsync(OutputCacheContext context, CancellationToken cancellation) => ValueTask.CompletedTask;
    }
}
