using System.Buffers;
using System.Text;
using MintCache.AspNetCore.Backends.Redis;
using MintCache.AspNetCore.Diagnostics;
using MintCache.AspNetCore.Entries;
using MintCache.AspNetCore.Store;
using MintCache.AspNetCore.Tests.Fixtures;
using StackExchange.Redis;
using static MintCache.AspNetCore.Backends.Redis.RedisWire;

namespace MintCache.AspNetCore.Tests.Redis;

/// <summary>
/// The Redis work one request costs (design.md §4): a page never passes through Lua (staged by a plain <c>SET</c>,
/// left out of a lookup reply whose page the plain read already holds), and a cold miss is one <c>GET</c> and the script.
/// The fence of invariant 8 holds on the staged store: a refused store leaves nothing behind.
/// </summary>
[Collection(RedisCollection.Name)]
public sealed class RedisWorkPerRequestTests(RedisServerFixture redis)
{
    private static readonly TimeSpan Lease = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(10);
    private static readonly EntryLifetime Long = new(TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(1));
    private static readonly RedisValue Channel = "work-test";
    private static readonly RedisValue Marker = "\u001Fevicted";

    [Fact]
    public async Task Store_PageStagedByPlainSet_ThenRenamedOntoTheEntry()
    {
        var prefix = RedisStoreHarness.UniquePrefix();
        await using var host = new RedisStoreHarness(redis.Endpoint, prefix, static o => o.Redis.NearCache = false);
        var backend = host.Backend;
        var multiplexer = await backend.Connection.GetAsync(default);
        Assert.Equal(StoreOutcome.Stored, await backend.SetAsync("warm", Page("warm"), ["t"], Long, null, default));
        StoreOutcome outcome = default;

        // The staging SET carries its expiry (SETEX), then the script.
        var commands = await RedisCommandLog.CommandsAsync(multiplexer, async () => outcome = await backend.SetAsync("k", Page("the page"), ["t"], Long, null, default));

        Assert.Equal(StoreOutcome.Stored, outcome);
        Assert.True(commands is ["SETEX", var script] && script.StartsWith("EVAL", StringComparison.Ordinal), string.Join(",", commands));
        var raw = (byte[])(await redis.Database.StringGetAsync(backend.Keys.Entry("k")))!;
        Assert.Equal(EntryRejectReason.None, RedisEntryFormat.TryReadHeader(raw, out _, out _, out _));
        Assert.Equal("the page", Encoding.UTF8.GetString(raw.AsSpan(HeaderSize)));
        Assert.InRange((await redis.Database.KeyTimeToLiveAsync(backend.Keys.Entry("k")))!.Value.TotalSeconds, 60, 121);
        Assert.Empty(await StagedKeysAsync(prefix));
    }

    [Fact]
    public async Task StoreScript_StagedValueGoneOrNotAsSent_RefusedUnstaged_NothingWritten()
    {
        var keys = new RedisKeys(RedisStoreHarness.UniquePrefix());
        var db = redis.Database;
        var staged = (RedisKey)((string)keys.Entry("k")! + ":s1");

        // Gone (evicted under memory pressure between the SET and the script).
        var gone = new RedisStoreReply(await StoreStagedAsync(keys, "k", staged, length: HeaderSize + 8));
        Assert.Equal((StoreOutcome.Refused, true), (gone.Outcome, gone.Unstaged));

        // Not the length sent.
        await db.StringSetAsync(staged, new byte[HeaderSize + 3]);
        var cut = new RedisStoreReply(await StoreStagedAsync(keys, "k", staged, length: HeaderSize + 8));
        Assert.Equal((StoreOutcome.Refused, true), (cut.Outcome, cut.Unstaged));
        Assert.False(await db.KeyExistsAsync(staged));
        Assert.False(await db.KeyExistsAsync(keys.Entry("k")));
    }

    [Fact]
    public async Task StoreScript_Fenced_StagedValueDeleted_EntryUntouched()
    {
        var keys = new RedisKeys(RedisStoreHarness.UniquePrefix());
        var db = redis.Database;
        var staged = (RedisKey)((string)keys.Entry("k")! + ":s2");
        await db.StringSetAsync(staged, new byte[HeaderSize + 8]);

        // Another live holder's claim: a claimed store is taken over (invariant 2), and its staged page is not left behind.
        await db.StringSetAsync(keys.Claim("k"), "7", TimeSpan.FromSeconds(30));
        var reply = new RedisStoreReply(await StoreStagedAsync(keys, "k", staged, length: HeaderSize + 8, token: 6));

        Assert.Equal((StoreOutcome.TakenOver, false), (reply.Outcome, reply.Unstaged));
        Assert.False(await db.KeyExistsAsync(staged));
        Assert.False(await db.KeyExistsAsync(keys.Entry("k")));
    }

