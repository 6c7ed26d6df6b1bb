using System.Net;
using MintCache.AspNetCore.Tests.Fixtures;

namespace MintCache.AspNetCore.Tests.Refresh;

/// <summary>Stale-if-error: while regenerations keep failing, the fail-safe keeps the stale page alive, up to a bound.</summary>
public sealed class FailSafeTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan Grace = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan Backoff = TimeSpan.FromSeconds(2);

    [Fact]
    public async Task FailSafe_FailingOrigin_StalePageOutlivesGrace_UntilTheBound()
    {
        var failSafe = TimeSpan.FromSeconds(30);
        await using var app = await StartFailingAsync(failSafe);

        // Fresh 10 s + grace 5 s would expire at 15 s; each failure extends it by the grace, up to 15 + 30 = 45 s.
        var bound = TestApp.Fresh + Grace + failSafe;
        var failures = 0;
        for (var elapsed = TestApp.Fresh; elapsed < bound; elapsed += Backoff)
        {
            Assert.Equal("v1", await app.Client.GetStringAsync("/page"));
            failures++;
            await app.Logs.WaitUntilAsync(l => l["RegenerationNotStored"] == failures, Deadline);

            // The last step stops one tick short of the bound, inside the last failure's backoff.
            app.Time.Advance(elapsed + Backoff < bound ? Backoff : bound - elapsed - TimeSpan.FromTicks(1));
        }

        // The last instant of the bound still serves the stale page, and starts no attempt within the backoff: one
        // attempt at the origin per backoff, never one per request, and the first render the only other execution.
        Assert.Equal("v1", await app.Client.GetStringAsync("/page"));
        Assert.Equal(failures, app.Logs["BackgroundRegenerationStarted"]);
        Assert.Equal(1 + failures, app.Page.Executions);

        // At the bound the page is gone, although the last failure's grace would reach past it.
        app.Time.Advance(TimeSpan.FromTicks(1));
        var expired = await app.Client.GetAsync("/page");
        Assert.Equal(HttpStatusCode.InternalServerError, expired.StatusCode);
    }

    [Fact]
    public async Task NoFailSafe_FailingOrigin_StalePageGoneAfterGrace()
    {
        await using var app = await StartFailingAsync(failSafe: null);

        Assert.Equal("v1", await app.Client.GetStringAsync("/page"));
        await app.Logs.WaitUntilAsync(l => l["RegenerationNotStored"] == 1, Deadline);
        app.Time.Advance(Grace);

        var expired = await app.Client.GetAsync("/page");
        Assert.Equal(HttpStatusCode.InternalServerError, expired.StatusCode);
    }

    [Fact]
    public async Task FailSafe_RegenerationHeldPastGrace_StalePageStaysInService()
    {
        // The defaults' hole, scaled down: grace 1 s, regeneration timeout 3 s, backoff 0.5 s. A regeneration that hangs
        // until its timeout is released only after the grace ran out: the page must stay in service all along.
        var grace = TimeSpan.FromSeconds(1);
        var timeout = TimeSpan.FromSeconds(3);
        await using var app = await TestApp.StartAsync(o =>
        {
            o.RefreshMode = RefreshMode.Background;
            o.Grace = grace;
            o.FailSafe = TimeSpan.FromSeconds(60);
            o.RegenerationTimeout = timeout;
            o.FailureBackoff = TimeSpan.FromMilliseconds(500);
        });
        Assert.Equal("v1", await app.Client.GetStringAsync("/page"));
        app.Page.Outcome = RegenerationOutcome.ServerError;
        app.Time.Advance(TestApp.Fresh);

        Assert.Equal("v1", await app.Client.GetStringAsync("/page")); // wins the claim; the regeneration hangs at the gate
        await app.Page.RegenerationStarted.WaitAsync(Deadline);

        // Past the grace, and up to the timeout, every user is served the stale page; nobody runs the origin.
        for (var elapsed = TimeSpan.Zero; elapsed < timeout; elapsed += grace / 4)
        {
            app.Time.Advance(grace / 4);
            Assert.Equal("v1", await app.Client.GetStringAsync("/page"));
        }

        Assert.Equal(2, app.Page.Executions);

        // The timeout cancels the regeneration; the failure extends the page by another grace, and the next attempt
        // fails too, with the page still in service.
        app.Time.Advance(grace / 4);
        await app.Logs.WaitUntilAsync(l => l["RegenerationNotStored"] == 1, Deadline);
        app.Page.OpenGate();
        app.Time.Advance(TimeSpan.FromMilliseconds(500));
        Assert.Equal("v1", await app.Client.GetStringAsync("/page"));
        await app.Logs.WaitUntilAsync(l => l["RegenerationNotStored"] == 2, Deadline);
        Assert.Equal("v1", await app.Client.GetStringAsync("/page"));
        Assert.Equal(3, app.Page.Executions);
    }

    private static async Task<TestApp> StartFailingAsync(TimeSpan? failSafe)
    {
        var app = await TestApp.StartAsync(o =>
        {
            o.RefreshMode = RefreshMode.Background;
            o.Grace = Grace;
            o.FailureBackoff = Backoff;
            o.RegenerationTimeout = TimeSpan.FromSeconds(10);
            o.FailSafe = failSafe;
        });
        Assert.Equal("v1", await app.Client.GetStringAsync("/page"));
        app.Page.Outcome = RegenerationOutcome.ServerError;
        app.Page.OpenGate();
        app.Time.Advance(TestApp.Fresh);
        return app;
    }
}
