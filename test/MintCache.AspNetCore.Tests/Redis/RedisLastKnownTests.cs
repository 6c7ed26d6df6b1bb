using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using MintCache.AspNetCore.Diagnostics;
using MintCache.AspNetCore.Tests.Fixtures;
using StackExchange.Redis;

namespace MintCache.AspNetCore.Tests.Redis;

/// <summary>
/// The last known pages: an outage, and a Redis that comes back empty, are no cold miss for everyone. The near copies
/// stay in service as stale pages, and one regeneration refreshes each, while nobody waits.
/// </summary>
public sealed class RedisLastKnownTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    private static readonly Action<MintCacheOptions> Options = static o =>
    {
        o.RefreshMode = RefreshMode.Background;
        o.Redis.OperationTimeout = TimeSpan.FromSeconds(2);
        o.Redis.BreakDuration = TimeSpan.FromMilliseconds(500);
        o.Redis.MinimumThroughput = 2;
    };

    [Fact]
    public async Task RedisKilled_NearCopiesServedStale_OneBackgroundRegeneration_NobodyWaits()
    {
        using var server = await RedisServerFixture.StartDedicatedAsync();
        var endpoint = new GatedEndpoint();
        await using var host = await RedisHost.StartAsync(server.Endpoint, RedisHost.UniquePrefix(), endpoint, TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(1), Options);
        Assert.Equal("page 1", await host.Client.GetStringAsync("/page"));
        await Eventually.HoldsAsync(async () => await host.Client.GetStringAsync("/page") == "page 1" && host.Backend.NearCache!.Count == 1, Deadline, "the page is kept near");

        // Redis dies. The page, fresh a moment ago, stays in service as a stale one: its claim, won locally, refreshes
        // it in the background (held at the gate), and every request is served the last known page meanwhile.
        // Until the process notices (near hits need no Redis), and after, every answer is the first page.
        endpoint.Close();
        server.Kill();
        await Eventually.HoldsAsync(
            async () =>
            {
                Assert.Equal("page 1", await host.Client.GetStringAsync("/page"));
                return host.Backend.IsDegraded && endpoint.Waiting == 1;
            },
            Deadline,
            "the process serves locally and one regeneration refreshes the last known page");
        for (var i = 0; i < 20; i++)
        {
            Assert.Equal("page 1", await host.Client.GetStringAsync("/page"));
        }

        // Executions were 3 once, in a busy run, with nothing to go on: say what the host did.
        Assert.True(endpoint.Executions == 2, $"executions: {endpoint.Executions}; the host logged:{Environment.NewLine}{host.LogDigest(LogLevel.Debug)}");

        endpoint.Open();
        await Eventually.HoldsAsync(async () => await host.Client.GetStringAsync("/page") == "page 2", Deadline, "the regenerated page is served");
        Assert.Equal(2, endpoint.Executions);
    }

    [Fact]
    public async Task StalePageReadByTheScript_RedisKilled_ServedStale_NobodyWaits()
    {
        using var server = await RedisServerFixture.StartDedicatedAsync();
        var endpoint = new GatedEndpoint();
        await using var host = await RedisHost.StartAsync(server.Endpoint, RedisHost.UniquePrefix(), endpoint, TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(1), Options);

        // Every lookup is the script's: the plain reads are an optimisation, and turning them off changes no answer.
        host.Backend.FastReads.Enabled = false;
        Assert.Equal("page 1", await host.Client.GetStringAsync("/page"));
        await Eventually.HoldsAsync(() => host.Backend.Notifications.IsLive, Deadline, "the notifications are live");

        // Marked stale: one regeneration waits at the gate, and the stale page the script answers with is kept as the
        // last known one, as a plain read's would be.
        endpoint.Close();
        await host.Services.GetRequiredService<IMintCache>().MarkStaleByTagAsync("pages");
        await Eventually.HoldsAsync(
            async () => await host.Client.GetStringAsync("/page") == "page 1" && endpoint.Waiting == 1 && host.Backend.NearCache!.Count == 1,
            Deadline,
            "the stale page is served, and kept as the last known one, while one regeneration waits");

        // Redis dies mid-regeneration: the last known page is served, stale; nobody renders it in a request.
        server.Kill();
        for (var i = 0; i < 5; i++)
        {
            Assert.Equal("page 1", await host.Client.GetStringAsync("/page").WaitAsync(Deadline));
        }

        Assert.True(host.Backend.IsDegraded);
        endpoint.Open();
    }

    [Fact]
    public async Task SubscriptionLost_PageChangedElsewhere_LookupFails_OldCopyNeverServed()
    {
        using var server = await RedisServerFixture.StartDedicatedAsync();
        await using var admin = await ConnectionMultiplexer.ConnectAsync($"{server.Endpoint},allowAdmin=true");
        var prefix = RedisHost.UniquePrefix();
        var endpoint = new GatedEndpoint();
        await using var a = await RedisHost.StartAsync(server.Endpoint, prefix, endpoint, TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(1), Options);
        await using var b = await RedisHost.StartAsync(server.Endpoint, prefix, endpoint, TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(1), Options);
        Assert.Equal("page 1", await a.Client.GetStringAsync("/page"));
        Assert.Equal("page 2", await a.Client.GetStringAsync("/other"));
        await Eventually.HoldsAsync(
            async () => await a.Client.GetStringAsync("/page") == "page 1" && await a.Client.GetStringAsync("/other") == "page 2" && a.Backend.NearCache!.Count == 2,
            Deadline,
            "A keeps the pages near");

        // A's subscription drops (as client-output-buffer-limit would drop it), and comes back while Redis answers all
        // along. Traffic goes on, to the other page: a lookup that reaches Redis while the subscription is not live
        // proves it with an echo, which is what makes it live again when the multiplexer's events (raised on the
        // thread pool) arrive out of order, the loss after the return.
        await admin.GetDatabase().ExecuteAsync("CLIENT", "KILL", "TYPE", "pubsub");
        await Eventually.HoldsAsync(
            async () => await a.Client.GetStringAsync("/other") == "page 2" && a.CountLogs(Log.IdNotificationsLost) >= 1 && a.Backend.Notifications.IsLive,
            Deadline,
            "A's subscription was lost and is live again",
            () => $"notifications live: {a.Backend.Notifications.IsLive}; A logged:{Environment.NewLine}{a.LogDigest(LogLevel.Debug)}");

        // Meanwhile the pages were evicted (by Redis, which tells nobody) and B rendered a newer one.
        await admin.GetDatabase().KeyDeleteAsync(await EntryKeysAsync(admin, server.Endpoint, prefix));
        Assert.Equal("page 3", await b.Client.GetStringAsync("/page"));

        // Then one lookup of A fails: it must not answer with the page Redis no longer holds.
        // Long enough (5 timeouts) for a lookup timeout that fires late on a busy machine. Not lifted: Redis holds
        // CLIENT UNPAUSE too, and the server is killed with the test.
        await admin.GetServer(server.Endpoint).ExecuteAsync("CLIENT", "PAUSE", "10000", "ALL");
        var answer = await a.Client.GetStringAsync("/page");
        Assert.True(a.CountLogs(Log.IdRedisUnavailable) >= 1, $"A's lookup did not fail: answered {answer}.");
        Assert.NotEqual("page 1", answer);
    }

    [Fact]
    public async Task RedisBackEmpty_LocalPagesServedStale_OneRegenerationFarmWide()
    {
        using var server = await RedisServerFixture.StartDedicatedAsync();
        var prefix = RedisHost.UniquePrefix();
        var endpoint = new GatedEndpoint();
        RedisHost? hostA = null, hostB = null;
        string Explain() => $"executions: {endpoint.Executions}; host A logged:{Environment.NewLine}{hostA?.LogDigest(LogLevel.Debug)}{Environment.NewLine}host B logged:{Environment.NewLine}{hostB?.LogDigest(LogLevel.Debug)}";
        await using var a = await RedisHost.StartAsync(server.Endpoint, prefix, endpoint, TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(1), Options);
        await using var b = await RedisHost.StartAsync(server.Endpoint, prefix, endpoint, TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(1), Options);
        (hostA, hostB) = (a, b);
        Assert.Equal("page 1", await a.Client.GetStringAsync("/page"));
        await Eventually.HoldsAsync(
            async () => await a.Client.GetStringAsync("/page") == "page 1" && await b.Client.GetStringAsync("/page") == "page 1"
                && a.Backend.NearCache!.Count == 1 && b.Backend.NearCache!.Count == 1,
            Deadline,
            "both hosts keep the page near");

        // Only a host that read the data's epoch before the outage can tell, on its return, that Redis came back empty.
        await Eventually.HoldsAsync(() => a.Backend.EpochKnown && b.Backend.EpochKnown, Deadline, "both hosts know the data's epoch");

        // An outage: each host serves its last known page and refreshes it locally, once.
        server.Kill();
        await Eventually.HoldsAsync(
            async () =>
            {
                await a.Client.GetStringAsync("/page");
                await b.Client.GetStringAsync("/page");
                return a.Backend.IsDegraded && b.Backend.IsDegraded && endpoint.Executions == 3;
            },
            Deadline,
            "both hosts refreshed their last known page locally",
            Explain);

        // Redis comes back empty. Both hosts return to it, and their local pages answer for the keys it lacks: /other,
        // rendered during the outage, is one, and its one background refresh runs the same endpoint: it must end before
        // the executions are counted.
        await server.StartAsync();
        await Eventually.HoldsAsync(
            async () =>
            {
                await a.Client.GetStringAsync("/other");
                await b.Client.GetStringAsync("/other");
                return !a.Backend.IsDegraded && !b.Backend.IsDegraded && a.Backend.ServesLastKnown && b.Backend.ServesLastKnown
                    && Regenerating(a) == 0 && Regenerating(b) == 0;
            },
            Deadline,
            "both hosts are back on the restarted Redis, and the last known /other refreshed",
            Explain);
        var executions = endpoint.Executions;

        // Every request is served a last known page; one host, farm-wide, regenerates it (held at the gate).
        endpoint.Close();
        for (var i = 0; i < 10; i++)
        {
            Assert.StartsWith("page ", await a.Client.GetStringAsync("/page"), StringComparison.Ordinal);
            Assert.StartsWith("page ", await b.Client.GetStringAsync("/page"), StringComparison.Ordinal);
        }

        await Eventually.HoldsAsync(() => endpoint.Waiting == 1, Deadline, "one regeneration farm-wide", Explain);
        Assert.True(endpoint.Executions == executions + 1, $"expected {executions + 1}; {Explain()}");

        endpoint.Open();
        var regenerated = $"page {executions + 1}";
        await Eventually.HoldsAsync(
            async () => await a.Client.GetStringAsync("/page") == regenerated && await b.Client.GetStringAsync("/page") == regenerated,
            Deadline,
            "both hosts serve the regenerated page from Redis",
            Explain);
        Assert.True(endpoint.Executions == executions + 1, $"expected {executions + 1}; {Explain()}");
    }

    private static int Regenerating(RedisHost host) => host.Services.GetRequiredService<AspNetCore.Refresh.BackgroundRegenerator>().Running;

    private static async Task<RedisKey[]> EntryKeysAsync(IConnectionMultiplexer admin, string endpoint, string prefix)
    {
        var keys = new List<RedisKey>();
        await foreach (var key in admin.GetServer(endpoint).KeysAsync(pattern: prefix + "{*}:e"))
        {
            keys.Add(key);
        }

        Assert.NotEmpty(keys);
        return [.. keys];
    }
}
