using System.Diagnostics;
using System.Net;
using MintCache.AspNetCore.Backends.Redis;
using MintCache.AspNetCore.Tests.Fixtures;
using StackExchange.Redis;

namespace MintCache.AspNetCore.Tests.Redis;

/// <summary>
/// One node's measured clock (design.md §2 invariant 5): what a plain read may decide from it, and when it decides
/// nothing. Measurements are recorded directly, with no server: the node's <c>TIME</c> is asked for only when one is
/// missing, old or in doubt, and that request fails here, as it would against a node that is gone.
/// </summary>
public sealed class RedisServerClockTests
{
    private static readonly long Margin = (long)RedisServerClock.Margin.TotalMilliseconds;

    [Fact]
    public void NeverMeasured_DecidesNothing_AsksForTheTime()
    {
        var clock = new RedisServerClock(node: null);
        var (multiplexer, stub) = StubProxy.Create<IConnectionMultiplexer>();

        Assert.False(clock.IsKnown);
        Assert.False(clock.TryNow(multiplexer, out _, out _));
        Assert.Contains("GetDatabase", stub.Calls);
    }

    [Fact]
    public void Measured_BracketsTheNodesNow_ByUncertaintyAndMargin_WithoutAsking()
    {
        var clock = new RedisServerClock(node: null);
        var (multiplexer, stub) = StubProxy.Create<IConnectionMultiplexer>();
        clock.Record(offsetMs: 60_000, uncertaintyMs: 3, TimeSpan.Zero);

        var before = LocalMs();
        Assert.True(clock.TryNow(multiplexer, out var earliest, out var latest));
        var after = LocalMs();

        Assert.True(clock.IsKnown);
        Assert.Equal(2 * (3 + Margin), latest - earliest);
        Assert.InRange(earliest + 3 + Margin, before + 60_000, after + 60_000);
        Assert.Empty(stub.Calls);
    }

    [Fact]
    public void PastResync_StillDecides_AndMeasuresAgain()
    {
        var clock = new RedisServerClock(node: null);
        var (multiplexer, stub) = StubProxy.Create<IConnectionMultiplexer>();
        clock.Record(offsetMs: 0, uncertaintyMs: 1, RedisServerClock.Resync + TimeSpan.FromSeconds(1));

        Assert.True(clock.TryNow(multiplexer, out _, out _));
        Assert.Contains("GetDatabase", stub.Calls);
    }

    [Fact]
    public void PastMaxAge_DecidesNothing()
    {
        var clock = new RedisServerClock(node: null);
        var (multiplexer, _) = StubProxy.Create<IConnectionMultiplexer>();
        clock.Record(offsetMs: 0, uncertaintyMs: 1, RedisServerClock.MaxAge + TimeSpan.FromSeconds(1));

        Assert.False(clock.IsKnown);
        Assert.False(clock.TryNow(multiplexer, out _, out _));
    }

    [Fact]
    public void FailedMeasurement_KeepsThePreviousOne()
    {
        var clock = new RedisServerClock(node: null);
        var (multiplexer, _) = StubProxy.Create<IConnectionMultiplexer>();
        clock.Record(offsetMs: 500, uncertaintyMs: 1, TimeSpan.Zero);

        Assert.True(clock.MeasureAsync(multiplexer).IsCompletedSuccessfully);
        Assert.True(clock.TryNow(multiplexer, out var earliest, out _));
        Assert.InRange(earliest, LocalMs() + 500 - 1 - Margin - 1_000, LocalMs() + 500);
    }

    [Fact]
    public void MovedWithinBothUncertaintiesAndMargin_StillDecides()
    {
        var clock = new RedisServerClock(node: null);
        clock.Record(offsetMs: 0, uncertaintyMs: 2, TimeSpan.Zero);
        clock.Record(offsetMs: 2 + 3 + Margin, uncertaintyMs: 3, TimeSpan.Zero);
        Assert.True(clock.IsKnown);
    }

    [Fact]
    public void SteppedBeyondThem_DecidesNothing_UntilAMeasurementAgrees()
    {
        var clock = new RedisServerClock(node: null);
        var (multiplexer, stub) = StubProxy.Create<IConnectionMultiplexer>();
        clock.Record(offsetMs: 0, uncertaintyMs: 2, TimeSpan.Zero);
        clock.Record(offsetMs: 2 + 3 + Margin + 1, uncertaintyMs: 3, TimeSpan.Zero);

        Assert.False(clock.IsKnown);
        Assert.False(clock.TryNow(multiplexer, out _, out _));
        Assert.Contains("GetDatabase", stub.Calls);

        clock.Record(offsetMs: 2 + 3 + Margin + 1, uncertaintyMs: 3, TimeSpan.Zero);
        Assert.True(clock.IsKnown);
    }

    [Fact]
    public void PreviousTooOldToDecide_NotComparedWith()
    {
        // Drift over a quiet spell is no step.
        var clock = new RedisServerClock(node: null);
        clock.Record(offsetMs: 0, uncertaintyMs: 1, RedisServerClock.MaxAge + TimeSpan.FromSeconds(1));
        clock.Record(offsetMs: 5_000, uncertaintyMs: 1, TimeSpan.Zero);
        Assert.True(clock.IsKnown);
    }

    [Fact]
    public void OneServer_OneClockForEveryKey_WatchedOnce()
    {
        var clocks = new RedisServerClocks();
        var (multiplexer, stub) = StubProxy.Create<IConnectionMultiplexer>(static (name, _) => name switch
        {
            "HashSlot" => 42,
            "GetServers" => Array.Empty<IServer>(),
            _ => null,
        });

        var first = clocks.For(multiplexer, "a");
        Assert.NotNull(first);
        Assert.Same(first, clocks.For(multiplexer, "b"));
        Assert.Equal(3, stub.Calls.Count(c => c.StartsWith("add_", StringComparison.Ordinal)));
    }

    [Fact]
    public void ClusterWhoseMapDoesNotNameTheSlot_NoClockDecides()
    {
        var (server, _) = StubProxy.Create<IServer>(static (name, _) => name switch
        {
            "get_IsConnected" => true,
            "get_ServerType" => ServerType.Cluster,
            _ => null,
        });
        var (multiplexer, _) = StubProxy.Create<IConnectionMultiplexer>((name, _) => name switch
        {
            "HashSlot" => 42,
            "GetServers" => new[] { server },
            _ => null,
        });
        var clocks = new RedisServerClocks();

        Assert.Null(clocks.For(multiplexer, "a"));
        Assert.False(clocks.TryNow(multiplexer, "a", out _, out _));
        Assert.False(clocks.IsKnown);
    }

    [Fact]
    public void NodeClock_AsksItsOwnNode()
    {
        var node = new IPEndPoint(IPAddress.Loopback, 7000);
        var clock = new RedisServerClock(node);
        var (multiplexer, stub) = StubProxy.Create<IConnectionMultiplexer>();

        Assert.False(clock.TryNow(multiplexer, out _, out _));
        Assert.Contains("GetServer", stub.Calls);
        Assert.DoesNotContain("GetDatabase", stub.Calls);
    }

    private static long LocalMs() => (long)(Stopwatch.GetTimestamp() * 1000.0 / Stopwatch.Frequency);
}
