using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.OutputCaching;
using Microsoft.Extensions.DependencyInjection;
using MintCache.AspNetCore.Refresh;
using MintCache.AspNetCore.Store;
using MintCache.AspNetCore.Tests.Fixtures;

namespace MintCache.AspNetCore.Tests.Refresh;

/// <summary>
/// The request is left as it was (design invariant 9): whatever the store does for the request whose lookup wins a
/// refresh, that request keeps its own <c>HttpContext</c> (through <see cref="IHttpContextAccessor"/> too) and its own
/// <see cref="Activity.Current"/>; the copy is a root activity of its own, linked to the winner's.
/// </summary>
/// <remarks>Serial: the activity listeners here are process-wide.</remarks>
[Collection(SerialCollection.Name)]
public sealed class RequestLeftAsItWasTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);
    private static readonly TimeSpan Fresh = TimeSpan.FromSeconds(10);

    [Theory]
    [InlineData("background")]
    [InlineData("eager")]
    [InlineData("foreground")]
    public async Task StaleHit_MiddlewareBeforeOutputCache_EveryRequestReadsItsOwnContext(string mode)
    {
        var page = new CountingPage();
        var seen = new ConcurrentQueue<string>();
        await using var app = await KestrelApp.StartAsync(
            o =>
            {
                o.RefreshMode = mode == "foreground" ? RefreshMode.Foreground : RefreshMode.Background;
                o.EagerRefreshThreshold = mode == "eager" ? 0.5 : null;
            },
            web => web.MapGet("/page", page.Render).CacheOutput(p => p.Expire(Fresh)),
            front: async (context, next) =>
            {
                var accessor = context.RequestServices.GetRequiredService<IHttpContextAccessor>();
                await next(context);
                if (context.IsBackgroundRegeneration())
                {
                    return;
                }

                if (context.Request.Headers.ContainsKey("X-Winner"))
                {
                    // Read once the refresh has begun: a copy has then been given its own context.
                    await page.SecondExecution.WaitAsync(Deadline);
                }

                seen.Enqueue(accessor.HttpContext is null ? "null" : ReferenceEquals(accessor.HttpContext, context) ? "own" : "another");
            });
        Assert.Equal("v1", await app.Client.GetStringAsync("/page"));

        // A real server sends the body before the output cache stores it: the clock moves once the page is stored.
        await app.Logs.WaitUntilAsync(l => l["EntryStored"] == 1, Deadline);
        app.Time.Advance(mode == "eager" ? Fresh / 2 : Fresh);

        using var winner = new HttpRequestMessage(HttpMethod.Get, "/page");
        winner.Headers.Add("X-Winner", "1");
        using var won = await app.Client.SendAsync(winner);
        Assert.Equal(mode == "foreground" ? "v2" : "v1", await won.Content.ReadAsStringAsync());
        for (var i = 0; i < 3; i++)
        {
            await app.Client.GetStringAsync("/page");
        }

        // Read after each response was sent: waited for, not assumed.
        await Eventually.HoldsAsync(() => seen.Count == 5, Deadline, "every request's middleware read the accessor");
        Assert.Equal(2, page.Executions);
        Assert.Equal(["own", "own", "own", "own", "own"], seen.ToArray());
    }

    [Fact]
    public async Task Copy_IsARootActivity_LinkedToTheWinners_WinnersActivityUnchanged()
    {
        var page = new CountingPage();
        var regenerations = new ConcurrentQueue<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = s => s.Name is MintCacheDiagnostics.ActivitySourceName or "Microsoft.AspNetCore",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStarted = a =>
            {
                if (a.OperationName == MintCacheDiagnostics.RegenerateActivity)
                {
                    regenerations.Enqueue(a);
                }
            },
        };
        ActivitySource.AddActivityListener(listener);
        Activity? winnerBefore = null;
        Activity? winnerAfter = null;
        var winnerRead = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var app = await KestrelApp.StartAsync(
            o => o.RefreshMode = RefreshMode.Background,
            web => web.MapGet("/traced", page.Render).CacheOutput(p => p.Expire(Fresh)),
            front: async (context, next) =>
            {
                var before = Activity.Current;
                await next(context);
                if (context.Request.Headers.ContainsKey("X-Winner") && !context.IsBackgroundRegeneration())
                {
                    await page.SecondExecution.WaitAsync(Deadline);
                    (winnerBefore, winnerAfter) = (before, Activity.Current);
                    winnerRead.TrySetResult();
                }
            });
        Assert.Equal("v1", await app.Client.GetStringAsync("/traced"));
        await app.Logs.WaitUntilAsync(l => l["EntryStored"] == 1, Deadline);
        app.Time.Advance(Fresh);
        using var winner = new HttpRequestMessage(HttpMethod.Get, "/traced");
        winner.Headers.Add("X-Winner", "1");
        using var won = await app.Client.SendAsync(winner);
        Assert.Equal("v1", await won.Content.ReadAsStringAsync());

        // Read after the response was sent: waited for, not assumed.
        await winnerRead.Task.WaitAsync(Deadline);
        Assert.NotNull(winnerBefore);
        Assert.Same(winnerBefore, winnerAfter);
        var regeneration = Assert.Single(regenerations, a => (a.GetTagItem("url.path") as string) == "/traced");
        Assert.Null(regeneration.Parent);
        Assert.Equal(default, regeneration.ParentSpanId);
        Assert.NotEqual(winnerBefore.TraceId, regeneration.TraceId);
        var link = Assert.Single(regeneration.Links);
        Assert.Equal(winnerBefore.TraceId, link.Context.TraceId);
        Assert.Equal(winnerBefore.SpanId, link.Context.SpanId);
    }

    [Fact]
    public async Task ActivityListenerThrows_NoSlotLeaks_AndThePageStillRefreshes()
    {
        using var listener = new ActivityListener
        {
            ShouldListenTo = s => s.Name == MintCacheDiagnostics.ActivitySourceName,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStarted = a =>
            {
                if (a.OperationName == MintCacheDiagnostics.RegenerateActivity)
                {
                    throw new InvalidOperationException("A broken listener.");
                }
            },
        };
        ActivitySource.AddActivityListener(listener);
        await using var app = await TestApp.StartAsync(o => o.RefreshMode = RefreshMode.Background);
        var regenerator = app.Services.GetRequiredService<BackgroundRegenerator>();
        var store = (MintOutputCacheStore)app.Services.GetRequiredService<IOutputCacheStore>();
        app.Page.UngatedExecutions = int.MaxValue;
        Assert.Equal("v1", await app.Client.GetStringAsync("/page"));
        app.Time.Advance(TestApp.Fresh);

        Assert.Equal("v1", await app.Client.GetStringAsync("/page"));
        await Eventually.HoldsAsync(() => app.Page.Executions == 2 && regenerator.Running == 0 && store.LocalClaimCount == 0, Deadline, "the regeneration gave its slot and its claim back");
        Assert.Equal("v2", await app.Client.GetStringAsync("/page"));
    }

    /// <summary>Answers "vN" for its N-th execution and signals the second one (the refresh).</summary>
    private sealed class CountingPage
    {
        private readonly TaskCompletionSource _second = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _executions;

        public int Executions => Volatile.Read(ref _executions);

        public Task SecondExecution => _second.Task;

        public string Render()
        {
            var execution = Interlocked.Increment(ref _executions);
            if (execution >= 2)
            {
                _second.TrySetResult();
            }

            return "v" + execution;
        }
    }
}
