using System.Buffers;
using System.Text;
using MintCache.AspNetCore.Backends;
using MintCache.AspNetCore.Backends.Redis;
using MintCache.AspNetCore.Entries;
using MintCache.AspNetCore.Store;
using MintCache.AspNetCore.Tests.Fixtures;
using StackExchange.Redis;

namespace MintCache.AspNetCore.Tests.Redis;

/// <summary>The plain reads that answer a lookup without the script, on a real Redis.</summary>
public sealed class RedisFastReadsTests(RedisServerFixture redis) : IClassFixture<RedisServerFixture>
{
    private static readonly TimeSpan Lease = TimeSpan.FromSeconds(10);
    private static readonly EntryLifetime Long = new(TimeSpan.FromMinutes(5), TimeSpan.FromMinutes(1));

    [Fact]
    public async Task FreshRead_AnswerReadTwice_Throws_AndTheReadServesOneLookupAtATime()
    {
        await using var host = new RedisStoreHarness(redis.Endpoint, RedisStoreHarness.UniquePrefix(), static o => o.Redis.NearCache = false);
        var backend = host.Backend;
        var multiplexer = await backend.Connection.GetAsync(default);
        Assert.Equal(StoreOutcome.Stored, await backend.SetAsync("a", Page("page a"), [], Long, null, default));
        Assert.Equal(StoreOutcome.Stored, await backend.SetAsync("b", Page("page b"), [], Long, null, default));
        await Eventually.HoldsAsync(async () => await RedisCommandLog.CommandsAsync(multiplexer, () => backend.LookupAsync("a", Lease, default).AsTask()) is ["GET"], TimeSpan.FromSeconds(30), "a is read with one GET");
        await Eventually.HoldsAsync(async () => await RedisCommandLog.CommandsAsync(multiplexer, () => backend.LookupAsync("b", Lease, default).AsTask()) is ["GET"], TimeSpan.FromSeconds(30), "b is read with one GET");

        // A caller that reads a pooled answer twice (a bug of its own) is told so, and the read is not pooled twice.
        var once = backend.LookupAsync("a", Lease, default);
        Assert.Equal("page a", Text((await once).Page));
        Assert.Throws<InvalidOperationException>(() => once.GetAwaiter().GetResult());

        // Two lookups in flight at once each get their own page.
        var a = backend.LookupAsync("a", Lease, default).AsTask();
        var b = backend.LookupAsync("b", Lease, default).AsTask();
        var answers = await Task.WhenAll(a, b).WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal("page a", Text(answers[0].Page));
        Assert.Equal("page b", Text(answers[1].Page));
    }

    [Fact]
    public async Task ClockStepped_PlainReadsDecideNothing_UntilAMeasurementAgrees()
    {
        await using var host = new RedisStoreHarness(redis.Endpoint, RedisStoreHarness.UniquePrefix(), static o => o.Redis.NearCache = false);
        var backend = host.Backend;
        var multiplexer = await backend.Connection.GetAsync(default);
        var entryKey = backend.Keys.Entry("k");
        Assert.Equal(StoreOutcome.Stored, await backend.SetAsync("k", Page("v1"), [], Long, null, default));
        await Eventually.HoldsAsync(async () => await RedisCommandLog.CommandsAsync(multiplexer, () => backend.LookupAsync("k", Lease, default).AsTask()) is ["GET"], TimeSpan.FromSeconds(30), "k is read with one GET");

        // The node's clock as measured a moment ago was a second away from where it is now: a step.
        var clock = backend.FastReads.Clocks.For(multiplexer, entryKey)!;
        clock.Record(offsetMs: OffsetNowMs(await redis.ServerNowAsync()) - 1000, uncertaintyMs: 1, TimeSpan.Zero);
        await clock.MeasureAsync(multiplexer);
        Assert.False(clock.IsKnown);

        var commands = await RedisCommandLog.CommandsAsync(multiplexer, async () => Assert.Equal("v1", Text((await backend.LookupAsync("k", Lease, default)).Page)));
        Assert.True(commands is [var script] && script.StartsWith("EVAL", StringComparison.Ordinal), string.Join(",", commands));

        // A measurement that agrees with the one after the step: plain reads decide again.
        await clock.MeasureAsync(multiplexer);
        Assert.True(clock.IsKnown);
        Assert.Equal(["GET"], await RedisCommandLog.CommandsAsync(multiplexer, () => backend.LookupAsync("k", Lease, default).AsTask()));
    }

