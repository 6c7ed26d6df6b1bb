using System.Diagnostics;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using MintCache.AspNetCore.Diagnostics;
using MintCache.AspNetCore.Tests.Fixtures;
using StackExchange.Redis;
using Xunit.Abstractions;

namespace MintCache.AspNetCore.FunctionalTests.Redis;

/// <summary>
/// design.md §2 invariants 1 and 4 (one regeneration farm-wide, the cache never fails a request), a master failover under load: two hosts on MintCache's defaults (background refresh) share a Redis Cluster
/// of three masters with a replica each; while clients keep requesting a page from both, the master that holds the
/// page's entry is killed and its replica takes over. Nobody sees an error, at most two requests wait for a render, and
/// once the replica serves the slot the farm regenerates the page once again, farm-wide, on the promoted replica.
/// </summary>
/// <remarks>
/// The endpoint's gate stays closed from before the kill until both hosts are back on Redis: a request that waits for a
/// render cannot be answered meanwhile, so the requests not answered while gated are exactly the ones held. Each test
/// starts a cluster of its own, as it kills a node of it; they run alone, as the storms do, since what is held depends
/// on the CPU the lookups get. Killed mid-storm (the page stale, its regeneration in flight), each host serves the
/// stale page it last read from Redis (a stale page is a last known page too), and regenerates it in the background.
/// </remarks>
[Collection(SerialCollection.Name)]
public sealed class RedisClusterFailoverTests(ITestOutputHelper output)
{
    // As in the single-server storm: the request handed a "miss", now and then with one that shared its lookup.
    private const int MaxHeld = 2;
    private const int Clients = 16;

