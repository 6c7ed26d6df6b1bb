using MintCache.AspNetCore.Tests.Fixtures;
using Xunit.Abstractions;

namespace MintCache.AspNetCore.Tests.Concurrency;

/// <summary>
/// With locking turned off by a policy, the middleware no longer collapses executions: every request that shared
/// the lookup answered "miss" runs the endpoint. MintCache still answers only one lookup with a miss, so that is one
/// execution per lookup that was shared, and everyone else is served stale.
/// </summary>
/// <remarks>Run alone and warmed up, as <see cref="StaleStormTests"/> are, for the same reason.</remarks>
[Collection(SerialCollection.Name)]
public sealed class LockingOffTests(ITestOutputHelper output)
{
    private const int StormSize = 200;
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task StaleStorm_LockingOff_OneExecutionPerRequestThatSharedTheMiss()
    {
        await using var app = await TestApp.StartAsync(o => o.Grace = TimeSpan.FromMinutes(1), pagePolicy: p => p.SetLocking(false));
        await app.WarmUpClaimPathAsync("/page");
        app.Time.Advance(TestApp.Fresh);
        using var metrics = new MintMetrics(app.Services);
        app.Logs.Reset();

        var storm = Enumerable.Range(0, StormSize).Select(_ => app.Client.GetAsync("/page")).ToArray();
        await app.Logs.WaitUntilAsync(l => l["CachedResponseServed"] + l["NoResponseServed"] >= StormSize, Deadline);
        var missed = app.Logs["NoResponseServed"];
        await app.Logs.WaitUntilAsync(l => l["ExecutingEndpoint"] >= missed, Deadline);
        output.WriteLine($"locking off: {missed} request(s) shared the miss and ran the endpoint; {app.Logs["CachedResponseServed"]} served stale");

        // The store answers one lookup "miss", every other stale. How many requests shared that lookup is the
        // middleware's doing: usually that one alone, but 199 of 200 in a busy run, whose lookup's thread was
        // descheduled while the others joined it. Each of them runs the endpoint, and nobody else does.
        Assert.Equal(1, metrics.Claim("won"));
        Assert.Equal(1, metrics.Lookup("miss", "stale"));
        Assert.Equal(0, metrics.Lookup("miss", "absent") + metrics.Lookup("hit", "fresh"));
        Assert.Equal(metrics.Claim("lost"), metrics.Lookup("hit", "stale"));
        Assert.InRange(missed, 1, StormSize);
        Assert.Equal(StormSize - missed, app.Logs["CachedResponseServed"]);
        Assert.Equal(2 + missed, app.Page.Executions);

        app.Page.OpenGate();
        await Task.WhenAll(storm).WaitAsync(Deadline);
        Assert.Equal(2 + missed, app.Page.Executions);
    }
}
