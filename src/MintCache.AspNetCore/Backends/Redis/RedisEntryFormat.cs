using System.Buffers.Binary;
using MintCache.AspNetCore.Entries;

namespace MintCache.AspNetCore.Backends.Redis;

/// <summary>
/// The bytes of one entry under its Redis key: a fixed header, then the page exactly as the middleware handed it over.
/// </summary>
/// <remarks>
/// <para>
/// The scripts in <see cref="RedisScripts"/> read and write the header themselves (the server's clock decides); the
/// offsets are <see cref="RedisWire"/>'s, from which the scripts' constants are generated. The layout is <b>append
/// only</b>: a change is a new <see cref="Version"/>, never an edit.
/// Integers are unsigned big-endian; times are milliseconds since the Unix epoch on the Redis server's clock.
/// </para>
/// <code>
/// offset  size  field
///      0     4  magic "MINT" (a value without it was written by another program)
///      4     1  format version, 3
///      5     1  codec of the page (<see cref="RedisPageCodec"/>): 0 as it is, 1 Brotli
///      6     2  reserved, zero
///      8     8  stale-at (ms, server clock): before it the entry is fresh
///     16     8  expires-at (ms, server clock): from it the entry is gone
///     24     8  generation: grows with every store under the key (fencing)
///     32     8  fail-safe-until (ms, server clock): the latest expires-at failed regenerations may extend to
///     40     4  grace (ms): what each failed regeneration gives the entry again, within fail-safe-until
///     44     8  eager-at (ms, server clock): from it a lookup of the fresh entry may refresh it early; 0 for never
///     52     4  page length n (a value shorter than the header + n was truncated)
///     56     8  page hash (<see cref="PageFingerprint"/>, 0 unknown): a refresh rendering the same hash only moves the times
///     64     8  render time (UTC ticks, 0 none): set by such a refresh, patched into the decoded page's Created and Date
///     72     n  the page, encoded by its codec (a compressed page: its decoded length, u32, then the stream)
/// </code>
/// <para>
/// A value that fails any check is a <see cref="EntryRejectReason"/>: logged, answered as a miss, overwritten by the
/// next store. Generations are microseconds of the server clock or one more than the previous generation, whichever
/// is larger, so they stay below 2^53 and exact in Lua's doubles.
/// </para>
/// </remarks>
internal static class RedisEntryFormat
{
    public const int HeaderSize = RedisWire.HeaderSize;

    public const byte Version = RedisWire.Version;

    public static ReadOnlySpan<byte> Magic => "MINT"u8;

    /// <summary>
    /// The page of a current-version value that is fresh until after <paramref name="latestNowMs"/> and not due for an eager
    /// refresh by then, decoded; <see langword="false"/> for anything else (stale, due, another version, damaged),
    /// which the lookup script then decides. <paramref name="msToKeep"/>: how long it certainly stays so; the rest is the
    /// entry's life past its freshness, which a near copy keeps. A value of a generation at or below
    /// <paramref name="clearedUpTo"/> (stored before a clear) is the script's too.
    /// </summary>
    public static bool TryReadFresh(ReadOnlySpan<byte> value, long latestNowMs, out byte[] page, out long msToKeep, out long msToExpiry, out long msToFailSafe, out long graceMs, long clearedUpTo = 0, RedisPageDictionaries? dictionaries = null)
    {
        page = null!;
        msToKeep = msToExpiry = msToFailSafe = graceMs = 0;
        if (!IsIntact(value) || Cleared(value, clearedUpTo))
        {
            return false;
        }

        var keepUntil = (long)BinaryPrimitives.ReadUInt64BigEndian(value[RedisWire.StaleAtOffset..]);
        var eagerAt = (long)BinaryPrimitives.ReadUInt64BigEndian(value[RedisWire.EagerAtOffset..]);
        if (eagerAt > 0 && eagerAt < keepUntil)
        {
            keepUntil = eagerAt;
        }

        if (latestNowMs >= keepUntil)
        {
            return false;
        }

        if (RedisPageCodec.TryDecodeValue(value, out page, dictionaries) != RedisPageCodec.Failure.None)
        {
            return false;
        }

        msToKeep = keepUntil - latestNowMs;
        ReadLife(value, latestNowMs, out msToExpiry, out msToFailSafe, out graceMs);
        return true;
    }

