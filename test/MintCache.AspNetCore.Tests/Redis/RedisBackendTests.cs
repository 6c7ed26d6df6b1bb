using System.Buffers;
using System.Buffers.Binary;
using System.Text;
using MintCache.AspNetCore.Backends;
using MintCache.AspNetCore.Backends.Redis;
using MintCache.AspNetCore.Diagnostics;
using MintCache.AspNetCore.Entries;
using MintCache.AspNetCore.Store;
using MintCache.AspNetCore.Tests.Fixtures;
using StackExchange.Redis;
using StackExchange.Redis.Profiling;

namespace MintCache.AspNetCore.Tests.Redis;

/// <summary>design.md §2 invariants 2, 4, 5, 6 and 7 (claims and fencing, bad bytes, clock, keys, tags): the scripts, on a real Redis-protocol server.</summary>
public sealed class RedisBackendTests(RedisServerFixture redis) : IClassFixture<RedisServerFixture>
{
    private static readonly TimeSpan Lease = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task Lookup_OneRoundTrip_DecidesOnServerClock()
    {
        // Without the near cache, which would answer the repeated fresh lookups without Redis.
        await using var host = new RedisStoreHarness(redis.Endpoint, RedisStoreHarness.UniquePrefix(), static o => o.Redis.NearCache = false);
        var backend = host.Backend;
        var before = await redis.ServerNowAsync();
        // Windows long enough that a busy machine still looks the entry up fresh, then stale, before it expires.
        Assert.Equal(StoreOutcome.Stored, await backend.SetAsync("k", Page("v1"), [], new EntryLifetime(TimeSpan.FromSeconds(3), TimeSpan.FromSeconds(5)), null, default));
        var after = await redis.ServerNowAsync();

        // The header carries the server's times; Redis drops the value itself after fresh + grace.
        var raw = (byte[])(await redis.Database.StringGetAsync(backend.Keys.Entry("k")))!;
        Assert.Equal(EntryRejectReason.None, RedisEntryFormat.TryReadHeader(raw, out var staleAt, out var expiresAt, out var generation));
        Assert.InRange(staleAt, before + 3000, after + 3000);
        Assert.Equal(staleAt + 5000, expiresAt);
        Assert.True(generation > 0);
        Assert.InRange((await redis.Database.KeyTimeToLiveAsync(backend.Keys.Entry("k")))!.Value.TotalMilliseconds, 1, 8000);

        // Warm the script cache and measure the server's clock, then count the commands one lookup sends: a fresh
        // entry not seen before is two plain GETs in one round trip, the entry and its claim (no script), decided
        // against the clock.
        await backend.LookupAsync("warm", Lease, default);
        var multiplexer = await backend.Connection.GetAsync(default);
        // A measurement the warm-up lookup started may still be in flight, and a second is not started beside it.
        await Eventually.HoldsAsync(
            async () =>
            {
                await backend.FastReads.Clocks.MeasureAsync(multiplexer, backend.Keys.Entry("k"));
                return backend.FastReads.Clocks.IsKnown;
            },
            Deadline,
            "the server's clock is measured");
        var session = new ProfilingSession();
        multiplexer.RegisterProfiler(() => session);
        var fresh = await backend.LookupAsync("k", Lease, default);
        multiplexer.RegisterProfiler(() => null);
        Assert.Equal(["GET", "GET"], LookupCommands(session));
        Assert.Equal(EntryState.Fresh, fresh.State);
        Assert.Equal("v1", Encoding.UTF8.GetString(fresh.Page!));

        // Seen fresh, it is then read alone until the time it was seen fresh until: one GET, as the built-in store sends.
        session = new ProfilingSession();
        multiplexer.RegisterProfiler(() => session);
        var again = await backend.LookupAsync("k", Lease, default);
        multiplexer.RegisterProfiler(() => null);
        Assert.Equal(["GET"], LookupCommands(session));
        Assert.Equal(EntryState.Fresh, again.State);
        Assert.Equal("v1", Encoding.UTF8.GetString(again.Page!));

        // The first lookup past stale-at (server clock, or within the clock estimate's small error of it) wins the
        // claim; the next is served stale without it.
        BackendLookup first = default;
        await Eventually.HoldsAsync(async () => (first = await backend.LookupAsync("k", Lease, default)).State != EntryState.Fresh, Deadline, "the entry goes stale");
        Assert.True(await redis.ServerNowAsync() >= staleAt - (2 * (long)RedisFastReads.EarlyStaleSlack.TotalMilliseconds));
        Assert.Equal(EntryState.Stale, first.State);
        Assert.Equal(generation, first.Claim!.Value.Generation);

        // Past the clock's uncertainty (half a round trip and a 10 ms margin), the plain read may call it stale.
        await redis.WaitUntilServerTimeAsync(staleAt + 200, Deadline, "the entry is certainly stale");
        session = new ProfilingSession();
        multiplexer.RegisterProfiler(() => session);
        var second = await backend.LookupAsync("k", Lease, default);
        multiplexer.RegisterProfiler(() => null);
        Assert.Equal(EntryState.Stale, second.State);
        Assert.Null(second.Claim);
        Assert.Equal("v1", Encoding.UTF8.GetString(second.Page!));

        // So is a stale entry whose claim another holder has: no script. Only a lookup that may take the claim runs one.
        var commands = LookupCommands(session);
        Assert.True(commands is ["GET", "GET"], string.Join(",", commands));

        // Past expires-at it is missing, never served.
        await Eventually.HoldsAsync(async () => (await backend.LookupAsync("k", Lease, default)).State == EntryState.Missing, Deadline, "the entry expires");
        Assert.True(await redis.ServerNowAsync() >= expiresAt - 1);

        // A lookup more than RedisServerClock.Resync after the last measurement also starts a new one in the background
        // (TIME, not awaited): not part of the lookup's round trip, and on a busy machine the waits above outlast it.
        static string[] LookupCommands(ProfilingSession session)
            => [.. session.FinishProfiling().Select(static c => c.Command).Where(static c => c != "TIME")];
    }

