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

    private static async Task<TestApp> StartFailingAsync(TimeSpan? failSafe)
    {
        var app = await TestApp.StartAsync(o =>
        {
            o.RefreshMode = RefreshMode.Background;
            o.Grace = Grace;
            o.FailureBackoff = Backoff;
            o.FailSafe = failSafe;
        });
        Assert.Equal("v1", await app.Client.GetStringAsync("/page"));
        app.Page.Outcome = RegenerationOutcome.ServerError;
        app.Page.OpenGate();
        app.Time.Advance(TestApp.Fresh);
        return app;
    }
}