    [Fact]
    public async Task ClockEstimateOld_PlainReadsDecideNothing()
    {
        await using var host = new RedisStoreHarness(redis.Endpoint, RedisStoreHarness.UniquePrefix(), static o => o.Redis.NearCache = false);
        var backend = host.Backend;
        var multiplexer = await backend.Connection.GetAsync(default);
        Assert.Equal(StoreOutcome.Stored, await backend.SetAsync("k", Page("v1"), [], Long, null, default));
        await Eventually.HoldsAsync(async () => await RedisCommandLog.CommandsAsync(multiplexer, () => backend.LookupAsync("k", Lease, default).AsTask()) is ["GET"], TimeSpan.FromSeconds(30), "k is read with one GET");

        // The right offset, but measured longer ago than an estimate may be trusted. Recorded once any measurement the
        // lookups above started has landed: one landing later would replace it (a CI run saw the lookup decide on one GET).
        await backend.FastReads.Clocks.MeasureAsync(multiplexer, backend.Keys.Entry("k"));
        var clock = backend.FastReads.Clocks.For(multiplexer, backend.Keys.Entry("k"))!;
        clock.Record(OffsetNowMs(await redis.ServerNowAsync()), uncertaintyMs: 1, RedisServerClock.MaxAge + TimeSpan.FromSeconds(1));

        var commands = await RedisCommandLog.CommandsAsync(multiplexer, async () => Assert.Equal("v1", Text((await backend.LookupAsync("k", Lease, default)).Page)));
        Assert.True(commands is [var script] && script.StartsWith("EVAL", StringComparison.Ordinal), string.Join(",", commands));
    }

    [Fact]
    public async Task FastReadsOff_EveryLookupRunsTheScript()
    {
        await using var host = new RedisStoreHarness(redis.Endpoint, RedisStoreHarness.UniquePrefix(), static o => o.Redis.NearCache = false);
        var backend = host.Backend;
        var multiplexer = await backend.Connection.GetAsync(default);
        Assert.Equal(StoreOutcome.Stored, await backend.SetAsync("k", Page("v1"), [], Long, null, default));
        await Eventually.HoldsAsync(async () => await RedisCommandLog.CommandsAsync(multiplexer, () => backend.LookupAsync("k", Lease, default).AsTask()) is ["GET"], TimeSpan.FromSeconds(30), "k is read with one GET");

        backend.FastReads.Enabled = false;
        var commands = await RedisCommandLog.CommandsAsync(multiplexer, async () => Assert.Equal("v1", Text((await backend.LookupAsync("k", Lease, default)).Page)));
        Assert.True(commands is [var script] && script.StartsWith("EVAL", StringComparison.Ordinal), string.Join(",", commands));
    }

    [Fact]
    public async Task ColdMiss_ClaimTakenWithoutTheScript_ASecondHostSeesItHeld_AndTheStoreIsFencedFromTheMiss()
    {
        var prefix = RedisStoreHarness.UniquePrefix();
        await using var a = new RedisStoreHarness(redis.Endpoint, prefix, static o => o.Redis.NearCache = false);
        await using var b = new RedisStoreHarness(redis.Endpoint, prefix, static o => o.Redis.NearCache = false);
        var ma = await ClockKnownAsync(a.Backend);
        var mb = await ClockKnownAsync(b.Backend);

        BackendLookup won = default;
        var commands = await RedisCommandLog.CommandsAsync(ma, async () => won = await a.Backend.LookupAsync("cold", Lease, default));
        Assert.Equal(["GET", "GET", "SET"], commands);
        Assert.Equal(EntryState.Missing, won.State);
        var claim = Assert.IsType<ClaimTicket>(won.Claim);
        Assert.True(claim.ClaimedAt > 0, "the claim carries the time of the miss");

        BackendLookup held = default;
        commands = await RedisCommandLog.CommandsAsync(mb, async () => held = await b.Backend.LookupAsync("cold", Lease, default));
        Assert.Equal(["GET", "GET"], commands);
        Assert.True(held.ClaimedElsewhere);
        Assert.Null(held.Claim);

        // A purge of the page's tag after the miss, while the key is in no tag set yet: the claimed store is refused.
        await b.Backend.EvictByTagAsync("cold-tag", soft: false, default);
        Assert.Equal(StoreOutcome.Revoked, await a.Backend.SetAsync("cold", Page("rendered before the purge"), ["cold-tag"], Long, claim, default));
        Assert.Equal(EntryState.Missing, (await b.Backend.LookupAsync("cold", Lease, default)).State);
    }