    [Fact]
    public async Task Lookup_SeenFreshThenMarkedStale_TakesTheClaimThenReadsTheClaimAgain()
    {
        await using var host = new RedisStoreHarness(redis.Endpoint, RedisStoreHarness.UniquePrefix(), static o => o.Redis.NearCache = false);
        var backend = host.Backend;
        Assert.Equal(StoreOutcome.Stored, await backend.SetAsync("k", Page("v1"), ["news"], Long, null, default));
        var multiplexer = await backend.Connection.GetAsync(default);
        await backend.FastReads.Clocks.MeasureAsync(multiplexer, backend.Keys.Entry("k"));
        Assert.Equal(EntryState.Fresh, (await backend.LookupAsync("k", Lease, default)).State);
        Assert.Equal(["GET"], await CommandsAsync(async () => await backend.LookupAsync("k", Lease, default)));

        // Marked stale long before the time it was seen fresh until: the entry read alone is not fresh, so the script
        // decides (and this lookup wins the claim), and from then on the claim is read with the entry.
        await backend.EvictByTagAsync("news", soft: true, default);
        var raw = (byte[])(await redis.Database.StringGetAsync(backend.Keys.Entry("k")))!;
        Assert.Equal(EntryRejectReason.None, RedisEntryFormat.TryReadHeader(raw, out var staleAt, out _, out _));
        await redis.WaitUntilServerTimeAsync(staleAt + 200, Deadline, "the entry is certainly stale");
        BackendLookup first = default;
        var commands = await CommandsAsync(async () => first = await backend.LookupAsync("k", Lease, default));
        Assert.Equal(EntryState.Stale, first.State);
        Assert.NotNull(first.Claim);
        Assert.True(commands is ["GET", var script] && script.StartsWith("EVAL", StringComparison.Ordinal), string.Join(",", commands));

        BackendLookup second = default;
        Assert.Equal(["GET", "GET"], await CommandsAsync(async () => second = await backend.LookupAsync("k", Lease, default)));
        Assert.Equal(EntryState.Stale, second.State);
        Assert.Null(second.Claim);
        Assert.Equal("v1", Encoding.UTF8.GetString(second.Page!));

        async Task<string[]> CommandsAsync(Func<Task> lookup)
        {
            var session = new ProfilingSession();
            multiplexer.RegisterProfiler(() => session);
            await lookup();
            multiplexer.RegisterProfiler(() => null);
            return session.FinishProfiling().Select(c => c.Command).ToArray();
        }
    }

