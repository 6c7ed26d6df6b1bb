using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.OutputCaching;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using MintCache.AspNetCore.Tests.Fixtures;
using Xunit.Abstractions;

namespace MintCache.AspNetCore.Tests.Redis;

/// <summary>Background refresh, stale-if-error and the claim hand-off on the Redis backend, across two hosts.</summary>
public sealed class RedisRefreshTests(RedisServerFixture redis, ITestOutputHelper output) : IClassFixture<RedisServerFixture>
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(15);
    private static readonly TimeSpan ValidFor = TimeSpan.FromMilliseconds(300);

    [Fact]
    public async Task BackgroundStorm_TwoHosts_EveryRequestServedStale_OneExecution()
    {
        const int requests = 200;
        var prefix = RedisHost.UniquePrefix();
        var endpoint = new GatedEndpoint();
        Action<MintCacheOptions> background = static o => o.RefreshMode = RefreshMode.Background;
        await using var a = await RedisHost.StartAsync(redis.Endpoint, prefix, endpoint, ValidFor, TimeSpan.FromMinutes(1), background);
        await using var b = await RedisHost.StartAsync(redis.Endpoint, prefix, endpoint, ValidFor, TimeSpan.FromMinutes(1), background);
        Assert.Equal("page 1", await a.Client.GetStringAsync("/page"));
        await redis.WaitUntilEntriesStaleAsync(prefix, Deadline);

        endpoint.Close();
        var bodies = await Task.WhenAll(Enumerable.Range(0, requests)
            .Select(i => (i % 2 == 0 ? a : b).Client.GetStringAsync("/page"))).WaitAsync(Deadline);

        // Every request completed while the regeneration was still held at the gate.
        Assert.True(endpoint.IsClosed);
        Assert.All(bodies, body => Assert.Equal("page 1", body));
        await Eventually.HoldsAsync(() => endpoint.Waiting == 1, Deadline, "the one regeneration runs");
        Assert.Equal(2, endpoint.Executions);
        output.WriteLine($"server={redis.Kind}: {bodies.Length}/{requests} served stale while gated, executions during the storm: {endpoint.Executions - 1}");

        endpoint.Open();
        await Eventually.HoldsAsync(async () => await b.Client.GetStringAsync("/page") == "page 2", Deadline, "host B serves the regenerated page");
        Assert.Equal("page 2", await a.Client.GetStringAsync("/page"));
        Assert.Equal(2, endpoint.Executions);
    }

    [Fact]
    public async Task FailSafe_RegenerationsFail_StalePageOutlivesGraceOnRedis()
    {
        var prefix = RedisHost.UniquePrefix();
        var endpoint = new FailingEndpoint();

        // Each failure extends the page by one grace: a grace of 600 ms let the page expire once under the full suite,
        // when no lookup won the next claim within it (a cold miss then ran the failing origin for a user).
        var grace = TimeSpan.FromSeconds(2);
        await using var host = await RedisHost.StartAsync(redis.Endpoint, prefix, endpoint.Gated, ValidFor, grace, o =>
        {
            o.RefreshMode = RefreshMode.Background;
            o.FailureBackoff = TimeSpan.FromMilliseconds(50);
            o.FailSafe = TimeSpan.FromMinutes(1);
        });
        Assert.Equal("page 1", await host.Client.GetStringAsync("/page"));
        endpoint.FailFromNowOn(host);

        // Well past fresh + grace (2.3 s), the stale page is still served while each regeneration fails and
        // extends it by another grace.
        var served = 0;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (clock.Elapsed < ValidFor + grace + grace)
        {
            Assert.Equal("page 1", await host.Client.GetStringAsync("/page"));
            served++;
        }

        Assert.True(endpoint.Failures >= 2, $"only {endpoint.Failures} failed regenerations");
        output.WriteLine($"server={redis.Kind}: stale page served {served} times over {clock.Elapsed.TotalMilliseconds:F0} ms (fresh + grace = 2300 ms), {endpoint.Failures} failed regenerations");
    }

    [Fact]
    public async Task FailSafe_RegenerationHeldPastGrace_StalePageStaysInServiceOnRedis()
    {
        var prefix = RedisHost.UniquePrefix();
        var endpoint = new GatedEndpoint();

        // Wide enough that a stalled test still claims the page before its grace runs out (1 s once did not).
        var grace = TimeSpan.FromSeconds(2);
        await using var host = await RedisHost.StartAsync(redis.Endpoint, prefix, endpoint, ValidFor, grace, o =>
        {
            o.RefreshMode = RefreshMode.Background;
            o.FailureBackoff = TimeSpan.FromMilliseconds(500);
            o.RegenerationTimeout = TimeSpan.FromSeconds(30);
            o.FailSafe = TimeSpan.FromMinutes(1);
        });
        Assert.Equal("page 1", await host.Client.GetStringAsync("/page"));
        endpoint.Close();
        endpoint.OnExecution = () => 500;
        await redis.WaitUntilEntriesStaleAsync(prefix, Deadline);

        // A lookup wins the claim and the background regeneration hangs at the gate: for two graces, every user is
        // served the stale page and nobody runs the origin beside it.
        await Eventually.HoldsAsync(async () => await host.Client.GetStringAsync("/page") == "page 1" && endpoint.Waiting == 1, Deadline, "a regeneration hangs");
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (clock.Elapsed < 2 * grace)
        {
            Assert.Equal("page 1", await host.Client.GetStringAsync("/page"));
        }

        Assert.Equal(2, endpoint.Executions);

        // It fails: the page is extended and stays in service.
        endpoint.Open();
        await Eventually.HoldsAsync(() => host.CountLogs(MintCache.AspNetCore.Diagnostics.Log.IdRegenerationNotStored) >= 1, Deadline, "the regeneration failed");
        Assert.Equal("page 1", await host.Client.GetStringAsync("/page"));
    }

    [Fact]
    public async Task ClaimWonOnSlowLookup_NoFurtherLookup_ClaimGivenBack_NextLookupRegenerates()
    {
        var prefix = RedisHost.UniquePrefix();
        var endpoint = new GatedEndpoint();
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var gate = new RedisReplyGate(redis.Endpoint);
        await using var host = await RedisHost.StartAsync(gate.Endpoint, prefix, endpoint, ValidFor, TimeSpan.FromMinutes(1), timeProvider: time);
        Assert.Equal("page 1", await host.Client.GetStringAsync("/page"));
        await redis.WaitUntilEntriesStaleAsync(prefix, Deadline);

        // The Redis lookup wins the claim but answers stale, handing its miss to a next lookup that does not come. Its
        // reply is held until it is sent, so it completes asynchronously (a slow lookup) however fast Redis answers.
        var lookups = host.Backend.RedisLookups;
        gate.Hold();
        var stale = host.Client.GetStringAsync("/page");
        await Eventually.HoldsAsync(() => host.Backend.RedisLookups > lookups, Deadline, "the lookup is sent");
        gate.Release();
        Assert.Equal("page 1", await stale);
        Assert.Equal(1, host.Store.LocalClaimCount);
        time.Advance(AspNetCore.Store.MintOutputCacheStore.HandOffTimeout);
        await Eventually.HoldsAsync(
            async () => host.Store.LocalClaimCount == 0 && await ClaimKeyCountAsync(prefix) == 0,
            Deadline,
            "the claim is given back");

        // The key is quiet now: its next claim answers "miss" at once and regenerates.
        Assert.Equal("page 2", await host.Client.GetStringAsync("/page"));
        Assert.Equal(2, endpoint.Executions);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task NoFreeSlot_StalePageServedUnclaimed_RefreshedOnceASlotFrees(bool plainReads)
    {
        var prefix = RedisHost.UniquePrefix();
        var endpoint = new GatedEndpoint();
        await using var host = await StartWithTheOneSlotTakenAsync(prefix, endpoint, plainReads);
        using var metrics = new MintMetrics(host.Services);

        // The second page finds no slot: served stale, its claim left free for a lookup that can refresh it (a claim
        // won here would be handed off to nobody and given back a second later).
        Assert.Equal("page 2", await host.Client.GetStringAsync("/second"));
        Assert.Equal(1, await ClaimKeyCountAsync(prefix));
        Assert.Equal(1, host.Store.LocalClaimCount);
        Assert.Equal(3, endpoint.Executions);

        // Answered stale, unclaimed, once. Plain reads that saw the claim free count it apart ('deferred'); the script
        // cannot tell a free claim from a held one ('lost'), and plain reads hand it a page within their clock's error
        // of its stale-at, which a busy machine's clock estimate can be.
        Assert.Equal(1, metrics.Claim("deferred") + metrics.Claim("lost"));
        Assert.Equal(0, metrics.Claim("won"));
        if (!plainReads)
        {
            Assert.Equal(0, metrics.Claim("deferred"));
        }

        // Once the slot is free, the next lookup claims the second page and refreshes it in the background.
        endpoint.Open();
        var regenerator = host.Services.GetRequiredService<AspNetCore.Refresh.BackgroundRegenerator>();
        await Eventually.HoldsAsync(() => regenerator.Running == 0 && host.Store.LocalClaimCount == 0, Deadline, "the first page's refresh ends");
        await Eventually.HoldsAsync(async () => await host.Client.GetStringAsync("/second") == "page 4", Deadline, "the second page is refreshed");
        Assert.Equal(4, endpoint.Executions);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task NoFreeSlot_PageUnderFailSafe_StillClaimed(bool plainReads)
    {
        var prefix = RedisHost.UniquePrefix();
        var endpoint = new GatedEndpoint();
        await using var host = await StartWithTheOneSlotTakenAsync(prefix, endpoint, plainReads, static o => o.FailSafe = TimeSpan.FromMinutes(5));

        // No slot, but the page has a fail-safe to be kept in service by: its claim is taken (and handed on) as ever.
        Assert.Equal("page 2", await host.Client.GetStringAsync("/second"));
        Assert.Equal(2, await ClaimKeyCountAsync(prefix));
        endpoint.Open();
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task NoFreeSlot_PagePastItsEagerRefresh_ServedFreshUnclaimed(bool plainReads)
    {
        var prefix = RedisHost.UniquePrefix();
        var endpoint = new GatedEndpoint();
        var earlyRenders = 0;
        var eagerAfter = TimeSpan.FromMilliseconds(600);
        await using var host = await StartWithTheOneSlotTakenAsync(prefix, endpoint, plainReads, mapMore: app => app
            .MapGet("/early", () => $"early {Interlocked.Increment(ref earlyRenders)}")
            .CacheOutput(p => p.Expire(TimeSpan.FromMinutes(1)).EagerRefresh(eagerAfter / TimeSpan.FromMinutes(1))));
        Assert.Equal("early 1", await host.Client.GetStringAsync("/early"));
        await redis.WaitUntilServerTimeAsync(await redis.ServerNowAsync() + (long)eagerAfter.TotalMilliseconds, Deadline, "the early page passes its eager refresh");
        using var metrics = new MintMetrics(host.Services);

        // An early refresh is optional, and no slot is free to run it: the page is served fresh, and its claim is not
        // taken (it would only be given back).
        Assert.Equal("early 1", await host.Client.GetStringAsync("/early"));
        Assert.Equal(0, metrics.Claim("won"));
        Assert.Equal(1, await ClaimKeyCountAsync(prefix));
        Assert.Equal(1, Volatile.Read(ref earlyRenders));
        endpoint.Open();
    }

    /// <summary>
    /// A host with one background slot and two pages, <c>/page</c> and <c>/second</c>, both stale; the first page's
    /// refresh holds the slot at the closed gate.
    /// </summary>
    private async Task<RedisHost> StartWithTheOneSlotTakenAsync(
        string prefix, GatedEndpoint endpoint, bool plainReads, Action<MintCacheOptions>? configure = null, Action<WebApplication>? mapMore = null)
    {
        var host = await RedisHost.StartAsync(
            redis.Endpoint,
            prefix,
            endpoint,
            ValidFor,
            TimeSpan.FromMinutes(1),
            o =>
            {
                o.RefreshMode = RefreshMode.Background;
                o.MaxConcurrentRegenerations = 1;
                configure?.Invoke(o);
            },
            mapMore: app =>
            {
                app.MapGet("/second", (Delegate)endpoint.HandleAsync).CacheOutput(p => p.Expire(ValidFor).Grace(TimeSpan.FromMinutes(1)));
                mapMore?.Invoke(app);
            });
        try
        {
            host.Backend.FastReads.Enabled = plainReads;
            Assert.Equal("page 1", await host.Client.GetStringAsync("/page"));
            Assert.Equal("page 2", await host.Client.GetStringAsync("/second"));
            await redis.WaitUntilEntriesStaleAsync(prefix, Deadline);

            endpoint.Close();
            Assert.Equal("page 1", await host.Client.GetStringAsync("/page"));
            await Eventually.HoldsAsync(() => endpoint.Waiting == 1, Deadline, "the first page's refresh holds the slot");
            return host;
        }
        catch
        {
            endpoint.Open();
            await host.DisposeAsync();
            throw;
        }
    }

    /// <summary>The claim keys under <paramref name="prefix"/> in Redis, live or revoked.</summary>
    private async Task<int> ClaimKeyCountAsync(string prefix)
        => await redis.Multiplexer.GetServer(redis.Multiplexer.GetEndPoints()[0]).KeysAsync(pattern: prefix + "{*}:c").CountAsync();

    /// <summary>Renders page 1, then fails every regeneration with a 500.</summary>
    private sealed class FailingEndpoint
    {
        private int _failures;
        private bool _failing;

        public FailingEndpoint() => Gated = new GatedEndpoint();

        public GatedEndpoint Gated { get; }

        public int Failures => Volatile.Read(ref _failures);

        public void FailFromNowOn(RedisHost host)
        {
            Volatile.Write(ref _failing, true);
            Gated.OnExecution = () =>
            {
                if (Volatile.Read(ref _failing))
                {
                    Interlocked.Increment(ref _failures);
                    return 500;
                }

                return 200;
            };
            _ = host;
        }
    }
}
