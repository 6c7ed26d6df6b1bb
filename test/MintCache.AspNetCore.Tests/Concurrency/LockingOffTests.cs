using Microsoft.Extensions.Logging;
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

    // The README promises a handful of executions at most with the memory backend: the requests that shared the one
    // lookup answered "miss", usually that one alone.
    private const int Handful = 5;
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task StaleStorm_LockingOff_OneExecutionPerRequestThatSharedTheMiss()
    {
        await using var app = await TestApp.StartAsync(o => o.Grace = TimeSpan.FromMinutes(1), pagePolicy: p => p.SetLocking(false));
        await app.WarmUpClaimPathAsync("/page");
        app.Time.Advance(TestApp.Fresh);
        app.Logs.Reset();

        var storm = Enumerable.Range(0, StormSize).Select(_ => app.Client.GetAsync("/page")).ToArray();
        await app.Logs.WaitUntilAsync(l => l["CachedResponseServed"] + l["NoResponseServed"] >= StormSize, Deadline);
        var missed = app.Logs["NoResponseServed"];
        await app.Logs.WaitUntilAsync(l => l["ExecutingEndpoint"] >= missed, Deadline);

        Assert.Equal(2 + missed, app.Page.Executions);

        // Failed twice in full-suite runs (199 and 200 misses), never alone: the log then says which lookups missed.
        if (missed is < 1 or > Handful)
        {
            Assert.Fail($"{missed} requests missed (expected 1 to {Handful}); logged:{Environment.NewLine}{LogDigest.Of(app.Logs.Collector, LogLevel.Debug)}");
        }
        Assert.Equal(StormSize - missed, app.Logs["CachedResponseServed"]);
        output.WriteLine($"locking off: {missed} request(s) shared the miss and ran the endpoint; {app.Logs["CachedResponseServed"]} served stale");

        app.Page.OpenGate();
        await Task.WhenAll(storm).WaitAsync(Deadline);
        Assert.Equal(2 + missed, app.Page.Executions);
    }
}
