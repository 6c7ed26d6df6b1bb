using System.Buffers.Binary;
using System.Text;
using MintCache.AspNetCore.Backends.Redis;
using MintCache.AspNetCore.Entries;
using MintCache.AspNetCore.Store;
using MintCache.AspNetCore.Tests.Fixtures;
using StackExchange.Redis;
using static MintCache.AspNetCore.Backends.Redis.RedisWire;

namespace MintCache.AspNetCore.Tests.Redis;

/// <summary>
/// The wire contract: every code the scripts answer with, run on a real server, reads back as its C# value, and every
/// outcome of every script is reached and read by the typed replies.
/// </summary>
public sealed class RedisWireTests(RedisServerFixture redis) : IClassFixture<RedisServerFixture>
{
    private const long Lease = 60_000;
    private const long Hold = 60_000;
    private static readonly RedisValue Channel = "wire-test";
    private static readonly RedisValue Marker = "\u001Fevicted";

    [Fact]
    public async Task LuaConstants_EqualTheirCSharpValues()
    {
        var codes = RedisWire.LuaCodes().ToArray();
        var offsets = new (string Name, int Value)[]
        {
            ("OFF_VERSION", VersionOffset), ("OFF_CODEC", CodecOffset), ("OFF_STALE", StaleAtOffset), ("OFF_EXPIRES", ExpiresAtOffset), ("OFF_GEN", GenerationOffset),
            ("OFF_FAILSAFE", FailSafeUntilOffset), ("OFF_GRACE", GraceOffset), ("OFF_EAGER", EagerAtOffset), ("OFF_LENGTH", PageLengthOffset),
            ("OFF_HASH", PageHashOffset), ("OFF_RENDER", RenderTimeOffset), ("TOUCHED_MARK", ChannelMark.Touched), ("HEADER", HeaderSize), ("VERSION", RedisWire.Version),
        };
        var all = codes.Concat(offsets).ToArray();
        var script = LuaPrelude + "return {" + string.Join(", ", all.Select(c => c.Name)) + "}";

        var values = (RedisResult[])(await redis.Database.ScriptEvaluateAsync(script))!;

        Assert.Equal(all.Length, values.Length);
        for (var i = 0; i < all.Length; i++)
        {
            Assert.True(all[i].Value == (int)values[i], $"{all[i].Name}: C# {all[i].Value}, Lua {(int)values[i]}");
        }

        // Every member of every enum the scripts answer with has its Lua constant.
        var expected = Enum.GetValues<LookupCode>().Length + Enum.GetValues<MissKind>().Length + Enum.GetValues<EntryRejectReason>().Length
            + Enum.GetValues<StoreOutcome>().Length + Enum.GetValues<ClaimRenewal>().Length + Enum.GetValues<TouchResult>().Length;
        Assert.Equal(expected, codes.Length);
        Assert.Equal(codes.Length, codes.Select(c => c.Name).Distinct().Count());
        Assert.Equal((int)EntryState.Missing, (int)LookupCode.Missing);
        Assert.Equal((int)EntryState.Fresh, (int)LookupCode.Fresh);
        Assert.Equal((int)EntryState.Stale, (int)LookupCode.Stale);
    }

