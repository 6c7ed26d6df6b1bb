using System.Net;
using System.Runtime.CompilerServices;
using MintCache.AspNetCore.Tests.Fixtures;
using Xunit.Abstractions;

namespace MintCache.AspNetCore.Tests.Concurrency;

/// <summary>
/// design.md §2 invariant 1 (one regeneration per stale entry, farm-wide): a storm of concurrent requests for a stale
/// page over two hosts sharing one backend, as two processes would; one lookup is answered "miss", one regeneration
/// runs, and the others are served the stale page while the regeneration is held behind a gate.
/// </summary>
/// <remarks>
/// The share served stale depends on how many requests shared the one lookup answered "miss", i.e. on how long that
/// lookup took: so the subclasses run alone (not beside the parallel tests' builds of hosts) and on a warmed claim
/// path, as a process that has served for a while would (the first claim of a process also pays for JIT compilation).
/// </remarks>
public abstract class StaleStormTests(ITestOutputHelper output)
{
    private const int StormSize = 200;

    /// <summary>
    /// How many requests may wait for the regeneration (those the middleware let share the lookup answered "miss"), or
    /// null where that depends only on scheduling and is not bounded.
    /// </summary>
    protected abstract int? MaxHeld { get; }

    private protected abstract Task<HostFarm> StartFarmAsync(FarmSetup setup, string test);

    [Theory]
    [InlineData("/page")]
    [InlineData("/mvc/page")]
    public async Task StaleStorm_OneExecution_OneLookupAnsweredMiss_OthersServedStaleWhileGateClosed(string path)
    {
        await using var farm = await StartAsync();
        await WarmUpAsync(farm, path);
        await farm.GoStaleAsync();
        using var metrics = new FarmMetrics(farm);
        foreach (var host in farm.Hosts)
        {
            host.Logs.Reset();
        }

        var storm = Enumerable.Range(0, StormSize).Select(i => farm.Hosts[i % farm.Hosts.Count].Client.GetAsync(path)).ToArray();

        // Each request has been looked up once the middleware either served it from the cache or found nothing.
        await farm.WaitUntilAsync(() => farm["CachedResponseServed"] + farm["NoResponseServed"] >= StormSize, "every request of the storm is looked up");
        var servedFromCache = farm["CachedResponseServed"];

        // On Redis the claim's holder hands its miss to its next lookup; a quiet moment after the storm is a next lookup too.
        var followers = new List<Task<HttpResponseMessage>>();
        await farm.WaitUntilAsync(
            () =>
            {
                if (!farm.Page.RegenerationStarted.IsCompleted)
                {
                    followers.AddRange(farm.Hosts.Select(h => h.Client.GetAsync(path)));
                }

                return farm.Page.RegenerationStarted.IsCompleted;
            },
            "the regeneration starts");
        var completedWhileGated = await CompletedAsync(storm, atLeast: servedFromCache);

        Assert.False(farm.Page.IsGateOpen);
        Assert.Equal(3, farm.Page.Executions); // the two renders of the warm-up, and the one regeneration in flight
        Assert.All(completedWhileGated, r => Assert.Equal("v2", r));

        // The store answered "miss" once farm-wide, to the lookup whose request regenerates; every other lookup got the
        // stale page. The requests that wait are those the middleware let share that one lookup, and every request
        // served from the cache completed while the regeneration was still gated.
        Assert.Equal(1, metrics.Lookup("miss", "stale"));
        Assert.Equal(0, metrics.Lookup("miss", "absent") + metrics.Lookup("hit", "fresh"));
        Assert.Equal(servedFromCache, completedWhileGated.Length);
        if (MaxHeld is { } maxHeld)
        {
            Assert.True(servedFromCache >= StormSize - maxHeld, $"only {servedFromCache} of {StormSize} were served stale while gated");
        }

        output.WriteLine($"{path}: {completedWhileGated.Length}/{StormSize} completed with the stale page while the regeneration was gated; {StormSize - servedFromCache} shared the lookup answered miss and waited for it; {followers.Count} followers");

        farm.Page.OpenGate();
        var responses = await Task.WhenAll(storm).WaitAsync(HostFarm.Deadline);
        await Task.WhenAll(followers).WaitAsync(HostFarm.Deadline);

        Assert.Equal(3, farm.Page.Executions);
        Assert.All(responses, r => Assert.Equal(HttpStatusCode.OK, r.StatusCode));
        var bodies = await Task.WhenAll(responses.Select(r => r.Content.ReadAsStringAsync()));
        Assert.Equal(servedFromCache, bodies.Count(b => b == "v2"));
        Assert.Equal(StormSize - servedFromCache, bodies.Count(b => b == "v3"));

        // The regenerated page is shared: every host serves it without another execution.
        foreach (var host in farm.Hosts)
        {
            Assert.Equal("v3", await host.Client.GetStringAsync(path));
        }

        Assert.Equal(3, farm.Page.Executions);
    }

    private Task<HostFarm> StartAsync([CallerMemberName] string test = "")
        => StartFarmAsync(new FarmSetup { ConfigureMint = o => o.Grace = TimeSpan.FromMinutes(1) }, test);

    /// <summary>
    /// Renders the page, then refreshes it once through the claim (and on Redis the hand-off) and store paths, ungated:
    /// afterwards "v2" is cached and fresh on every host. The storm then measures warmed paths, as a process that has
    /// served for a while would: the first claim of a process pays for JIT compilation inside the lookup the
    /// middleware shares.
    /// </summary>
    private static async Task WarmUpAsync(HostFarm farm, string path)
    {
        farm.Page.UngatedExecutions = 2;
        Assert.Equal("v1", await farm.A.Client.GetStringAsync(path));
        Assert.Equal("v1", await farm.B.Client.GetStringAsync(path));
        Assert.Equal(1, farm.Page.Executions);
        await farm.GoStaleAsync();
        if (farm.IsExact)
        {
            Assert.Equal("v2", await farm.A.Client.GetStringAsync(path)); // the lone lookup past stale-at wins the claim
        }

        await farm.WaitUntilAsync(
            async () =>
            {
                await farm.A.Client.GetStringAsync(path);
                await farm.B.Client.GetStringAsync(path);
                return farm.Page.Executions >= 2;
            },
            "the warm-up refresh runs");
        await farm.WaitUntilAsync(() => farm["EntryStored"] >= 2, "the warm-up refresh is stored");
        await farm.WaitUntilAsync(
            async () => await farm.A.Client.GetStringAsync(path) == "v2" && await farm.B.Client.GetStringAsync(path) == "v2",
            "every host serves the refreshed page");
        Assert.Equal(2, farm.Page.Executions);
    }

    /// <summary>Waits until at least <paramref name="atLeast"/> requests completed, and returns their bodies.</summary>
    private static async Task<string[]> CompletedAsync(Task<HttpResponseMessage>[] requests, int atLeast)
    {
        var pending = requests.ToList();
        var completed = new List<string>();
        while (completed.Count < atLeast)
        {
            var done = await Task.WhenAny(pending).WaitAsync(HostFarm.Deadline);
            pending.Remove(done);
            completed.Add(await (await done).Content.ReadAsStringAsync());
        }

        return [.. completed];
    }
}
