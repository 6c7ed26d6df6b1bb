using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.OutputCaching;
using Microsoft.Extensions.DependencyInjection;
using MintCache.AspNetCore.Tests.Fixtures;

namespace MintCache.AspNetCore.Tests.Policies;

/// <summary>A policy's <c>.Grace(...)</c> reaches the store, for minimal APIs and for named policies used by MVC.</summary>
public sealed class GracePolicyTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan DefaultGrace = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan PolicyGrace = TimeSpan.FromMinutes(1);

    [Theory]
    [InlineData("/page")]
    [InlineData("/mvc/page")]
    public async Task NamedPolicyGrace_KeepsServingStaleBeyondTheDefaultGrace(string path)
    {
        await using var app = await TestApp.StartAsync(o => o.Grace = DefaultGrace, pagePolicy: p => p.Grace(PolicyGrace));

        await AssertStaleServedAsync(app, path, TestApp.Fresh + TimeSpan.FromSeconds(30));
    }

    [Fact]
    public async Task MinimalApiGrace_KeepsServingStaleBeyondTheDefaultGrace()
    {
        await using var app = await TestApp.StartAsync(
            o => o.Grace = DefaultGrace,
            mapMore: web => web.MapGet("/inline", async (GatedPage page, HttpContext context) =>
            {
                var (status, body) = await page.RenderAsync(context.RequestAborted);
                return Results.Text(body, statusCode: status);
            }).CacheOutput(p => p.Expire(TestApp.Fresh).Grace(PolicyGrace)));

        await AssertStaleServedAsync(app, "/inline", TestApp.Fresh + TimeSpan.FromSeconds(30));
    }

    [Fact]
    public async Task DefaultGrace_ExpiredPage_IsNotServed()
    {
        await using var app = await TestApp.StartAsync(o => o.Grace = DefaultGrace);
        Assert.Equal("v1", await app.Client.GetStringAsync("/page"));
        app.Time.Advance(TestApp.Fresh + DefaultGrace);

        // Past fresh + grace: every request misses, and none is served the expired page.
        var first = app.Client.GetStringAsync("/page");
        await app.Page.RegenerationStarted.WaitAsync(Deadline);
        var second = app.Client.GetStringAsync("/page");
        await app.Logs.WaitUntilAsync(l => l["NoResponseServed"] >= 3, Deadline);
        Assert.False(second.IsCompleted);

        app.Page.OpenGate();
        Assert.Equal("v2", await first.WaitAsync(Deadline));

        // The second request waits for the first's execution, or runs its own when it reaches the middleware's lock
        // only after that execution ended (a busy machine): either way a new page, never the expired one.
        Assert.NotEqual("v1", await second.WaitAsync(Deadline));
    }

    [Fact]
    public void Grace_OutOfRange_Throws()
    {
        var builder = new OutputCachePolicyBuilderProbe();
        Assert.Throws<ArgumentOutOfRangeException>(() => builder.Apply(p => p.Grace(TimeSpan.Zero)));
        Assert.Throws<ArgumentOutOfRangeException>(() => builder.Apply(p => p.Grace(TimeSpan.FromDays(31))));
    }

    private static async Task AssertStaleServedAsync(TestApp app, string path, TimeSpan advance)
    {
        Assert.Equal("v1", await app.Client.GetStringAsync(path));
        app.Time.Advance(advance);

        var regeneration = app.Client.GetStringAsync(path);
        await app.Page.RegenerationStarted.WaitAsync(Deadline);

        // Past the default grace but within the policy's: served stale while the regeneration is gated.
        Assert.Equal("v1", await app.Client.GetStringAsync(path));
        app.Page.OpenGate();
        Assert.Equal("v2", await regeneration.WaitAsync(Deadline));
    }

    /// <summary>Builds a policy through the public <c>AddOutputCache</c> options, as an application would.</summary>
    private sealed class OutputCachePolicyBuilderProbe
    {
        public void Apply(Action<OutputCachePolicyBuilder> configure) => new OutputCacheOptions().AddPolicy("probe", configure);
    }
}