    [Fact]
    public async Task LookupScript_EveryOutcome_ReadsAsItsCode()
    {
        var keys = new RedisKeys(RedisStoreHarness.UniquePrefix());
        var db = redis.Database;
        var now = await redis.ServerNowAsync();

        // Missing, claimed by this lookup; then by another; then backing off after a release.
        var claimed = await LookupAsync(keys, "cold", token: 1);
        Assert.Equal((LookupCode.Missing, MissKind.Claimed), (claimed.Code, claimed.Miss));
        Assert.InRange(claimed.Now, now - 5_000, now + 60_000);
        Assert.Null(claimed.Page);
        var elsewhere = await LookupAsync(keys, "cold", token: 2);
        Assert.Equal((LookupCode.Missing, MissKind.ClaimedElsewhere), (elsewhere.Code, elsewhere.Miss));
        Assert.True(elsewhere.Now >= claimed.Now);
        await RedisScripts.ReleaseClaimAsync(db, keys.Entry("cold"), keys.Claim("cold"), 1, Lease, 0, Channel, "cold");
        var backingOff = await LookupAsync(keys, "cold", token: 3);
        Assert.Equal((LookupCode.Missing, MissKind.BackingOff), (backingOff.Code, backingOff.Miss));
        Assert.True(backingOff.Now >= elsewhere.Now);

        // Fresh, with the entry's life; then stale, claimed by this lookup, then by another.
        Assert.Equal(StoreOutcome.Stored, await StoreAsync(keys, "k", "page", freshMs: 60_000));
        var fresh = await LookupAsync(keys, "k", token: 4);
        Assert.Equal(LookupCode.Fresh, fresh.Code);
        Assert.False(fresh.Claimed);
        Assert.Equal("page", Encoding.UTF8.GetString(fresh.Page!));
        Assert.InRange(fresh.MsToKeep, 1, 60_000);
        Assert.InRange(fresh.MsToExpiry, 60_001, 120_000);
        Assert.Equal(60_000, fresh.GraceMs);
        Assert.True(fresh.Generation > 0);

        var staleClaimed = await StaleClaimAsync(keys, "s", token: 5);
        Assert.Equal("old", Encoding.UTF8.GetString(staleClaimed.Page!));
        var stale = await LookupAsync(keys, "s", token: 6);
        Assert.Equal((LookupCode.Stale, false), (stale.Code, stale.Claimed));
        Assert.Equal(staleClaimed.Generation, stale.Generation);

        // Fresh past its eager-at: the lookup that takes the claim refreshes it early.
        Assert.Equal(StoreOutcome.Stored, await StoreAsync(keys, "e", "eager", freshMs: 60_000, eagerMs: 1));
        await Eventually.HoldsAsync(async () => (await LookupAsync(keys, "e", token: 7)).Claimed, TimeSpan.FromSeconds(10), "the eager claim is taken");

        // Rejected: a value of another program, and another type under the claim key.
        await db.StringSetAsync(keys.Entry("bad"), "<html>another program's</html>");
        var rejected = await LookupAsync(keys, "bad", token: 8);
        Assert.Equal((LookupCode.Rejected, EntryRejectReason.Truncated), (rejected.Code, rejected.Reason));
        await db.HashSetAsync(keys.Claim("foreign"), "f", "v");
        var foreign = await LookupAsync(keys, "foreign", token: 9);
        Assert.Equal((LookupCode.Rejected, EntryRejectReason.ForeignClaim), (foreign.Code, foreign.Reason));
        Assert.True(foreign.Now >= now);
    }

    [Fact]
    public async Task StoreAndClaimScripts_EveryOutcome_ReadsAsItsCode()
    {
        var keys = new RedisKeys(RedisStoreHarness.UniquePrefix());
        var db = redis.Database;

        // Superseded: another page was stored after the claim was taken on the missing entry.
        var claim = await LookupAsync(keys, "k", token: 1);
        Assert.Equal(StoreOutcome.Stored, await StoreAsync(keys, "k", "direct"));
        Assert.Equal(StoreOutcome.Superseded, await StoreAsync(keys, "k", "late", token: 1, since: claim.Now));

        // Renewed, then taken over, then revoked (renewal and store).
        var stale = await StaleClaimAsync(keys, "t", token: 2);
        Assert.Equal(ClaimRenewal.Renewed, (ClaimRenewal)(int)await RedisScripts.RenewClaimAsync(db, keys.Claim("t"), 2, Lease));
        await db.StringSetAsync(keys.Claim("t"), "3");
        Assert.Equal(ClaimRenewal.Lost, (ClaimRenewal)(int)await RedisScripts.RenewClaimAsync(db, keys.Claim("t"), 2, Lease));
        Assert.Equal(StoreOutcome.TakenOver, await StoreAsync(keys, "t", "late", token: 2, generation: stale.Generation, since: stale.Now));
        await RedisScripts.EvictEntryAsync(db, keys.Entry("t"), keys.Claim("t"), 1, Lease);
        Assert.Equal(ClaimRenewal.Revoked, (ClaimRenewal)(int)await RedisScripts.RenewClaimAsync(db, keys.Claim("t"), 3, Lease));
        Assert.Equal(StoreOutcome.Revoked, await StoreAsync(keys, "t", "revoked", token: 3, generation: stale.Generation, since: stale.Now));

        // Without a claim: revoked when the entry was evicted after the miss, stored when the miss came after it.
        var miss = await LookupAsync(keys, "u", token: 4);
        await RedisScripts.ReleaseClaimAsync(db, keys.Entry("u"), keys.Claim("u"), 4, 0, 0, Channel, "u");
        await RedisScripts.EvictEntryAsync(db, keys.Entry("u"), keys.Claim("u"), 0, Lease);
        Assert.Equal(StoreOutcome.Revoked, await StoreAsync(keys, "u", "before", since: miss.Now));
        var revokedAt = long.Parse(((string)(await db.StringGetAsync(keys.Claim("u")))!).Split('@')[1], System.Globalization.CultureInfo.InvariantCulture);
        long after = 0;
        await Eventually.HoldsAsync(async () => (after = (await LookupAsync(keys, "u2", token: 5)).Now) > revokedAt, TimeSpan.FromSeconds(5), "the server clock passes the eviction");
        Assert.Equal(StoreOutcome.Stored, await StoreAsync(keys, "u", "after", since: after));

        // Refused: another type under the claim key.
        await db.HashSetAsync(keys.Claim("f"), "f", "v");
        Assert.Equal(StoreOutcome.Refused, await StoreAsync(keys, "f", "page"));
    }