    // Generous: the failover itself takes a few seconds (2 s until the master is taken for failed, then the election).
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);

    // MintCache's default refresh (the test hosts ask for the foreground one unless told otherwise).
    private static readonly Action<MintCacheOptions> Defaults = static o => o.RefreshMode = RefreshMode.Background;

    /// <summary>The master killed while the page is fresh: each host keeps its near copy as the last known page.</summary>
    [Fact]
    public Task MasterOfTheFreshPageKilledUnderLoad_ReplicaTakesOver_NoErrors_AtMostTwoHeld() => FailOverUnderLoadAsync(staleAtKill: false);

    /// <summary>The master killed mid-storm: the page is stale and its one regeneration waits at the gate.</summary>
    [Fact]
    public Task MasterOfTheStalePageKilledMidStorm_ReplicaTakesOver_NoErrors_AtMostTwoHeld() => FailOverUnderLoadAsync(staleAtKill: true);

    /// <summary>
    /// Kills the master of the page's slot while the page is fresh (<paramref name="staleAtKill"/> false: both hosts
    /// serve it from their near cache) or stale with its one regeneration waiting at the gate, and checks the farm
    /// through the failover and after it.
    /// </summary>
    private async Task FailOverUnderLoadAsync(bool staleAtKill)
    {
        await using var cluster = await RedisReplicatedClusterFixture.StartAsync();
        var prefix = RedisHost.UniquePrefix();
        var endpoint = new GatedEndpoint();

        // Fresh for a minute: the page goes stale when the test says so, not when a busy machine makes it late.
        await using var a = await RedisHost.StartAsync(cluster.Endpoint, prefix, endpoint, TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(1), Defaults);
        await using var b = await RedisHost.StartAsync(cluster.Endpoint, prefix, endpoint, TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(1), Defaults);
        await Eventually.HoldsAsync(() => a.Backend.Notifications.IsLive && b.Backend.Notifications.IsLive, Deadline, "both hosts subscribed");
        Assert.Equal("page 1", await a.Client.GetStringAsync("/page"));
        await Eventually.HoldsAsync(
            async () => await a.Client.GetStringAsync("/page") == "page 1" && await b.Client.GetStringAsync("/page") == "page 1"
                && a.Backend.NearCache!.Count == 1 && b.Backend.NearCache!.Count == 1,
            Deadline,
            "both hosts keep the page near");

        var entry = await EntryKeyAsync(cluster, a.Backend.Keys.EntryPattern);
        var master = await cluster.MasterPortOfAsync(entry);
        var replica = cluster.ReplicaPortOf(master);

        endpoint.Close();
        if (staleAtKill)
        {
            await Mint(a).MarkStaleByTagAsync("pages");
        }

        // Kept going by time, never ended by its count, across the three waits below: a quiet machine once spent a
        // budget of 160,000 requests before the hosts were back, and no request was left to flow after the return.
        var load = FarmLoad.Start([a, b], endpoint, "/page", Clients, budgetPerClient: 1_000_000, maxTime: (4 * Deadline) + TimeSpan.FromSeconds(10));
        await Eventually.HoldsAsync(
            () => load.CompletedWhileGated >= 200 && endpoint.Waiting == (staleAtKill ? 1 : 0),
            Deadline,
            staleAtKill ? "the storm is served the stale page while one regeneration waits at the gate" : "the storm is served");
        var issuedAtKill = load.Issued;

        var clock = Stopwatch.StartNew();
        cluster.Kill(master);
        TimeSpan promotedAfter;
        try
        {
            promotedAfter = await Eventually.HoldsAsync(
                async () => await cluster.IsMasterAsync(replica) && await cluster.IsStateOkAsync(),
                Deadline,
                "the replica takes over");
        }
        catch (TimeoutException ex)
        {
            // The replica's own account of the election says why.
            throw new TimeoutException($"{ex.Message} The replica's log:\n{cluster.LogOf(replica)}", ex);
        }

        // Back: each host noticed the loss, then a call to the page's slot succeeded, and requests flow on Redis again.
        await Eventually.HoldsAsync(
            () => a.CountLogs(Log.IdRedisRestored) >= 1 && b.CountLogs(Log.IdRedisRestored) >= 1 && !a.Backend.IsDegraded && !b.Backend.IsDegraded,
            Deadline,
            $"both hosts are back on Redis (served {load.CompletedWhileGated} of {load.Issued})");
        var backAfter = clock.Elapsed;
        var servedWhenBack = load.CompletedWhileGated;
        try
        {
            await Eventually.HoldsAsync(
                () => load.IsDone
                    ? throw new InvalidOperationException($"The load ended (its time or count spent) before requests flowed after the return: issued {load.Issued}.")
                    : load.CompletedWhileGated >= servedWhenBack + 200,
                Deadline,
                "requests flow after the return");
        }
        catch (Exception ex) when (ex is TimeoutException or InvalidOperationException)
        {
            WriteDiagnosis(load, ("A", a), ("B", b));
            throw;
        }

        // Every request issued is served while the gate is still closed, but for the held ones. A timeout is the finding.
        // The requests still in flight are given time to finish (a round trip, or a Redis timeout at most): only the
        // ones that never do while the gate is closed are held, not those that happened to be on the wire when the
        // clients stopped.
        load.Stop();
        _ = await Record.ExceptionAsync(() => Eventually.HoldsAsync(
            () => load.CompletedWhileGated == load.Issued,
            TimeSpan.FromSeconds(5),
            "every request is served while gated"));
        var held = load.Issued - load.CompletedWhileGated;
        var stillDegraded = a.Backend.IsDegraded || b.Backend.IsDegraded;
        endpoint.Open();
        await load.DrainAsync(Deadline);

        output.WriteLine(
            $"killed {master} (its replica {replica}) after {issuedAtKill} requests; promoted after {promotedAfter.TotalSeconds:F1} s, both hosts back after {backAfter.TotalSeconds:F1} s; " +
            $"issued {load.Issued}, served while gated {load.CompletedWhileGated}, held {held}, errors {load.Errors.Count}, slowest {load.Slowest.TotalMilliseconds:F0} ms, " +
            $"over 100 ms {load.TookAtLeast(TimeSpan.FromMilliseconds(100))}, over 500 ms {load.TookAtLeast(TimeSpan.FromMilliseconds(500))}; executions {endpoint.Executions}");
        foreach (var (name, host) in new[] { ("A", a), ("B", b) })
        {
            output.WriteLine(
                $"{name}: unavailable {host.CountLogs(Log.IdRedisUnavailable)}, restored {host.CountLogs(Log.IdRedisRestored)}, failed calls {host.CountLogs(Log.IdRedisCallFailed)}, " +
                $"circuit opened {host.CountLogs(Log.IdRedisCircuitOpened)}, notifications live {host.Backend.Notifications.IsLive}");
        }

        if (held > MaxHeld || load.Errors.Count > 0 || stillDegraded)
        {
            // What a failure needs to be diagnosed: the requests that were slow or failed, and both hosts' logs in order.
            WriteDiagnosis(load, ("A", a), ("B", b));
        }

        // Holds first: a request held past the gate's own timeout also ends as an error.
        Assert.True(held <= MaxHeld, $"{held} requests were held behind a render while the gate was closed (at most {MaxHeld})");
        Assert.Empty(load.Errors);
        Assert.False(stillDegraded, "a host fell back to local memory again after its return");

        // The farm regenerates again, once, on the promoted replica: every pending regeneration done, the page marked
        // stale, one execution farm-wide, served by both hosts, and the entry is in the replica's hands.
        await Eventually.HoldsAsync(() => endpoint.Waiting == 0, Deadline, "the regenerations held at the gate end");
        await Eventually.HoldsAsync(
            async () => await a.Client.GetStringAsync("/page") == await b.Client.GetStringAsync("/page"),
            Deadline,
            "both hosts serve the same page");
        var executions = endpoint.Executions;
        await Mint(a).MarkStaleByTagAsync("pages");
        var regenerated = $"page {executions + 1}";
        await Eventually.HoldsAsync(
            async () => await a.Client.GetStringAsync("/page") == regenerated && await b.Client.GetStringAsync("/page") == regenerated,
            Deadline,
            $"both hosts serve {regenerated}");
        Assert.Equal(executions + 1, endpoint.Executions);
        var onReplica = (byte[]?)await cluster.ExecuteOnAsync(replica, "GET", entry);
        Assert.NotNull(onReplica);
        Assert.Contains(regenerated, Encoding.UTF8.GetString(onReplica), StringComparison.Ordinal);

        // The connection to the dead master never comes back, yet both hosts hear the farm's changes again, proven by
        // an echo through the subscription: the near cache serves again, and drops a page another host replaced.
        await Eventually.HoldsAsync(() => a.Backend.Notifications.IsLive && b.Backend.Notifications.IsLive, Deadline, "both hosts' notifications are live again");
        var nearHits = b.Backend.NearHits;
        await Eventually.HoldsAsync(
            async () => await b.Client.GetStringAsync("/page") == regenerated && b.Backend.NearHits > nearHits,
            Deadline,
            "B serves the page from its near cache again");
        await Mint(a).MarkStaleByTagAsync("pages");
        await Eventually.HoldsAsync(() => b.Backend.NearCache!.Count == 0, Deadline, "B drops its near copy when A marks the page stale");
    }

    private void WriteDiagnosis(FarmLoad load, params (string Name, RedisHost Host)[] hosts)
    {
        output.WriteLine($"errors: {string.Join(" | ", load.Errors.Distinct().Take(5))}");
        foreach (var request in load.SlowOrFailed)
        {
            output.WriteLine(request);
        }

        foreach (var (name, host) in hosts)
        {
            foreach (var r in host.Logs.GetSnapshot())
            {
                output.WriteLine($"{name} {r.Timestamp:HH:mm:ss.fff} {r.Level} {r.Id.Id} {r.Category}: {r.Message} {r.Exception?.GetType().Name} {r.Exception?.Message}");
            }
        }
    }

    private static IMintCache Mint(RedisHost host) => host.Services.GetRequiredService<IMintCache>();

    private static async Task<RedisKey> EntryKeyAsync(RedisClusterFixture cluster, string pattern)
    {
        var keys = new List<RedisKey>();
        await foreach (var key in cluster.KeysAsync(pattern))
        {
            keys.Add(key);
        }

        return Assert.Single(keys);
    }
}