    /// <summary>
    /// The page of a current-version value that is stale at <paramref name="staleNowMs"/> and certainly not expired at
    /// <paramref name="latestNowMs"/> (the latest the node's clock may read), decoded, with the rest of its life from
    /// <paramref name="latestNowMs"/> (so never overstated); <see langword="false"/> for anything else, a value of a
    /// generation at or below <paramref name="clearedUpTo"/> included.
    /// </summary>
    /// <remarks>
    /// <paramref name="staleNowMs"/> is the earliest the node's clock may read (certainly stale), or, where the clock's
    /// error is small, the latest: a page within that error of its stale-at is the same page either way, and its claim
    /// only starts the refresh that much early. Answering it fresh could serve a page marked stale as fresh, so only
    /// this side of the boundary may be decided on a guess (<see cref="TryReadFresh"/> takes the latest).
    /// </remarks>
    public static bool TryReadStale(ReadOnlySpan<byte> value, long staleNowMs, long latestNowMs, out byte[] page, out long msToExpiry, out long msToFailSafe, out long graceMs, long clearedUpTo = 0, RedisPageDictionaries? dictionaries = null)
    {
        page = null!;
        msToExpiry = msToFailSafe = graceMs = 0;
        if (!IsIntact(value) || Cleared(value, clearedUpTo))
        {
            return false;
        }

        var expiresAt = (long)BinaryPrimitives.ReadUInt64BigEndian(value[RedisWire.ExpiresAtOffset..]);
        if (staleNowMs < (long)BinaryPrimitives.ReadUInt64BigEndian(value[RedisWire.StaleAtOffset..]) || latestNowMs >= expiresAt)
        {
            return false;
        }

        if (RedisPageCodec.TryDecodeValue(value, out page, dictionaries) != RedisPageCodec.Failure.None)
        {
            return false;
        }

        ReadLife(value, latestNowMs, out msToExpiry, out msToFailSafe, out graceMs);
        return true;
    }

    // The entry's life past its freshness, from the header, in milliseconds from latestNowMs.
    private static void ReadLife(ReadOnlySpan<byte> value, long latestNowMs, out long msToExpiry, out long msToFailSafe, out long graceMs)
    {
        msToExpiry = (long)BinaryPrimitives.ReadUInt64BigEndian(value[RedisWire.ExpiresAtOffset..]) - latestNowMs;
        msToFailSafe = (long)BinaryPrimitives.ReadUInt64BigEndian(value[RedisWire.FailSafeUntilOffset..]) - latestNowMs;
        graceMs = BinaryPrimitives.ReadUInt32BigEndian(value[RedisWire.GraceOffset..]);
    }

    /// <summary>The generation of an intact value (see <see cref="TryReadStale"/>): the claim taken on it holds it.</summary>
    public static long GenerationOf(ReadOnlySpan<byte> value) => (long)BinaryPrimitives.ReadUInt64BigEndian(value[RedisWire.GenerationOffset..]);

    // Generations are microseconds of the server clock at the store, as the clear stamps are: at or below one, stored before it.
    private static bool Cleared(ReadOnlySpan<byte> value, long clearedUpTo)
        => clearedUpTo > 0 && (long)BinaryPrimitives.ReadUInt64BigEndian(value[RedisWire.GenerationOffset..]) <= clearedUpTo;

    // The plain reads decide only current-version values that pass every check the scripts make; anything else is the script's.
    private static bool IsIntact(ReadOnlySpan<byte> value)
        => IsCurrentHeader(value) && value.Length - HeaderSize == BinaryPrimitives.ReadUInt32BigEndian(value[RedisWire.PageLengthOffset..]);

    /// <summary>
    /// Whether <paramref name="header"/> (a value, or its first <see cref="HeaderSize"/> bytes) starts with a current-version
    /// header whose times are in order: the scripts' <c>header(key, true)</c>, which does not check the page's length.
    /// </summary>
    internal static bool IsCurrentHeader(ReadOnlySpan<byte> header)
        => header.Length >= HeaderSize && header[RedisWire.VersionOffset] == Version && header[..4].SequenceEqual(Magic)
            && BinaryPrimitives.ReadUInt64BigEndian(header[RedisWire.StaleAtOffset..]) <= BinaryPrimitives.ReadUInt64BigEndian(header[RedisWire.ExpiresAtOffset..]);

    /// <summary>Reads the header of a raw value, as the scripts do; for tests and diagnostics.</summary>
    public static EntryRejectReason TryReadHeader(ReadOnlySpan<byte> value, out long staleAt, out long expiresAt, out long generation)
    {
        staleAt = expiresAt = generation = 0;
        if (value.Length < HeaderSize)
        {
            return EntryRejectReason.Truncated;
        }

        if (!value[..4].SequenceEqual(Magic))
        {
            return EntryRejectReason.Foreign;
        }

        if (value[RedisWire.VersionOffset] != Version)
        {
            return EntryRejectReason.UnknownVersion;
        }

        staleAt = (long)BinaryPrimitives.ReadUInt64BigEndian(value[RedisWire.StaleAtOffset..]);
        expiresAt = (long)BinaryPrimitives.ReadUInt64BigEndian(value[RedisWire.ExpiresAtOffset..]);
        generation = (long)BinaryPrimitives.ReadUInt64BigEndian(value[RedisWire.GenerationOffset..]);
        if (value.Length - HeaderSize != BinaryPrimitives.ReadUInt32BigEndian(value[RedisWire.PageLengthOffset..]))
        {
            return EntryRejectReason.Truncated;
        }

        return staleAt > expiresAt ? EntryRejectReason.Corrupt : EntryRejectReason.None;
    }
}
