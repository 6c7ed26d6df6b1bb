using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.OutputCaching;
using Microsoft.Extensions.DependencyInjection;
using MintCache.AspNetCore.Tests.Fixtures;
using Xunit.Abstractions;

namespace MintCache.AspNetCore.Tests.Refresh;

/// <summary>
/// Background refresh: every request is served the stale page, and one regeneration runs outside any user's request.
/// </summary>
public sealed class BackgroundRefreshTests(ITestOutputHelper output)
{
    private const int StormSize = 200;
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    [Theory]
    [InlineData("/page")]
    [InlineData("/mvc/page")]
    public async Task StaleStorm_Background_EveryRequestServedStale_OneRegeneration(string path)
    {
        await using var app = await TestApp.StartAsync(o =>
        {
            o.Grace = TimeSpan.FromMinutes(1);
            o.RefreshMode = RefreshMode.Background;
        });
        Assert.Equal("v1", await app.Client.GetStringAsync(path));
        app.Time.Advance(TestApp.Fresh);
        app.Logs.Reset();

        var storm = Enumerable.Range(0, StormSize).Select(_ => app.Client.GetAsync(path)).ToArray();
        var responses = await Task.WhenAll(storm).WaitAsync(Deadline);
        await app.Page.RegenerationStarted.WaitAsync(Deadline);

        Assert.False(app.Page.IsGateOpen);
        Assert.All(responses, r => Assert.Equal(HttpStatusCode.OK, r.StatusCode));
        var bodies = await Task.WhenAll(responses.Select(r => r.Content.ReadAsStringAsync()));
        Assert.All(bodies, b => Assert.Equal("v1", b));
        Assert.Equal(1, app.Logs["NoResponseServed"]); // the regeneration's own lookup: no user waited behind it
        Assert.Equal(2, app.Page.Executions);
        output.WriteLine($"{path}: {bodies.Length}/{StormSize} served stale with the regeneration gated; 0 waited");

        app.Page.OpenGate();
        await app.Logs.WaitUntilAsync(l => l["EntryStored"] >= 1, Deadline);
        Assert.Equal("v2", await app.Client.GetStringAsync(path));
        Assert.Equal(2, app.Page.Executions);
    }

    [Fact]
    public async Task Regeneration_CarriesNoCookieOrAuthorization()
    {
        // The output cache's default policy neither looks up nor stores a request with an Authorization header; this
        // page opts in, so that the request the regeneration is captured from carries both credentials.
        await using var app = await TestApp.StartAsync(o => o.RefreshMode = RefreshMode.Background, pagePolicy: p => p.AddPolicy<CacheAuthorizedRequestsPolicy>());
        using var first = new HttpRequestMessage(HttpMethod.Get, "/page");
        first.Headers.Add("Cookie", "session=secret");
        first.Headers.Add("Authorization", "Bearer secret-token");
        Assert.Equal("v1", await (await app.Client.SendAsync(first)).Content.ReadAsStringAsync());
        app.Time.Advance(TestApp.Fresh);
        app.Page.OpenGate();

        using var stale = new HttpRequestMessage(HttpMethod.Get, "/page");
        stale.Headers.Add("Cookie", "session=other");
        stale.Headers.Add("Authorization", "Bearer other-token");
        Assert.Equal("v1", await (await app.Client.SendAsync(stale)).Content.ReadAsStringAsync());
        await app.Logs.WaitUntilAsync(l => l["EntryStored"] >= 2, Deadline);

        Assert.Equal(["session=secret|Bearer secret-token", "|"], app.Page.SeenCredentials.ToArray());
        Assert.Equal([false, true], app.Page.SeenRegenerationFlags.ToArray());
        Assert.Equal("v2", await app.Client.GetStringAsync("/page"));
    }

    [Fact]
    public async Task PageVaryingByCookie_IsRefreshedInTheForeground()
    {
        await using var app = await TestApp.StartAsync(o => o.RefreshMode = RefreshMode.Background, pagePolicy: p => p.SetVaryByHeader("Cookie"));
        Assert.Equal("v1", await app.Client.GetStringAsync("/page"));
        app.Time.Advance(TestApp.Fresh);

        // The claim winner runs the endpoint itself: it is held behind the gate, as in the foreground mode.
        var winner = app.Client.GetStringAsync("/page");
        await app.Page.RegenerationStarted.WaitAsync(Deadline);
        Assert.Equal("v1", await app.Client.GetStringAsync("/page"));
        Assert.False(winner.IsCompleted);
        Assert.True(app.Logs["ForegroundFallback"] >= 1);

        app.Page.OpenGate();
        Assert.Equal("v2", await winner.WaitAsync(Deadline));
    }

    [Theory]
    [InlineData("/page")]
    [InlineData("/mvc/page")]
    public async Task PolicyRefreshBackground_OverridesForegroundDefault(string path)
    {
        await using var app = await TestApp.StartAsync(pagePolicy: p => p.Refresh(RefreshMode.Background));
        Assert.Equal("v1", await app.Client.GetStringAsync(path));
        app.Time.Advance(TestApp.Fresh);

        Assert.Equal("v1", await app.Client.GetStringAsync(path));
        await app.Page.RegenerationStarted.WaitAsync(Deadline);
        Assert.Equal("v1", await app.Client.GetStringAsync(path));

        app.Page.OpenGate();
        await app.Logs.WaitUntilAsync(l => l["EntryStored"] >= 2, Deadline);
        Assert.Equal("v2", await app.Client.GetStringAsync(path));
    }