    [Fact]
    public async Task StoreScript_HeaderAtTheContractsOffsets_PageWrittenAsSent()
    {
        var keys = new RedisKeys(RedisStoreHarness.UniquePrefix());
        var before = await redis.ServerNowAsync();
        Assert.Equal(StoreOutcome.Stored, await StoreAsync(keys, "k", "the page", freshMs: 10_000, graceMs: 5_000));

        var raw = (byte[])(await redis.Database.StringGetAsync(keys.Entry("k")))!;
        Assert.Equal(EntryRejectReason.None, RedisEntryFormat.TryReadHeader(raw, out var staleAt, out var expiresAt, out var generation));
        Assert.Equal("the page", Encoding.UTF8.GetString(raw.AsSpan(HeaderSize)));
        Assert.Equal(5_000, expiresAt - staleAt);
        Assert.InRange(staleAt, before + 10_000, before + 70_000);
        Assert.True(generation > 0);
        Assert.True(RedisEntryFormat.TryReadFresh(raw, staleAt - 1, out var page, out _, out var msToExpiry, out _, out var graceMs));
        Assert.Equal("the page", Encoding.UTF8.GetString(page));
        Assert.Equal(5_001, msToExpiry);
        Assert.Equal(5_000, graceMs);
    }

    [Fact]
    public async Task TouchScript_WritesHeaderFieldsOnly_CodecAndPageBytesKept_RenderTimeAnswered()
    {
        var keys = new RedisKeys(RedisStoreHarness.UniquePrefix());
        byte[] hash = [1, 2, 3, 4, 5, 6, 7, 8];
        var value = new byte[HeaderSize].Concat("\u0000\u0001compressed bytes"u8.ToArray()).ToArray();
        value[CodecOffset] = 1;
        hash.CopyTo(value, PageHashOffset);
        Assert.Equal(StoreOutcome.Stored, new RedisStoreReply(await SetAsync(keys, "k", value, freshMs: 10_000)).Outcome);
        var before = (byte[])(await redis.Database.StringGetAsync(keys.Entry("k")))!;

        // Another hash: nothing written, the page is needed.
        var changed = new RedisStoreReply(await SetAsync(keys, "k", value, freshMs: 20_000, touch: new([8, 7, 6, 5, 4, 3, 2, 1], [0, 0, 0, 0, 0, 0, 0, 9])));
        Assert.Equal(TouchResult.Changed, changed.Touch);
        Assert.Equal(before, (byte[])(await redis.Database.StringGetAsync(keys.Entry("k")))!);

        var renderTime = new byte[8];
        BinaryPrimitives.WriteInt64BigEndian(renderTime, 638_000_000_000_000_000);
        var touched = new RedisStoreReply(await SetAsync(keys, "k", value, freshMs: 20_000, touch: new(hash, renderTime)));
        Assert.Equal(TouchResult.Touched, touched.Touch);
        var after = (byte[])(await redis.Database.StringGetAsync(keys.Entry("k")))!;
        Assert.Equal(before.AsSpan(0, CodecOffset + 1).ToArray(), after.AsSpan(0, CodecOffset + 1).ToArray());
        Assert.Equal(before.AsSpan(PageLengthOffset, RenderTimeOffset - PageLengthOffset).ToArray(), after.AsSpan(PageLengthOffset, RenderTimeOffset - PageLengthOffset).ToArray());
        Assert.Equal(renderTime, after.AsSpan(RenderTimeOffset, 8).ToArray());
        Assert.Equal(before.AsSpan(HeaderSize).ToArray(), after.AsSpan(HeaderSize).ToArray());
        RedisEntryFormat.TryReadHeader(before, out var staleBefore, out _, out var genBefore);
        RedisEntryFormat.TryReadHeader(after, out var staleAfter, out _, out var genAfter);
        Assert.True(staleAfter > staleBefore && genAfter > genBefore, "the touch moved the times and the generation");

        var lookup = await LookupAsync(keys, "k", token: 7);
        Assert.Equal(LookupCode.Fresh, lookup.Code);
        Assert.Equal(1, lookup.Codec);
        Assert.Equal(638_000_000_000_000_000, lookup.RenderTime);
    }