    [Fact]
    public async Task ColdMiss_ClaimBackingOff_AnsweredWithoutTheScript_AndARevokedClaimIsTheScripts()
    {
        await using var host = new RedisStoreHarness(redis.Endpoint, RedisStoreHarness.UniquePrefix(), static o => o.Redis.NearCache = false);
        var backend = host.Backend;
        var multiplexer = await ClockKnownAsync(backend);

        var first = await backend.LookupAsync("failing", Lease, default);
        var claim = Assert.IsType<ClaimTicket>(first.Claim);
        await backend.ReleaseClaimAsync("failing", claim, TimeSpan.FromMinutes(1), failed: true, default);

        BackendLookup backingOff = default;
        var commands = await RedisCommandLog.CommandsAsync(multiplexer, async () => backingOff = await backend.LookupAsync("failing", Lease, default));
        Assert.Equal(["GET", "GET"], commands);
        Assert.Equal(EntryState.Missing, backingOff.State);
        Assert.Null(backingOff.Claim);
        Assert.False(backingOff.ClaimedElsewhere);
        Assert.True(backingOff.MissedAt > 0, "an unclaimed miss is fenced from its time");

        // An eviction's revocation on the claim key: free to take, by the script, which reads the revocation's time.
        await backend.EvictKeyAsync("failing", default);
        BackendLookup retaken = default;
        commands = await RedisCommandLog.CommandsAsync(multiplexer, async () => retaken = await backend.LookupAsync("failing", Lease, default));
        Assert.True(commands is ["GET", "GET", var script] && script.StartsWith("EVAL", StringComparison.Ordinal), string.Join(",", commands));
        Assert.NotNull(retaken.Claim);
    }

    [Fact]
    public async Task StalePage_FreeClaimTakenWithoutTheScript_ASecondHostServesItStale_AndTheRefreshReplacesIt()
    {
        var prefix = RedisStoreHarness.UniquePrefix();
        await using var a = new RedisStoreHarness(redis.Endpoint, prefix, static o => o.Redis.NearCache = false);
        await using var b = new RedisStoreHarness(redis.Endpoint, prefix, static o => o.Redis.NearCache = false);
        var ma = await ClockKnownAsync(a.Backend);
        var mb = await ClockKnownAsync(b.Backend);

        // Fresh for a millisecond, then stale for minutes; read once the node's clock is certainly past its stale-at.
        Assert.Equal(StoreOutcome.Stored, await a.Backend.SetAsync("s", Page("v1"), [], new EntryLifetime(TimeSpan.FromMilliseconds(1), TimeSpan.FromMinutes(5)), null, default));
        var raw = (byte[])(await redis.Database.StringGetAsync(a.Backend.Keys.Entry("s")))!;
        RedisEntryFormat.TryReadHeader(raw, out var staleAt, out _, out var generation);
        await redis.WaitUntilServerTimeAsync(staleAt + 2001, TimeSpan.FromSeconds(30), "the page is stale by far");

        BackendLookup won = default;
        var commands = await RedisCommandLog.CommandsAsync(ma, async () => won = await a.Backend.LookupAsync("s", Lease, default));
        Assert.Equal(["GET", "GET", "SET"], commands);
        Assert.Equal(EntryState.Stale, won.State);
        Assert.Equal("v1", Text(won.Page));
        var claim = Assert.IsType<ClaimTicket>(won.Claim);
        Assert.Equal(generation, claim.Generation);
        Assert.Equal(PageFingerprint.HashOf(Encoding.UTF8.GetBytes("v1")), claim.PageHash);

        BackendLookup held = default;
        commands = await RedisCommandLog.CommandsAsync(mb, async () => held = await b.Backend.LookupAsync("s", Lease, default));
        Assert.Equal(["GET", "GET"], commands);
        Assert.Equal(EntryState.Stale, held.State);
        Assert.Equal("v1", Text(held.Page));
        Assert.Null(held.Claim);

        Assert.Equal(StoreOutcome.Stored, await a.Backend.SetAsync("s", Page("v2"), [], Long, claim, default));
        var refreshed = await b.Backend.LookupAsync("s", Lease, default);
        Assert.Equal(EntryState.Fresh, refreshed.State);
        Assert.Equal("v2", Text(refreshed.Page));
    }