    [Fact]
    public async Task Set_ClaimLapsedAndNewerPageStored_IsFenced()
    {
        var prefix = RedisStoreHarness.UniquePrefix();
        await using var a = new RedisStoreHarness(redis.Endpoint, prefix);
        await using var b = new RedisStoreHarness(redis.Endpoint, prefix);
        var lease = TimeSpan.FromMilliseconds(200);
        await a.Backend.SetAsync("k", Page("v1"), [], new EntryLifetime(TimeSpan.FromMilliseconds(1), TimeSpan.FromSeconds(30)), null, default);

        var claimA = await WinClaimAsync(a.Backend, lease);

        // A is "paused" past its lease: B takes the claim over and stores first.
        var claimB = await WinClaimAsync(b.Backend, lease);
        Assert.NotEqual(claimA.Token, claimB.Token);
        Assert.Equal(StoreOutcome.Stored, await b.Backend.SetAsync("k", Page("v2 from B"), [], Long, claimB, default));

        // A's late page never overwrites B's newer one.
        Assert.Equal(StoreOutcome.Superseded, await a.Backend.SetAsync("k", Page("v2 from A"), [], Long, claimA, default));
        Assert.Equal("v2 from B", Encoding.UTF8.GetString((await b.Backend.LookupAsync("k", lease, default)).Page!));
    }

    [Fact]
    public async Task Set_UnderLapsedClaim_NeverDeletesTheNewHoldersClaim()
    {
        var prefix = RedisStoreHarness.UniquePrefix();
        await using var a = new RedisStoreHarness(redis.Endpoint, prefix);
        await using var b = new RedisStoreHarness(redis.Endpoint, prefix);
        var lease = TimeSpan.FromMilliseconds(200);
        await a.Backend.SetAsync("k", Page("v1"), [], new EntryLifetime(TimeSpan.FromMilliseconds(1), TimeSpan.FromSeconds(30)), null, default);
        var claimA = await WinClaimAsync(a.Backend, lease);
        var claimB = await WinClaimAsync(b.Backend, TimeSpan.FromSeconds(30));

        // B took the lapsed claim over, so its page will be newer: A's write is refused and leaves B's claim alone.
        Assert.Equal(StoreOutcome.TakenOver, await a.Backend.SetAsync("k", Page("v2 from A"), [], Long, claimA, default));
        Assert.Equal(claimB.Token.ToString(System.Globalization.CultureInfo.InvariantCulture), (string?)await redis.Database.StringGetAsync(a.Backend.Keys.Claim("k")));

        // B's own store releases it.
        await b.Backend.SetAsync("k", Page("v3 from B"), [], Long, claimB, default);
        Assert.False(await redis.Database.KeyExistsAsync(a.Backend.Keys.Claim("k")));
    }

    [Fact]
    public async Task ReleaseClaim_OnlyTheOwnerReleases()
    {
        // A backoff long enough to be read back on a stalled machine, and far below the lease it replaces.
        var lease = TimeSpan.FromMinutes(1);
        var backoff = TimeSpan.FromSeconds(20);
        await using var host = new RedisStoreHarness(redis.Endpoint, RedisStoreHarness.UniquePrefix());
        var backend = host.Backend;
        await backend.SetAsync("k", Page("v1"), [], new EntryLifetime(TimeSpan.FromMilliseconds(1), TimeSpan.FromSeconds(30)), null, default);
        var claim = await WinClaimAsync(backend, lease);

        await backend.ReleaseClaimAsync("k", claim with { Token = claim.Token + 1 }, TimeSpan.Zero, failed: false, default);
        Assert.Null((await backend.LookupAsync("k", lease, default)).Claim);

        await backend.ReleaseClaimAsync("k", claim, backoff, failed: false, default);
        Assert.InRange((await redis.Database.KeyTimeToLiveAsync(backend.Keys.Claim("k")))!.Value, TimeSpan.FromMilliseconds(1), backoff);

        await backend.ReleaseClaimAsync("k", claim, TimeSpan.Zero, failed: false, default);
        Assert.NotNull((await backend.LookupAsync("k", lease, default)).Claim);
    }

    [Fact]
    public async Task Keys_OfOneCacheKey_ShareOneHashSlot()
    {
        var keys = new RedisKeys("app:");
        foreach (var cacheKey in new[] { "GET\u001eHTTP\u001eLOCALHOST/PAGE", "a}b", "{x}", "100%", "}" })
        {
            var tag = HashTag(keys.Entry(cacheKey));
            Assert.False(string.IsNullOrEmpty(tag));
            Assert.Equal(tag, HashTag(keys.Claim(cacheKey)));
        }

        // Escaping keeps distinct cache keys apart, and different cache keys get different hash tags.
        Assert.NotEqual(keys.Entry("a}b"), keys.Entry("a%7Db"));
        Assert.NotEqual(HashTag(keys.Entry("/a")), HashTag(keys.Entry("/b")));
        Assert.Equal("app:{a%7Db}:e", (string?)keys.Entry("a}b"));
    }

