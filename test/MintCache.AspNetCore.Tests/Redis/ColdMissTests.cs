using System.Diagnostics;
using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.OutputCaching;
using Microsoft.Extensions.DependencyInjection;
using MintCache.AspNetCore.Diagnostics;
using MintCache.AspNetCore.Tests.Fixtures;
using Xunit.Abstractions;

namespace MintCache.AspNetCore.Tests.Redis;

/// <summary>design.md §2 invariant 1 (one regeneration, farm-wide), for a cold miss: a page missing everywhere is rendered once for the farm; the others wait, boundedly.</summary>
[Collection(RedisCollection.Name)]
public sealed class ColdMissTests(RedisServerFixture redis, ITestOutputHelper output)
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(15);

    [Fact]
    public async Task ColdStorm_TwoHosts_OneExecutionAndEveryoneServedIt()
    {
        const int requests = 200;
        var prefix = RedisHost.UniquePrefix();
        var endpoint = new GatedEndpoint();
        await using var a = await RedisHost.StartAsync(redis.Endpoint, prefix, endpoint, TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(1));
        await using var b = await RedisHost.StartAsync(redis.Endpoint, prefix, endpoint, TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(1));
        await Eventually.HoldsAsync(() => a.Backend.Notifications.IsLive && b.Backend.Notifications.IsLive, Deadline, "both hosts subscribed");

        endpoint.Close();
        var completedWhileGated = 0;
        var clock = Stopwatch.StartNew();
        var storm = Enumerable.Range(0, requests).Select(async i =>
        {
            var body = await (i % 2 == 0 ? a : b).Client.GetStringAsync("/page");
            if (endpoint.IsClosed)
            {
                Interlocked.Increment(ref completedWhileGated);
            }

            return body;
        }).ToArray();

        // One host renders; the other's lookup waits for it (shared by every request of that host).
        await Eventually.HoldsAsync(
            () => endpoint.Executions >= 1 && a.Backend.Notifications.WaiterCount + b.Backend.Notifications.WaiterCount >= 1,
            Deadline,
            "one execution runs and the other host waits");
        var gatedFor = clock.Elapsed;
        endpoint.Open();
        var bodies = await Task.WhenAll(storm).WaitAsync(Deadline);

        var waits = a.CountLogs(Log.IdColdMissWaited) + b.CountLogs(Log.IdColdMissWaited);
        output.WriteLine($"server={redis.Kind} executions={endpoint.Executions} completed while gated={completedWhileGated}/{requests} waits ended={waits} expired={a.CountLogs(Log.IdColdMissWaitExpired) + b.CountLogs(Log.IdColdMissWaitExpired)} gate held {gatedFor.TotalMilliseconds:F0} ms, storm {clock.ElapsedMilliseconds} ms");
        Assert.Equal(1, endpoint.Executions);
        Assert.Equal(0, completedWhileGated);
        Assert.All(bodies, body => Assert.Equal("page 1", body));
        Assert.True(waits >= 1, "the host without the claim waited for the page");
    }

    [Fact]
    public async Task ColdMiss_HolderStores_WaiterServedItPromptly()
    {
        var prefix = RedisStoreHarness.UniquePrefix();
        await using var a = new RedisStoreHarness(redis.Endpoint, prefix);
        await using var b = new RedisStoreHarness(redis.Endpoint, prefix);
        await Eventually.HoldsAsync(() => b.Backend.Notifications.IsLive, Deadline, "B subscribed");

        Assert.Null(await a.Store.GetAsync("k", default));
        Assert.Equal(1, a.Store.LocalClaimCount);
        var waiting = b.Store.GetAsync("k", default).AsTask();
        await Eventually.HoldsAsync(() => b.Backend.Notifications.WaiterCount == 1, Deadline, "B waits");
        Assert.False(waiting.IsCompleted);

        var stored = Stopwatch.StartNew();
        await a.Store.SetAsync("k", Bytes("v1"), [], TimeSpan.FromMinutes(1), default);
        var page = await waiting.WaitAsync(Deadline);
        output.WriteLine($"waiter served {stored.Elapsed.TotalMilliseconds:F1} ms after the store");
        Assert.Equal("v1", Text(page));
        Assert.Equal(0, a.Store.LocalClaimCount);
    }

    [Fact]
    public async Task ColdMiss_HolderDies_WaiterFallsThroughAfterBoundThenRegeneratesAfterLease()
    {
        var prefix = RedisStoreHarness.UniquePrefix();
        var lease = TimeSpan.FromSeconds(8);
        var bound = TimeSpan.FromMilliseconds(300);

        // Room for a stalled machine above the bound, and still below the lease: a waiter kept until the claim lapses fails.
        var slack = TimeSpan.FromSeconds(4);
        await using var a = new RedisStoreHarness(redis.Endpoint, prefix, o => { o.LeaseDuration = lease; o.FailureBackoff = TimeSpan.Zero; });
        await using var b = new RedisStoreHarness(redis.Endpoint, prefix, o => { o.LeaseDuration = lease; o.FailureBackoff = TimeSpan.Zero; o.Redis.ColdMissWait = bound; });
        await Eventually.HoldsAsync(() => b.Backend.Notifications.IsLive, Deadline, "B subscribed");

        // A wins the claim and never stores (outside a request nothing releases it: as if the process died).
        Assert.Null(await a.Store.GetAsync("k", default));

        var clock = Stopwatch.StartNew();
        Assert.Null(await b.Store.GetAsync("k", default));
        var waited = clock.Elapsed;
        Assert.InRange(waited, bound, bound + slack);
        Assert.Equal(1, b.CountLogs(Log.IdColdMissWaitExpired));
        Assert.Equal(0, b.Store.LocalClaimCount);

        // Once the lease lapses, the next lookup on B takes the claim and renders.
        var lapse = await Eventually.HoldsAsync(
            async () => await b.Store.GetAsync("k", default) is null && b.Store.LocalClaimCount == 1,
            Deadline,
            "B takes the lapsed claim");
        output.WriteLine($"waited {waited.TotalMilliseconds:F0} ms (bound {bound.TotalMilliseconds} ms), claim taken over {lapse.TotalMilliseconds + waited.TotalMilliseconds:F0} ms after A's (lease {lease.TotalMilliseconds} ms)");
    }

    [Fact]
    public async Task ColdMiss_HolderReleasesWithoutStore_WaitersStopWaitingAtOnce()
    {
        // The claim's backoff and the wait's bound are far longer than "at once" may take on a stalled machine, so a
        // waiter that is only let go when either runs out fails.
        var backoff = TimeSpan.FromSeconds(30);
        var atOnce = TimeSpan.FromSeconds(10);
        var prefix = RedisStoreHarness.UniquePrefix();
        await using var a = new RedisStoreHarness(redis.Endpoint, prefix);
        await using var b = new RedisStoreHarness(redis.Endpoint, prefix, o => o.Redis.ColdMissWait = TimeSpan.FromMinutes(1));
        await Eventually.HoldsAsync(() => b.Backend.Notifications.IsLive, Deadline, "B subscribed");
        var won = await a.Backend.LookupAsync("k", TimeSpan.FromMinutes(1), default);
        Assert.NotNull(won.Claim);

        var waiting = b.Store.GetAsync("k", default).AsTask();
        await Eventually.HoldsAsync(() => b.Backend.Notifications.WaiterCount == 1, Deadline, "B waits");

        // The regeneration failed: the claim backs off, and nobody waits for a page that will not come.
        var clock = Stopwatch.StartNew();
        await a.Backend.ReleaseClaimAsync("k", won.Claim.Value, backoff, failed: true, default);
        Assert.Null(await waiting.WaitAsync(atOnce + atOnce));
        output.WriteLine($"waiter released {clock.Elapsed.TotalMilliseconds:F0} ms after the release began");
        Assert.True(clock.Elapsed < atOnce, $"waited {clock.Elapsed}");

        // During the backoff, a lookup does not wait either.
        clock.Restart();
        Assert.Null(await b.Store.GetAsync("k", default).AsTask().WaitAsync(atOnce + atOnce));
        Assert.True(clock.Elapsed < atOnce, $"waited {clock.Elapsed}");
    }

    [Fact]
    public async Task ColdMiss_ClaimHeldByThisProcess_NoWaitOnItsOwnClaim()
    {
        var prefix = RedisHost.UniquePrefix();
        var endpoint = new GatedEndpoint();
        await using var host = await RedisHost.StartAsync(redis.Endpoint, prefix, endpoint, TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(1), o => o.Redis.ColdMissWait = TimeSpan.FromMinutes(1));
        await Eventually.HoldsAsync(() => host.Backend.Notifications.IsLive, Deadline, "subscribed");

        // The first lookup wins the claim of the missing page; a later lookup of the same process must not wait on a
        // notification for its own claim (outside a request nothing releases it before the lease).
        Assert.Null(await host.Store.GetAsync("cold-key", default));
        Assert.Null(await host.Store.GetAsync("cold-key", default).AsTask().WaitAsync(Deadline));
        Assert.Equal(1, host.Store.LocalClaimCount);
    }

    [Fact]
    public async Task ColdMiss_LookupAnsweredDuringOwnRender_ReachesMiddlewareAfterIt_ServedThatRender()
    {
        // The interleaving a loaded machine produces: a second request's lookup is answered while this process renders
        // the missing page, but the answer reaches the middleware only after that render stored and left the
        // middleware's per-key lock, so the request cannot join it any more.
        var prefix = RedisHost.UniquePrefix();
        var endpoint = new GatedEndpoint();
        await using var host = await RedisHost.StartAsync(
            redis.Endpoint,
            prefix,
            endpoint,
            TimeSpan.FromMinutes(1),
            TimeSpan.FromMinutes(1),
            o => o.Redis.ColdMissWait = TimeSpan.FromMinutes(1),
            configureServices: s =>
            {
                HeldAnswerStore.Decorate(s, heldCall: 2);
                PipelineEnds.Register(s);
            });
        var held = (HeldAnswerStore)host.Services.GetRequiredService<IOutputCacheStore>();
        var ends = host.Services.GetRequiredService<PipelineEnds>();
        await Eventually.HoldsAsync(() => host.Backend.Notifications.IsLive, Deadline, "subscribed");

        endpoint.Close();
        var first = host.Client.GetStringAsync("/page");
        await Eventually.HoldsAsync(() => endpoint.Waiting == 1 && host.Store.LocalClaimCount == 1, Deadline, "the first request renders under the cold claim");

        var second = host.Client.GetStringAsync("/page");
        await Eventually.HoldsAsync(
            () => held.HeldAnswered || host.Store.OwnColdClaimWaits == 1,
            Deadline,
            "the second lookup was answered, or waits on the claim of this process");
        endpoint.Open();
        Assert.Equal("page 1", await first.WaitAsync(Deadline));
        await Eventually.HoldsAsync(() => ends.Ended == 1, Deadline, "the first request left the middleware");

        held.Release();
        var served = await second.WaitAsync(Deadline);
        output.WriteLine($"second request served \"{served}\", executions={endpoint.Executions}");
        Assert.Equal(1, endpoint.Executions);
        Assert.Equal("page 1", served);
    }

    [Fact]
    public async Task ColdMiss_OwnClaimOfAnotherRequest_WaitsForItsStore_NotForItsOwnRequest()
    {
        var prefix = RedisStoreHarness.UniquePrefix();
        await using var a = new RedisStoreHarness(redis.Endpoint, prefix, o => o.Redis.ColdMissWait = TimeSpan.FromMinutes(1));
        await Eventually.HoldsAsync(() => a.Backend.Notifications.IsLive, Deadline, "subscribed");
        var accessor = a.Services.GetRequiredService<IHttpContextAccessor>();
        var rendering = new DefaultHttpContext();
        var other = new DefaultHttpContext();

        Assert.Null(await InRequestAsync(accessor, rendering, () => a.Store.GetAsync("k", default).AsTask()));
        Assert.Equal(1, a.Store.LocalClaimCount);

        // The request that renders looks again: its own claim never holds it.
        Assert.Null(await InRequestAsync(accessor, rendering, () => a.Store.GetAsync("k", default).AsTask()).WaitAsync(Deadline));

        // Another request of this process waits for that render instead of answering "miss" and rendering it again.
        var waiting = InRequestAsync(accessor, other, () => a.Store.GetAsync("k", default).AsTask());
        await Eventually.HoldsAsync(() => a.Store.OwnColdClaimWaits == 1, Deadline, "the other request waits on the claim");
        Assert.False(waiting.IsCompleted);

        await InRequestAsync(accessor, rendering, async () => { await a.Store.SetAsync("k", Bytes("v1"), [], TimeSpan.FromMinutes(1), default); return 0; });
        Assert.Equal("v1", Text(await waiting.WaitAsync(Deadline)));
        Assert.Equal(0, a.Store.OwnColdClaimWaits);
    }

    [Fact]
    public async Task ColdMiss_OwnRenderEndsWithoutStore_WaiterRendersAtOnce()
    {
        var prefix = RedisHost.UniquePrefix();
        var endpoint = new GatedEndpoint();
        await using var host = await RedisHost.StartAsync(
            redis.Endpoint, prefix, endpoint, TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(1), o => { o.Redis.ColdMissWait = TimeSpan.FromMinutes(1); o.FailureBackoff = TimeSpan.Zero; });
        await Eventually.HoldsAsync(() => host.Backend.Notifications.IsLive, Deadline, "subscribed");
        var statuses = new Queue<int>([500, 200]);
        endpoint.OnExecution = () => { lock (statuses) { return statuses.Dequeue(); } };

        endpoint.Close();
        var first = host.Client.GetAsync("/page");
        await Eventually.HoldsAsync(() => endpoint.Waiting == 1 && host.Store.LocalClaimCount == 1, Deadline, "the first request renders under the cold claim");
        var second = host.Client.GetStringAsync("/page");
        await Eventually.HoldsAsync(() => host.Store.OwnColdClaimWaits == 1 || endpoint.Executions == 2, Deadline, "the second request waits for the first");

        // The render fails: the claim ends with its request, and the waiter renders at once, not after ColdMissWait.
        var clock = Stopwatch.StartNew();
        endpoint.Open();
        using (var failed = await first.WaitAsync(Deadline))
        {
            Assert.Equal(500, (int)failed.StatusCode);
        }

        Assert.Equal("page 2", await second.WaitAsync(Deadline));
        output.WriteLine($"the waiter rendered {clock.Elapsed.TotalMilliseconds:F0} ms after the failed render was let go");
        Assert.Equal(2, endpoint.Executions);
    }

    private static async Task<T> InRequestAsync<T>(IHttpContextAccessor accessor, HttpContext request, Func<Task<T>> work)
        => await Task.Run(async () =>
        {
            // Its own flow: setting the accessor here leaves the other flows' requests as they were.
            accessor.HttpContext = request;
            return await work();
        });

    [Fact]
    public async Task ColdMiss_RedisDown_NoWaiting()
    {
        using var server = await RedisServerFixture.StartDedicatedAsync();
        var prefix = RedisStoreHarness.UniquePrefix();
        // A wait bound far above what a stalled machine may take to notice Redis is gone, so a waiter or lookup held
        // for the bound fails the test.
        var atOnce = TimeSpan.FromSeconds(20);
        Action<MintCacheOptions> options = o => { o.Redis.OperationTimeout = TimeSpan.FromSeconds(2); o.Redis.ColdMissWait = TimeSpan.FromMinutes(1); };
        await using var a = new RedisStoreHarness(server.Endpoint, prefix, options);
        await using var b = new RedisStoreHarness(server.Endpoint, prefix, options);
        await Eventually.HoldsAsync(() => a.Backend.Notifications.IsLive && b.Backend.Notifications.IsLive, Deadline, "both subscribed");
        Assert.Null(await a.Store.GetAsync("k", default));

        // A lookup waiting when Redis dies is woken and answered as a miss, long before its bound.
        var clock = Stopwatch.StartNew();
        var waiting = b.Store.GetAsync("k", default).AsTask();
        await Eventually.HoldsAsync(() => b.Backend.Notifications.WaiterCount == 1, Deadline, "B waits");
        server.Kill();
        Assert.Null(await waiting.WaitAsync(atOnce + atOnce));
        var wokenAfter = clock.Elapsed;

        // And with Redis down, nobody waits at all.
        clock.Restart();
        Assert.Null(await b.Store.GetAsync("k", default).AsTask().WaitAsync(atOnce + atOnce));
        var downLookup = clock.Elapsed;
        output.WriteLine($"server={server.Kind} waiter answered {wokenAfter.TotalMilliseconds:F0} ms after it began (Redis killed meanwhile); lookup while down {downLookup.TotalMilliseconds:F0} ms");
        Assert.True(wokenAfter < atOnce, $"waited {wokenAfter}");
        Assert.True(downLookup < atOnce, $"waited {downLookup}");
        Assert.False(b.Backend.Notifications.IsLive);
    }

    private static byte[] Bytes(string text) => Encoding.UTF8.GetBytes(text);

    private static string? Text(byte[]? page) => page is null ? null : Encoding.UTF8.GetString(page);
}
