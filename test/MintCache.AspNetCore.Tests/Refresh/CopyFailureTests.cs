using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using MintCache.AspNetCore.Diagnostics;
using MintCache.AspNetCore.Refresh;
using MintCache.AspNetCore.Tests.Fixtures;

namespace MintCache.AspNetCore.Tests.Refresh;

/// <summary>
/// A copy is not the real request: a failure that only a copy has (it lacks a server feature its original had) sends
/// the key's next claim to the foreground, without extending a fail-safe; and whatever a copy's completion callbacks
/// do, its request services are disposed.
/// </summary>
public sealed class CopyFailureTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);
    private static readonly TimeSpan Fresh = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan Backoff = TimeSpan.FromSeconds(1);

    [Theory]
    [InlineData("throws", false)]
    [InlineData("answers 500", false)]
    [InlineData("throws", true)]
    public async Task CopyLacksAServerFeature_NextClaimRendersInTheForeground(string failure, bool failSafe)
    {
        var executions = 0;
        await using var app = await KestrelApp.StartAsync(
            o =>
            {
                o.RefreshMode = RefreshMode.Background;
                o.FailureBackoff = Backoff;
                o.FailSafe = failSafe ? TimeSpan.FromHours(1) : null;
            },
            web => web.MapGet("/limits", (HttpContext c) =>
            {
                var execution = Interlocked.Increment(ref executions);

                // What an app may assume of every request it gets from a real server.
                if (c.Features.Get<IHttpMaxRequestBodySizeFeature>() is null)
                {
                    return failure == "throws"
                        ? throw new InvalidOperationException("This app needs IHttpMaxRequestBodySizeFeature.")
                        : Results.StatusCode(StatusCodes.Status500InternalServerError);
                }

                return Results.Text("v" + execution);
            }).CacheOutput(p => p.Expire(Fresh)));
        var regenerator = app.Services.GetRequiredService<BackgroundRegenerator>();
        Assert.Equal("v1", await app.Client.GetStringAsync("/limits"));

        // A real server sends the body before the output cache stores it: the clock moves once the page is stored.
        await app.Logs.WaitUntilAsync(l => l["EntryStored"] == 1, Deadline);
        app.Time.Advance(Fresh);

        // The copy fails where the real request would not.
        Assert.Equal("v1", await app.Client.GetStringAsync("/limits"));
        await Eventually.HoldsAsync(() => Volatile.Read(ref executions) == 2 && regenerator.Running == 0, Deadline, "the copy ran and ended");

        // The next claim renders in the foreground (past the backoff, in case one applied), and the page refreshes: not
        // kept stale (or extended by a fail-safe) by failures only a copy has.
        app.Time.Advance(Backoff);
        Assert.Equal("v3", await app.Client.GetStringAsync("/limits"));
        Assert.Equal("v3", await app.Client.GetStringAsync("/limits"));
        Assert.Equal(3, Volatile.Read(ref executions));
        Assert.Equal(1, app.Logs["CopyFailed"]);
        Assert.Equal(Log.IdCopyFailed, app.Logs.Collector.GetSnapshot().Single(r => r.Id.Name == "CopyFailed").Id.Id);

        // Logged once per endpoint: the same failure at the next refresh runs in the foreground again, quietly.
        await app.Logs.WaitUntilAsync(l => l["EntryStored"] == 2, Deadline);
        app.Time.Advance(Fresh);
        Assert.Equal("v3", await app.Client.GetStringAsync("/limits"));
        await Eventually.HoldsAsync(() => Volatile.Read(ref executions) == 4 && regenerator.Running == 0, Deadline, "the next copy ran and ended");
        app.Time.Advance(Backoff);
        Assert.Equal("v5", await app.Client.GetStringAsync("/limits"));
        Assert.Equal(1, app.Logs["CopyFailed"]);
    }

    [Fact]
    public async Task CompletionCallbackThrows_CopysScopedServicesStillDisposed()
    {
        var disposals = new DisposalCount();
        var executions = 0;
        await using var app = await TestApp.StartAsync(
            o => o.RefreshMode = RefreshMode.Background,
            configureServices: services => services.AddSingleton(disposals).AddScoped<ScopedProbe>(),
            mapMore: web => web.MapGet("/callbacks", (HttpContext c, ScopedProbe probe) =>
            {
                c.Response.OnCompleted(() => c.IsBackgroundRegeneration() ? throw new InvalidOperationException("A failing callback.") : Task.CompletedTask);
                return "v" + Interlocked.Increment(ref executions);
            }).CacheOutput(p => p.Expire(TestApp.Fresh)));
        Assert.Equal("v1", await app.Client.GetStringAsync("/callbacks"));
        await Eventually.HoldsAsync(() => disposals.Value == 1, Deadline, "the request's scope is disposed");
        app.Time.Advance(TestApp.Fresh);

        Assert.Equal("v1", await app.Client.GetStringAsync("/callbacks"));
        await Eventually.HoldsAsync(() => disposals.Value == 2, Deadline, "the copy's scope is disposed although a callback threw");
        await app.Logs.WaitUntilAsync(l => l["CompletionCallbackFailed"] == 1, Deadline);
        Assert.Equal("v2", await app.Client.GetStringAsync("/callbacks"));
    }

    public sealed class DisposalCount
    {
        private int _value;

        public int Value => Volatile.Read(ref _value);

        public void Increment() => Interlocked.Increment(ref _value);
    }

    public sealed class ScopedProbe(DisposalCount count) : IDisposable
    {
        public void Dispose() => count.Increment();
    }
}