    [Fact]
    public async Task RegenerationFails_StaleStays_NextAttemptWaitsForBackoff()
    {
        await using var app = await TestApp.StartAsync(o =>
        {
            o.RefreshMode = RefreshMode.Background;
            o.Grace = TimeSpan.FromMinutes(5);
            o.FailureBackoff = TimeSpan.FromSeconds(2);
        });
        Assert.Equal("v1", await app.Client.GetStringAsync("/page"));
        app.Time.Advance(TestApp.Fresh);
        app.Page.Outcome = RegenerationOutcome.ServerError;
        app.Page.OpenGate();

        Assert.Equal("v1", await app.Client.GetStringAsync("/page"));
        await app.Logs.WaitUntilAsync(l => l["RegenerationNotStored"] == 1, Deadline);
        for (var i = 0; i < 5; i++)
        {
            Assert.Equal("v1", await app.Client.GetStringAsync("/page"));
        }

        Assert.Equal(2, app.Page.Executions); // throttled: no attempt on every request

        app.Page.Outcome = RegenerationOutcome.Render;
        app.Time.Advance(TimeSpan.FromSeconds(2));
        Assert.Equal("v1", await app.Client.GetStringAsync("/page"));
        await app.Logs.WaitUntilAsync(l => l["EntryStored"] >= 2, Deadline);
        Assert.Equal("v3", await app.Client.GetStringAsync("/page"));
    }

    [Fact]
    public async Task Shutdown_CancelsRunningRegeneration_AndStartsNoNewOne()
    {
        var app = await TestApp.StartAsync(o => o.RefreshMode = RefreshMode.Background);
        try
        {
            app.Page.UngatedExecutions = 2;
            Assert.Equal("v1", await app.Client.GetStringAsync("/page?id=1"));
            Assert.Equal("v2", await app.Client.GetStringAsync("/page?id=2"));
            app.Time.Advance(TestApp.Fresh);
            Assert.Equal("v1", await app.Client.GetStringAsync("/page?id=1"));
            await app.Page.RegenerationStarted.WaitAsync(Deadline);

            await app.StopAsync();

            await app.Logs.WaitUntilAsync(l => l["BackgroundRegenerationCancelled"] == 1, Deadline);
            Assert.Equal(3, app.Page.Executions);

            // A stale page whose claim is still to be won is served stale after the stop, and starts nothing: the
            // start is logged inside the lookup, before the response, so its absence is known once the page is here.
            Assert.Equal("v2", await app.Client.GetStringAsync("/page?id=2"));
            Assert.Equal(1, app.Logs["BackgroundRegenerationStarted"]);
            Assert.Equal(0, app.Services.GetRequiredService<AspNetCore.Refresh.BackgroundRegenerator>().Running);
            Assert.Equal(3, app.Page.Executions);
        }
        finally
        {
            await app.DisposeAsync();
        }
    }

    [Fact]
    public async Task Concurrency_IsBounded_ExtraStalePagesServedAndRetriedLater()
    {
        await using var app = await TestApp.StartAsync(o =>
        {
            o.RefreshMode = RefreshMode.Background;
            o.MaxConcurrentRegenerations = 1;
        });
        app.Page.UngatedExecutions = 2;
        Assert.Equal("v1", await app.Client.GetStringAsync("/page?id=1"));
        Assert.Equal("v2", await app.Client.GetStringAsync("/page?id=2"));
        app.Time.Advance(TestApp.Fresh);

        // The gate holds the first regeneration; the first render was the only ungated execution.
        Assert.Equal("v1", await app.Client.GetStringAsync("/page?id=1"));
        await app.Page.RegenerationStarted.WaitAsync(Deadline);
        Assert.Equal("v2", await app.Client.GetStringAsync("/page?id=2"));

        Assert.Equal(1, app.Logs["RegenerationSlotsFull"]);
        Assert.Equal(3, app.Page.Executions);

        // Once the slot is free, the next lookup of the second page regenerates it.
        app.Page.OpenGate();
        await app.Logs.WaitUntilAsync(l => l["EntryStored"] >= 3, Deadline);

        // The slot is freed when the first regeneration has wound down, a little after its page was stored.
        var regenerator = app.Services.GetRequiredService<AspNetCore.Refresh.BackgroundRegenerator>();
        await Eventually.HoldsAsync(() => regenerator.Running == 0, Deadline, "the regeneration slot is free again");
        Assert.Equal("v2", await app.Client.GetStringAsync("/page?id=2"));
        await app.Logs.WaitUntilAsync(l => l["EntryStored"] >= 4, Deadline);
        Assert.Equal(4, app.Page.Executions);
        Assert.Equal("v4", await app.Client.GetStringAsync("/page?id=2"));
    }

    /// <summary>Lets requests that carry an <c>Authorization</c> header be looked up and stored, as an app may choose to.</summary>
    private sealed class CacheAuthorizedRequestsPolicy : IOutputCachePolicy
    {
        public ValueTask CacheRequestAsync(OutputCacheContext context, CancellationToken cancellationToken)
        {
            context.AllowCacheLookup = true;
            context.AllowCacheStorage = true;
            return ValueTask.CompletedTask;
        }

        public ValueTask ServeFromCacheAsync(OutputCacheContext context, CancellationToken cancellationToken) => ValueTask.CompletedTask;

        public ValueTask ServeResponseAsync(OutputCacheContext context, CancellationToken cancellationToken) => ValueTask.CompletedTask;
    }
}
