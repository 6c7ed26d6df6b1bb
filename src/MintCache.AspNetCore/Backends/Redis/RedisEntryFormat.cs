using System.Buffers.Binary;
using MintCache.AspNetCore.Entries;

namespace MintCache.AspNetCore.Backends.Redis;

/// <summary>
/// The bytes of one entry under its Redis key: a fixed header, then the page exactly as the middleware handed it over.
/// </summary>
/// <remarks>
/// <para>
/// The scripts in <see cref="RedisScripts"/> read and write the header themselves (the server's clock decides), so this
/// layout is shared by C# and Lua and is <b>append only</b>: a change is a new <see cref="Version"/>, never an edit.
/// Integers are unsigned big-endian; times are milliseconds since the Unix epoch on the Redis server's clock.
/// </para>
/// <code>
/// offset  size  field
///      0     4  magic "MINT" (a value without it was written by another program)
///      4     1  format version, 1
///      5     3  reserved, zero
///      8     8  stale-at (ms, server clock): before it the entry is fresh
///     16     8  expires-at (ms, server clock): from it the entry is gone
///     24     8  generation: grows with every store under the key (fencing)
///     32     4  page length in bytes (a shorter value was truncated)
///     36     n  the page
/// </code>
/// <para>
/// A value that fails any check is a <see cref="EntryRejectReason"/>: logged, answered as a miss, overwritten by the
/// next store. Version 1 keeps 36 bytes of overhead per page; generations are microseconds of the server clock or one
/// more than the previous generation, whichever is larger, so they stay below 2^53 and exact in Lua's doubles.
/// </para>
/// </remarks>
internal static class RedisEntryFormat
{
    public const int HeaderSize = 36;

    public const byte Version = 1;

    public static ReadOnlySpan<byte> Magic => "MINT"u8;

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

        if (value[4] != Version)
        {
            return EntryRejectReason.UnknownVersion;
        }

        staleAt = (long)BinaryPrimitives.ReadUInt64BigEndian(value[8..]);
        expiresAt = (long)BinaryPrimitives.ReadUInt64BigEndian(value[16..]);
        generation = (long)BinaryPrimitives.ReadUInt64BigEndian(value[24..]);
        var length = BinaryPrimitives.ReadUInt32BigEndian(value[32..]);
        if (value.Length - HeaderSize != length)
        {
            return EntryRejectReason.Truncated;
        }

        return staleAt > expiresAt ? EntryRejectReason.Corrupt : EntryRejectReason.None;
    }
}