    public static TheoryData<string> BadValues => ["foreign", "truncated", "short", "unknown-version", "corrupt", "wrong-type"];

    [Theory]
    [MemberData(nameof(BadValues))]
    public async Task Lookup_BadBytes_LoggedMissThenOverwritten(string kind)
    {
        await using var host = new RedisStoreHarness(redis.Endpoint, RedisStoreHarness.UniquePrefix());
        var entryKey = host.Backend.Keys.Entry("k");
        var valid = Header(stale: long.MaxValue / 4, expires: long.MaxValue / 4, length: 2).Concat("ok"u8.ToArray()).ToArray();
        switch (kind)
        {
            case "foreign": await redis.Database.StringSetAsync(entryKey, "<html>written by another program</html>"); break;
            case "truncated": await redis.Database.StringSetAsync(entryKey, valid[..^1]); break;
            case "short": await redis.Database.StringSetAsync(entryKey, valid[..10]); break;
            case "unknown-version": valid[4] = 99; await redis.Database.StringSetAsync(entryKey, valid); break;
            case "corrupt": await redis.Database.StringSetAsync(entryKey, Header(stale: 2_000, expires: 1_000, length: 2).Concat("ok"u8.ToArray()).ToArray()); break;
            case "wrong-type": await redis.Database.HashSetAsync(entryKey, "f", "v"); break;
        }

        Assert.Null(await host.Store.GetAsync("k", default));
        // Garnet keeps strings and objects in separate stores: a GET never sees the hash, so there is nothing to reject.
        var expectedRejections = kind == "wrong-type" && redis.Kind == "garnet" ? 0 : 1;
        Assert.True(expectedRejections == host.CountLogs(Log.IdEntryRejected), string.Join("\n", host.Logs.GetSnapshot().Select(r => r.ToString() + r.Exception)));
        Assert.False(host.Backend.IsDegraded);

        await host.Store.SetAsync("k", Encoding.UTF8.GetBytes("good"), [], TimeSpan.FromMinutes(1), default);
        Assert.Equal("good", Encoding.UTF8.GetString((await host.Store.GetAsync("k", default))!));
    }

