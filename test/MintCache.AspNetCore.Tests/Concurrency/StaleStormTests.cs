using System.Net;
using MintCache.AspNetCore.Tests.Fixtures;
using Xunit.Abstractions;

namespace MintCache.AspNetCore.Tests.Concurrency;

/// <summary>
/// A storm of concurrent requests for a stale page through a real host: one regeneration, and the others are served
/// the stale page while the regeneration is held behind a gate.
/// </summary>
/// <remarks>
/// The share served stale depends on how many requests shared the one lookup answered "miss", i.e. on how long that
/// lookup took: so these run alone (not beside the parallel tests' builds of hosts) and on a warmed claim path, as a
/// process that has served for a while would (the first claim of a process also pays for JIT compilation).
/// </remarks>
[Collection(SerialCollection.Name)]
public sealed class StaleStormTests(ITestOutputHelper output)
{
    private const int StormSize = 200;
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    [Theory]
    [InlineData("/page")]
    [InlineData("/mvc/page")]
    public async Task StaleStorm_OneExecution_OneLookupAnsweredMiss_OthersServedStaleWhileGateClosed(string path)
    {
        await using var app = await TestApp.StartAsync(o => o.Grace = TimeSpan.FromMinutes(1));
        await app.WarmUpClaimPathAsync(path);
        app.Time.Advance(TestApp.Fresh);
        using var metrics = new MintMetrics(app.Services);
        app.Logs.Reset();

        var storm = Enumerable.Range(0, StormSize).Select(_ => app.Client.GetAsync(path)).ToArray();

        // Each request has been looked up once the middleware either served it from the cache or found nothing.
        await app.Logs.WaitUntilAsync(l => l["CachedResponseServed"] + l["NoResponseServed"] >= StormSize, Deadline);
        await app.Page.RegenerationStarted.WaitAsync(Deadline);
        var servedFromCache = app.Logs["CachedResponseServed"];
        var completedWhileGated = await CompletedAsync(storm, atLeast: servedFromCache);

        Assert.False(app.Page.IsGateOpen);
        Assert.Equal(3, app.Page.Executions); // the two renders of the warm-up, and the one regeneration in flight
        Assert.All(completedWhileGated, r => Assert.Equal("v2", r));

        // The store answered "miss" once, to the lookup whose request regenerates; every other lookup got the stale page.
        // The requests that wait are those the middleware let share that one lookup (in the foreground mode, how many
        // arrive while it runs depends on scheduling: RefreshMode.Background, the default, holds none), and every
        // request served from the cache completed while the regeneration was still gated.
        Assert.Equal(1, metrics.Lookup("miss", "stale"));
        Assert.Equal(0, metrics.Lookup("miss", "absent") + metrics.Lookup("hit", "fresh"));
        Assert.Equal(servedFromCache, completedWhileGated.Length);
        output.WriteLine($"{path}: {completedWhileGated.Length}/{StormSize} completed with the stale page while the regeneration was gated; {app.Logs["NoResponseServed"]} shared the lookup answered miss and waited for it");

        app.Page.OpenGate();
        var responses = await Task.WhenAll(storm).WaitAsync(Deadline);

        Assert.Equal(3, app.Page.Executions);
        Assert.All(responses, r => Assert.Equal(HttpStatusCode.OK, r.StatusCode));
        var bodies = await Task.WhenAll(responses.Select(r => r.Content.ReadAsStringAsync()));
        Assert.Equal(servedFromCache, bodies.Count(b => b == "v2"));
        Assert.Equal(StormSize - servedFromCache, bodies.Count(b => b == "v3"));
        Assert.Equal("v3", await app.Client.GetStringAsync(path));
    }

    /// <summary>Waits until at least <paramref name="atLeast"/> requests completed, and returns their bodies.</summary>
    private static async Task<string[]> CompletedAsync(Task<HttpResponseMessage>[] requests, int atLeast)
    {
        var pending = requests.ToList();
        var completed = new List<string>();
        while (completed.Count < atLeast)
        {
            var done = await Task.WhenAny(pending).WaitAsync(Deadline);
            pending.Remove(done);
            completed.Add(await (await done).Content.ReadAsStringAsync());
        }

        return [.. completed];
    }
}
