using System.Net;
using MintCache.AspNetCore.Tests.Fixtures;

namespace MintCache.AspNetCore.Tests.Concurrency;

/// <summary>
/// When the request that regenerates a page does not store it, the stale page stays in service and the claim
/// passes on: after <see cref="MintCacheOptions.FailureBackoff"/> when the store learns of it, one lease after its
/// holder stopped renewing it at worst.
/// </summary>
public sealed class ClaimLapseTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan Backoff = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan Lease = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task RegenerationNeverEnds_RenewedUntilTimeout_ThenLapses_NextRequestTakesOver()
    {
        await using var app = await StartStaleAsync();

        var stuck = app.Client.GetAsync("/page");
        await app.Page.RegenerationStarted.WaitAsync(Deadline);

        // Its holder lives, so its claim is renewed: two and a half leases later, everyone is still served stale.
        for (var elapsed = TimeSpan.Zero; elapsed < Timeout + (Lease / 2); elapsed += TimeSpan.FromSeconds(1))
        {
            app.Time.Advance(TimeSpan.FromSeconds(1));
            Assert.Equal("v1", await app.Client.GetStringAsync("/page"));
        }

        Assert.Equal(2, app.Page.Executions);

        // Renewals stop at the regeneration timeout; one lease after the last, the claim lapses and is taken over. In
        // this process the middleware joins the taker to the stuck execution when its miss reaches the per-key lock
        // while that execution still holds it (another process would regenerate: see the Redis tests). The gate opens
        // once the claim is won, which does not wait for that: the taker may find the lock free and render itself.
        app.Time.Advance(Lease / 2);
        var takeover = app.Client.GetAsync("/page");
        await app.Logs.WaitUntilAsync(l => l["ClaimWon"] == 2, Deadline);
        app.Page.OpenGate();
        Assert.Equal("v2", await (await stuck.WaitAsync(Deadline)).Content.ReadAsStringAsync());
        var taken = await (await takeover.WaitAsync(Deadline)).Content.ReadAsStringAsync();

        // The stuck holder's page began before the takeover: it is refused either way, and the stale page never
        // comes back from it.
        if (taken == "v2")
        {
            // Joined: the taker never stored under its claim, which passes on after the backoff to a regeneration
            // of its own.
            await app.Logs.WaitUntilAsync(l => l["FencedWriteRefused"] == 1 && l["RegenerationNotStored"] == 1, Deadline);
            Assert.Equal("v1", await app.Client.GetStringAsync("/page"));
            app.Time.Advance(Backoff);
        }
        else
        {
            // Rendered itself: its page is stored under its claim.
            Assert.Equal("v3", taken);
            await app.Logs.WaitUntilAsync(l => l["FencedWriteRefused"] == 1, Deadline);
        }

        Assert.Equal("v3", await app.Client.GetStringAsync("/page"));
        Assert.Equal("v3", await app.Client.GetStringAsync("/page"));
        Assert.Equal(3, app.Page.Executions);
    }

    [Theory]
    [InlineData(RegenerationOutcome.Throw)]
    [InlineData(RegenerationOutcome.ServerError)]
    public async Task RegenerationFails_StaleKeepsBeingServed_NextRequestRegeneratesAfterBackoff(RegenerationOutcome outcome)
    {
        await using var app = await StartStaleAsync();
        app.Page.Outcome = outcome;
        app.Page.OpenGate();

        // The regenerating request gets exactly what the origin gave it: a failure the cache neither hides nor replaces.
        if (outcome == RegenerationOutcome.Throw)
        {
            // TestServer hands an exception the endpoint threw to the client.
            var thrown = await Assert.ThrowsAsync<InvalidOperationException>(() => app.Client.GetAsync("/page"));
            Assert.Equal("The origin failed.", thrown.Message);
        }
        else
        {
            using var failed = await app.Client.GetAsync("/page");
            Assert.Equal(HttpStatusCode.InternalServerError, failed.StatusCode);
            Assert.Equal("origin error", await failed.Content.ReadAsStringAsync());
        }

        Assert.Equal(2, app.Page.Executions);
        await app.Logs.WaitUntilAsync(l => l["RegenerationNotStored"] == 1, Deadline);

        // Within the backoff: the stale page, no new attempt.
        app.Time.Advance(Backoff - TimeSpan.FromTicks(1));
        for (var i = 0; i < 5; i++)
        {
            Assert.Equal("v1", await app.Client.GetStringAsync("/page"));
        }

        Assert.Equal(2, app.Page.Executions);

        // After it: exactly one more attempt, which now succeeds.
        app.Page.Outcome = RegenerationOutcome.Render;
        app.Time.Advance(TimeSpan.FromTicks(1));
        Assert.Equal("v3", await app.Client.GetStringAsync("/page"));
        Assert.Equal("v3", await app.Client.GetStringAsync("/page"));
        Assert.Equal(3, app.Page.Executions);
    }

    [Fact]
    public async Task RegeneratingClientAborts_StaleKeepsBeingServed_NextRequestRegeneratesAfterBackoff()
    {
        await using var app = await StartStaleAsync();
        using var abort = new CancellationTokenSource();

        var regeneration = app.Client.GetAsync("/page", abort.Token);
        await app.Page.RegenerationStarted.WaitAsync(Deadline);
        Assert.Equal("v1", await app.Client.GetStringAsync("/page"));
        await abort.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => regeneration);

        await app.Logs.WaitUntilAsync(l => l["RegenerationNotStored"] == 1, Deadline);
        app.Time.Advance(Backoff - TimeSpan.FromTicks(1));
        Assert.Equal("v1", await app.Client.GetStringAsync("/page"));
        app.Time.Advance(TimeSpan.FromTicks(1));
        app.Page.OpenGate();

        Assert.Equal("v3", await app.Client.GetStringAsync("/page"));
        Assert.Equal(3, app.Page.Executions);
    }

    private static async Task<TestApp> StartStaleAsync()
    {
        var app = await TestApp.StartAsync(o =>
        {
            o.Grace = TimeSpan.FromMinutes(5);
            o.LeaseDuration = Lease;
            o.FailureBackoff = Backoff;
            o.RegenerationTimeout = Timeout;
        });
        Assert.Equal("v1", await app.Client.GetStringAsync("/page"));
        app.Time.Advance(TestApp.Fresh);
        return app;
    }
}