    [Fact]
    public async Task Lookup_ValidHandWrittenEntry_IsServed()
    {
        // The control for the bad values above: the same hand-written header, intact, is a hit.
        await using var host = new RedisStoreHarness(redis.Endpoint, RedisStoreHarness.UniquePrefix());
        await redis.Database.StringSetAsync(host.Backend.Keys.Entry("k"), Header(stale: long.MaxValue / 4, expires: long.MaxValue / 4, length: 2).Concat("ok"u8.ToArray()).ToArray());

        Assert.Equal("ok", Encoding.UTF8.GetString((await host.Store.GetAsync("k", default))!));
        Assert.Equal(0, host.CountLogs(Log.IdEntryRejected));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task EvictByTag_MoreEntriesThanOneBatch_ReachesEveryEntry(bool soft)
    {
        await using var host = new RedisStoreHarness(redis.Endpoint, RedisStoreHarness.UniquePrefix());
        var keys = Enumerable.Range(0, 600).Select(i => "k" + i).ToArray();
        await Task.WhenAll(keys.Select(k => host.Backend.SetAsync(k, Page("v"), ["many"], Long, null, default).AsTask()));

        await host.Backend.EvictByTagAsync("many", soft, default);

        var states = await Task.WhenAll(keys.Select(async k => (await host.Backend.LookupAsync(k, Lease, default)).State));
        Assert.All(states, state => Assert.Equal(soft ? EntryState.Stale : EntryState.Missing, state));
    }

    [Fact]
    public async Task Tags_OneNode_MembershipAndNewSetOutliveTheirEntryByASecond()
    {
        await using var host = new RedisStoreHarness(redis.Endpoint, RedisStoreHarness.UniquePrefix());
        Assert.Equal(StoreOutcome.Stored, await host.Backend.SetAsync("k", Page("v"), ["t"], Long, null, default));

        // On one node the entry and its memberships are written by one script on one clock: a membership covers its
        // entry's last moment and needs no margin for skew between masters, and a set just created lives a second past
        // its one member. Every second more is Redis memory held by sets of pages long gone.
        var raw = (byte[])(await redis.Database.StringGetAsync(host.Backend.Keys.Entry("k")))!;
        Assert.Equal(EntryRejectReason.None, RedisEntryFormat.TryReadHeader(raw, out _, out var expiresAt, out _));
        var score = await redis.Database.SortedSetScoreAsync(host.Backend.Keys.Tag("t"), "k");
        Assert.NotNull(score);
        Assert.InRange(score.Value - expiresAt, 0, 1000);
        var setExpiresAt = (long)await redis.Database.ExecuteAsync("PEXPIRETIME", host.Backend.Keys.Tag("t"));
        // The set's expiry is on the command's clock and the score on the script's TIME: a millisecond apart at most.
        Assert.InRange(setExpiresAt - score.Value, 0, 1010);
    }

    [Fact]
    public async Task Tags_EvictedThenStored_SetKeepsTheEvictionForItsHorizon()
    {
        await using var host = new RedisStoreHarness(redis.Endpoint, RedisStoreHarness.UniquePrefix());
        await host.Backend.EvictByTagAsync("t", soft: false, default);

        // Invariant 8: the eviction's mark refuses the stores of regenerations that began before it for the whole
        // horizon, so a membership written afterwards (here a direct caller's store, which no eviction fences) never
        // shortens the set's life.
        Assert.Equal(StoreOutcome.Stored, await host.Backend.SetAsync("k", Page("v"), ["t"], Short, null, default));
        Assert.NotNull(await redis.Database.SortedSetScoreAsync(host.Backend.Keys.Tag("t"), "k"));
        Assert.True(await redis.Database.KeyTimeToLiveAsync(host.Backend.Keys.Tag("t")) > RedisBackend.EvictionMemory - TimeSpan.FromMinutes(1));
    }

    [Fact]
    public async Task Tags_MembersPastExpiry_ArePruned()
    {
        await using var host = new RedisStoreHarness(redis.Endpoint, RedisStoreHarness.UniquePrefix());
        var shortLived = new EntryLifetime(TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(2));
        await host.Backend.SetAsync("short", Page("v"), ["t"], shortLived, null, default);

        // A membership whose moment (its entry's expiry and the skew margin) is long past, as pruning would have left it.
        var tagKey = host.Backend.Keys.Tag("t");
        Assert.True(await redis.Database.SortedSetAddAsync(tagKey, "gone", 1));
        Assert.Equal(2, await redis.Database.SortedSetLengthAsync(tagKey));

        // A store that must lengthen the set's life prunes it; the short-lived membership is within its margin and stays.
        await host.Backend.SetAsync("kept", Page("v"), ["t"], Long, null, default);
        Assert.Equal(["short", "kept"], (await redis.Database.SortedSetRangeByRankAsync(tagKey)).Select(static m => (string)m!).ToArray());
        Assert.True((await redis.Database.KeyTimeToLiveAsync(tagKey)) > Long.Total - TimeSpan.FromSeconds(5));
    }

    /// <summary>The part of a key Redis Cluster hashes: between the first '{' and the next '}', when not empty.</summary>
    private static string? HashTag(RedisKey key)
    {
        var text = (string)key!;
        var open = text.IndexOf('{', StringComparison.Ordinal);
        var close = open < 0 ? -1 : text.IndexOf('}', open + 1);
        return close > open + 1 ? text[(open + 1)..close] : null;
    }

    private static readonly EntryLifetime Long = new(TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(1));

    private static readonly EntryLifetime Short = new(TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(5));

    private static ReadOnlySequence<byte> Page(string text) => new(Encoding.UTF8.GetBytes(text));

    private static byte[] Header(long stale, long expires, uint length)
    {
        var header = new byte[RedisEntryFormat.HeaderSize];
        RedisEntryFormat.Magic.CopyTo(header);
        header[4] = RedisEntryFormat.Version;
        BinaryPrimitives.WriteInt64BigEndian(header.AsSpan(8), stale);
        BinaryPrimitives.WriteInt64BigEndian(header.AsSpan(16), expires);
        BinaryPrimitives.WriteInt64BigEndian(header.AsSpan(24), 1);
        BinaryPrimitives.WriteInt64BigEndian(header.AsSpan(32), expires);
        BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(52), length);
        return header;
    }

    /// <summary>Looks the stale key up until this backend wins its claim (the previous holder's lease lapsing).</summary>
    private static async Task<ClaimTicket> WinClaimAsync(RedisBackend backend, TimeSpan lease)
    {
        ClaimTicket? claim = null;
        await Eventually.HoldsAsync(async () => (claim = (await backend.LookupAsync("k", lease, default)).Claim) is not null, Deadline, "the claim is won");
        return claim!.Value;
    }
}