    [Fact]
    public async Task PageAtItsStaleAt_WithinTheClocksError_AnsweredStaleWithoutTheScript()
    {
        var prefix = RedisStoreHarness.UniquePrefix();
        await using var a = new RedisStoreHarness(redis.Endpoint, prefix, static o => o.Redis.NearCache = false);
        await using var b = new RedisStoreHarness(redis.Endpoint, prefix, static o => o.Redis.NearCache = false);
        var mb = await ClockKnownAsync(b.Backend);
        Assert.Equal(StoreOutcome.Stored, await a.Backend.SetAsync("edge", Page("v1"), [], Long, null, default));

        // Stale from the node's now: a lookup a moment later is within the clock estimate's error of the boundary, where
        // the plain reads once left the decision to the script; the page is the same either way, so it is answered stale.
        var entryKey = a.Backend.Keys.Entry("edge");
        var now = (ulong)await redis.ServerNowAsync();
        await redis.Database.StringSetRangeAsync(entryKey, RedisWire.StaleAtOffset, BigEndian(now));

        BackendLookup won = default;
        var commands = await RedisCommandLog.CommandsAsync(mb, async () => won = await b.Backend.LookupAsync("edge", Lease, default));
        Assert.Equal(["GET", "GET", "SET"], commands);
        Assert.Equal(EntryState.Stale, won.State);
        Assert.Equal("v1", Text(won.Page));
        Assert.NotNull(won.Claim);
    }

    [Fact]
    public async Task PlainReads_ReadTheClaimBeforeTheEntry()
    {
        // A store landing between the two reads must show its new page, never the old one beside the claim it deleted.
        await using var host = new RedisStoreHarness(redis.Endpoint, RedisStoreHarness.UniquePrefix(), static o => o.Redis.NearCache = false);
        var multiplexer = await ClockKnownAsync(host.Backend);
        await using var monitor = await RedisMonitor.StartAsync(redis.Endpoint);

        var commands = await RedisCommandLog.CommandsAsync(multiplexer, () => host.Backend.LookupAsync("ordered", Lease, default).AsTask());
        Assert.Equal(["GET", "GET", "SET"], commands);
        var gets = await monitor.CommandsMentioningAsync("{ordered}", count: 2, TimeSpan.FromSeconds(30));
        Assert.Contains("\"GET\"", gets[0], StringComparison.Ordinal);
        Assert.EndsWith("{ordered}:c\"", gets[0], StringComparison.Ordinal);
        Assert.EndsWith("{ordered}:e\"", gets[1], StringComparison.Ordinal);
    }

    [Fact]
    public async Task ClockMeasurement_AskedForWhileOneIsInFlight_JoinsIt()
    {
        // A lookup starts a measurement in the background; a caller that asks for one meanwhile sees it done.
        await using var gate = new RedisReplyGate(redis.Endpoint);
        await using var multiplexer = await ConnectionMultiplexer.ConnectAsync(gate.Endpoint + ",abortConnect=false");
        var clock = new RedisServerClock(node: null);
        gate.Hold();
        var inFlight = clock.MeasureAsync(multiplexer);
        var asked = clock.MeasureAsync(multiplexer);
        Assert.False(asked.IsCompleted);

        gate.Release();
        await Task.WhenAll(inFlight, asked).WaitAsync(TimeSpan.FromSeconds(30));
        Assert.True(clock.IsKnown);
    }

    /// <summary>Waits until this backend's plain reads decide (the node's clock measured), and returns its multiplexer.</summary>
    private static async Task<IConnectionMultiplexer> ClockKnownAsync(RedisBackend backend)
    {
        var multiplexer = await backend.Connection.GetAsync(default);
        var known = "clock-" + Guid.NewGuid().ToString("N");
        Assert.Equal(StoreOutcome.Stored, await backend.SetAsync(known, Page("known"), [], Long, null, default));
        await Eventually.HoldsAsync(async () => await RedisCommandLog.CommandsAsync(multiplexer, () => backend.LookupAsync(known, Lease, default).AsTask()) is ["GET"], TimeSpan.FromSeconds(30), "the node's clock is measured");
        return multiplexer;
    }

    // The node's milliseconds minus this process's, as RedisServerClock keeps them, from a reading of the node's clock.
    private static long OffsetNowMs(long serverNowMs) => serverNowMs - (long)(System.Diagnostics.Stopwatch.GetTimestamp() * 1000.0 / System.Diagnostics.Stopwatch.Frequency);

    private static byte[] BigEndian(ulong value)
    {
        var bytes = new byte[8];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt64BigEndian(bytes, value);
        return bytes;
    }

    private static ReadOnlySequence<byte> Page(string text) => new(Encoding.UTF8.GetBytes(text));

    private static string? Text(byte[]? page) => page is null ? null : Encoding.UTF8.GetString(page);
}
