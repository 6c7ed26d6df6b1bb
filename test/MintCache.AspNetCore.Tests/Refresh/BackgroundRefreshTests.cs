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
    public async Task Regeneration_IsACopyOfTheWinner_ItsCookieAndAuthorizationIncluded()
    {
        // The output cache's default policy neither looks up nor stores a request with an Authorization header; this
        // page opts in. The copy renders what the winner would have rendered in the foreground: with its credentials.
        await using var app = await TestApp.StartAsync(o => o.RefreshMode = RefreshMode.Background, pagePolicy: p => p.AddPolicy<CacheAuthorizedRequestsPolicy>());
        using var first = new HttpRequestMessage(HttpMethod.Get, "/page");
        first.Headers.Add("Cookie", "session=first");
        first.Headers.Add("Authorization", "Bearer first-token");
        Assert.Equal("v1", await (await app.Client.SendAsync(first)).Content.ReadAsStringAsync());
        app.Time.Advance(TestApp.Fresh);
        app.Page.OpenGate();

        using var stale = new HttpRequestMessage(HttpMethod.Get, "/page");
        stale.Headers.Add("Cookie", "session=winner");
        stale.Headers.Add("Authorization", "Bearer winner-token");
        Assert.Equal("v1", await (await app.Client.SendAsync(stale)).Content.ReadAsStringAsync());
        await app.Logs.WaitUntilAsync(l => l["EntryStored"] >= 2, Deadline);

        Assert.Equal(["session=first|Bearer first-token", "session=winner|Bearer winner-token"], app.Page.SeenCredentials.ToArray());
        Assert.Equal([false, true], app.Page.SeenRegenerationFlags.ToArray());
        Assert.Equal("v2", await app.Client.GetStringAsync("/page"));

        // Used for the copy only: no log line at any level carries them.
        Assert.DoesNotContain(app.Logs.Collector.GetSnapshot(), r => r.Message.Contains("winner", StringComparison.Ordinal)
            || r.StructuredState?.Any(p => p.Value?.Contains("winner", StringComparison.Ordinal) == true) == true);
    }

    [Fact]
    public async Task PageVaryingByCookie_IsRefreshedInTheBackground_UnderTheWinnersCookie()
    {
        await using var app = await TestApp.StartAsync(o => o.RefreshMode = RefreshMode.Background, pagePolicy: p => p.SetVaryByHeader("Cookie"));
        app.Page.UngatedExecutions = 2;
        Assert.Equal("v1", await SendAsync(app, "lang=en"));
        Assert.Equal("v2", await SendAsync(app, "lang=fr"));
        app.Time.Advance(TestApp.Fresh);

        // The French page's winner is served stale; its copy, with its cookie, regenerates the French page only.
        Assert.Equal("v2", await SendAsync(app, "lang=fr"));
        await app.Page.RegenerationStarted.WaitAsync(Deadline);
        Assert.Equal(0, app.Logs["ForegroundFallback"]);
        app.Page.OpenGate();
        await app.Logs.WaitUntilAsync(l => l["EntryStored"] >= 3, Deadline);

        Assert.Equal("v3", await SendAsync(app, "lang=fr"));
        Assert.Equal("lang=fr|", app.Page.SeenCredentials.Last());
        Assert.Equal(3, app.Page.Executions);

        static async Task<string> SendAsync(TestApp app, string cookie)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "/page");
            request.Headers.Add("Cookie", cookie);
            return await (await app.Client.SendAsync(request)).Content.ReadAsStringAsync();
        }
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
    public async Task Concurrency_IsBounded_NoFreeSlot_TheWinnerRendersInTheForeground()
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

        // The gate holds the first page's regeneration, in the one slot.
        Assert.Equal("v1", await app.Client.GetStringAsync("/page?id=1"));
        await app.Page.RegenerationStarted.WaitAsync(Deadline);

        // The second page's winner finds no free slot: it renders the page itself, behind the same gate, rather than
        // leave the page stale; everyone else is served the stale page meanwhile.
        var winner = app.Client.GetStringAsync("/page?id=2");
        await Eventually.HoldsAsync(() => app.Page.Executions == 4, Deadline, "the second page's winner runs the endpoint");
        Assert.Equal(1, app.Logs["RegenerationSlotsFull"]);
        Assert.Equal("v2", await app.Client.GetStringAsync("/page?id=2"));
        Assert.False(winner.IsCompleted);

        app.Page.OpenGate();
        var rendered = await winner.WaitAsync(Deadline);
        Assert.Contains(rendered, new[] { "v3", "v4" });
        await app.Logs.WaitUntilAsync(l => l["EntryStored"] >= 4, Deadline);
        Assert.Equal(4, app.Page.Executions);
        Assert.Equal(rendered, await app.Client.GetStringAsync("/page?id=2"));
        Assert.Equal(1, app.Logs["BackgroundRegenerationStarted"]);
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