    [Fact]
    public async Task LookupScript_PageOfTheKnownGeneration_LeftOutOfTheReply()
    {
        var keys = new RedisKeys(RedisStoreHarness.UniquePrefix());
        var db = redis.Database;
        var value = new byte[HeaderSize].Concat(Encoding.UTF8.GetBytes("old")).ToArray();
        await RedisScripts.SetAsync(db, [keys.Entry("k"), keys.Claim("k")], value, 1, 60_000, 0, RedisValue.EmptyString, RedisValue.EmptyString, 0, 0, Channel, "k", 0, 70_000, Marker, 600_000);
        Assert.Equal(EntryRejectReason.None, RedisEntryFormat.TryReadHeader((byte[])(await db.StringGetAsync(keys.Entry("k")))!, out var staleAt, out _, out var generation));
        await Eventually.HoldsAsync(async () => await redis.ServerNowAsync() > staleAt, Deadline, "the entry goes stale");

        var known = new RedisLookupReply(await RedisScripts.LookupAsync(db, keys.Entry("k"), keys.Claim("k"), 1, 60_000, 60_000, knownGeneration: generation));
        Assert.Equal((LookupCode.Stale, true, generation), (known.Code, known.Claimed, known.Generation));
        Assert.Null(known.Page);

        // Another generation than the one held: the page comes with the reply.
        var other = new RedisLookupReply(await RedisScripts.LookupAsync(db, keys.Entry("k"), keys.Claim("k"), 2, 60_000, 60_000, knownGeneration: generation - 1));
        Assert.Equal((LookupCode.Stale, false), (other.Code, other.Claimed));
        Assert.Equal("old", Encoding.UTF8.GetString(other.Page!));
    }

    [Fact]
    public async Task ColdMiss_KeyNeverSeen_OneGetThenTheScript()
    {
        await using var host = new RedisStoreHarness(redis.Endpoint, RedisStoreHarness.UniquePrefix(), static o => o.Redis.NearCache = false);
        var backend = host.Backend;
        await backend.LookupAsync("warm", Lease, default);
        var multiplexer = await backend.Connection.GetAsync(default);
        await backend.FastReads.Clocks.MeasureAsync(multiplexer, backend.Keys.Entry("cold"));
        BackendLookupProbe probe = default;

        var commands = await RedisCommandLog.CommandsAsync(multiplexer, async () => probe = new(await backend.LookupAsync("cold", Lease, default)));

        Assert.Equal(EntryState.Missing, probe.State);
        Assert.True(probe.Claimed);
        Assert.True(commands is ["GET", var script] && script.StartsWith("EVAL", StringComparison.Ordinal), string.Join(",", commands));
    }

    [Fact]
    public async Task StaleLookup_KeyNeverSeen_ScriptTakesTheClaim_PageFromThePlainRead()
    {
        var prefix = RedisStoreHarness.UniquePrefix();
        await using var writer = new RedisStoreHarness(redis.Endpoint, prefix, static o => o.Redis.NearCache = false);
        await using var host = new RedisStoreHarness(redis.Endpoint, prefix, static o => o.Redis.NearCache = false);
        var backend = host.Backend;
        Assert.Equal(StoreOutcome.Stored, await writer.Backend.SetAsync("k", Page("v1"), [], new EntryLifetime(TimeSpan.FromMilliseconds(1), TimeSpan.FromMinutes(1)), null, default));
        var raw = (byte[])(await redis.Database.StringGetAsync(backend.Keys.Entry("k")))!;
        Assert.Equal(EntryRejectReason.None, RedisEntryFormat.TryReadHeader(raw, out var staleAt, out _, out _));
        await backend.LookupAsync("warm", Lease, default);
        var multiplexer = await backend.Connection.GetAsync(default);
        await backend.FastReads.Clocks.MeasureAsync(multiplexer, backend.Keys.Entry("k"));
        await Eventually.HoldsAsync(async () => await redis.ServerNowAsync() >= staleAt + 200, Deadline, "the entry is certainly stale");
        BackendLookupProbe first = default, second = default;

        var commands = await RedisCommandLog.CommandsAsync(multiplexer, async () => first = new(await backend.LookupAsync("k", Lease, default)));

        Assert.True(commands is ["GET", var script] && script.StartsWith("EVAL", StringComparison.Ordinal), string.Join(",", commands));
        Assert.Equal((EntryState.Stale, true, "v1"), (first.State, first.Claimed, first.Text));

        // Seen stale now: the next lookup reads the claim with the entry, and is answered stale without the script.
        Assert.Equal(["GET", "GET"], await RedisCommandLog.CommandsAsync(multiplexer, async () => second = new(await backend.LookupAsync("k", Lease, default))));
        Assert.Equal((EntryState.Stale, false, "v1"), (second.State, second.Claimed, second.Text));
    }

    private Task<RedisResult> StoreStagedAsync(RedisKeys keys, string key, RedisKey staged, long length, long token = 0)
        => RedisScripts.StoreStagedAsync(
            redis.Database, [keys.Entry(key), keys.Claim(key), staged], length, 60_000, 60_000, 0,
            token == 0 ? RedisValue.EmptyString : token, token == 0 ? RedisValue.EmptyString : 0,
            0, 0, Channel, key, 0, 121_000, Marker, 600_000);

    private async Task<List<string>> StagedKeysAsync(string prefix)
    {
        var server = redis.Multiplexer.GetServer(redis.Multiplexer.GetEndPoints()[0]);
        var found = new List<string>();
        await foreach (var key in server.KeysAsync(pattern: prefix + "*:s*"))
        {
            found.Add(key!);
        }

        return found;
    }

    private static ReadOnlySequence<byte> Page(string text) => new(Encoding.UTF8.GetBytes(text));

    private readonly record struct BackendLookupProbe(EntryState State, bool Claimed, string? Text)
    {
        public BackendLookupProbe(Backends.BackendLookup lookup)
            : this(lookup.State, lookup.Claim is not null, lookup.Page is null ? null : Encoding.UTF8.GetString(lookup.Page))
        {
        }
    }
}