    [Fact]
    public async Task ChannelMarks_AreDistinct_AndEachMessageKindStartsWithItsOwn()
    {
        var marks = ChannelMark.All().ToArray();
        Assert.Equal(marks.Length, marks.Select(m => m.Mark).Distinct().Count());
        Assert.All(marks, m => Assert.True(char.IsControl(m.Mark), $"{m.Name}: a cache key may start with it"));
        Assert.Equal(ChannelMark.Clear, RedisClearStamps.MessagePrefix[0]);

        // The notice the store script publishes for a touch starts with the touch's mark, and reads back as a touch.
        var keys = new RedisKeys(RedisStoreHarness.UniquePrefix());
        byte[] hash = [1, 2, 3, 4, 5, 6, 7, 8];
        var value = new byte[HeaderSize].Concat("page"u8.ToArray()).ToArray();
        hash.CopyTo(value, PageHashOffset);
        Assert.Equal(StoreOutcome.Stored, new RedisStoreReply(await SetAsync(keys, "k", value, freshMs: 10_000)).Outcome);
        var channel = RedisChannel.Literal(keys.Entry("marks").ToString());
        var queue = await redis.Multiplexer.GetSubscriber().SubscribeAsync(channel);
        try
        {
            var touched = new RedisStoreReply(await SetAsync(keys, "k", value, freshMs: 10_000, touch: new(hash, new byte[8]), channel: channel.ToString()));
            Assert.Equal(TouchResult.Touched, touched.Touch);
            var message = (byte[])(await queue.ReadAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(10))).Message!;
            Assert.Equal((byte)ChannelMark.Touched, message[0]);
            Assert.True(RedisTouchNotice.TryParse(message, out var notice));
            Assert.Equal("k", notice.Key);
        }
        finally
        {
            await queue.UnsubscribeAsync();
        }
    }

    private Task<RedisResult> SetAsync(RedisKeys keys, string key, byte[] value, long freshMs, RedisScripts.TouchArguments? touch = null, string? channel = null)
        => RedisScripts.SetAsync(
            redis.Database, [keys.Entry(key), keys.Claim(key)], value, freshMs, 60_000, 0, RedisValue.EmptyString, RedisValue.EmptyString,
            0, 0, channel is null ? Channel : (RedisValue)channel, key, 0, freshMs + 61_000, Marker, 600_000, touch: touch);

    private async Task<RedisLookupReply> LookupAsync(RedisKeys keys, string key, long token)
        => new(await RedisScripts.LookupAsync(redis.Database, keys.Entry(key), keys.Claim(key), token, Lease, Hold));

    private async Task<RedisLookupReply> StaleClaimAsync(RedisKeys keys, string key, long token)
    {
        Assert.Equal(StoreOutcome.Stored, await StoreAsync(keys, key, "old", freshMs: 1));
        RedisLookupReply reply = default;
        await Eventually.HoldsAsync(async () => (reply = await LookupAsync(keys, key, token)).Code == LookupCode.Stale, TimeSpan.FromSeconds(10), "the entry goes stale");
        Assert.True(reply.Claimed);
        return reply;
    }

    private async Task<StoreOutcome> StoreAsync(
        RedisKeys keys, string key, string page, long freshMs = 60_000, long graceMs = 60_000, long eagerMs = 0, long token = 0, long generation = 0, long since = 0)
    {
        var value = new byte[HeaderSize].Concat(Encoding.UTF8.GetBytes(page)).ToArray();
        var reply = await RedisScripts.SetAsync(
            redis.Database, [keys.Entry(key), keys.Claim(key)], value, freshMs, graceMs, 0,
            token == 0 ? RedisValue.EmptyString : token, token == 0 ? RedisValue.EmptyString : generation,
            since, 0, Channel, key, eagerMs, freshMs + graceMs + 1_000, Marker, 600_000);
        return new RedisStoreReply(reply).Outcome;
    }
}
