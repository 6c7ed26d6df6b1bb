using System.Buffers.Binary;
using System.Text;

namespace MintCache.AspNetCore.Backends.Redis;

/// <summary>
/// A notification that an entry's page was regenerated the same (a touch): its new times on the server clock, and the
/// new render time to patch into a near copy of the page, so that copies stay in service instead of being dropped.
/// </summary>
/// <remarks>
/// Published by the store script as <see cref="RedisWire.TouchedMark"/>, then big-endian: keep-until (8, ms: stale-at or
/// eager-at, whichever comes first), expires-at (8), fail-safe-until (8), grace (4, ms), then two patches (offset in the
/// page 4, length 4, bytes), then the cache key in UTF-8.
/// </remarks>
internal sealed class RedisTouchNotice
{
    private const int FixedSize = 1 + 8 + 8 + 8 + 4;

    private RedisTouchNotice(string key, long keepUntil, long expiresAt, long failSafeUntil, long graceMs, (int Offset, byte[] Bytes) created, (int Offset, byte[] Bytes) date)
    {
        Key = key;
        KeepUntil = keepUntil;
        ExpiresAt = expiresAt;
        FailSafeUntil = failSafeUntil;
        GraceMs = graceMs;
        Created = created;
        Date = date;
    }

    public string Key { get; }

    /// <summary>Until when (server ms) a copy may be served as fresh.</summary>
    public long KeepUntil { get; }

    public long ExpiresAt { get; }

    public long FailSafeUntil { get; }

    public long GraceMs { get; }

    public (int Offset, byte[] Bytes) Created { get; }

    public (int Offset, byte[] Bytes) Date { get; }

    /// <summary>Whether a message is a touch notice at all (a cache key never starts with the mark).</summary>
    public static bool IsNotice(ReadOnlySpan<byte> message) => message.Length > 0 && message[0] == RedisWire.TouchedMark;

    public static bool TryParse(ReadOnlySpan<byte> message, out RedisTouchNotice notice)
    {
        notice = null!;
        if (message.Length < FixedSize + 16 || !IsNotice(message))
        {
            return false;
        }

        var at = FixedSize;
        if (!TryPatch(message, ref at, out var created) || !TryPatch(message, ref at, out var date) || at >= message.Length)
        {
            return false;
        }

        notice = new RedisTouchNotice(
            Encoding.UTF8.GetString(message[at..]),
            (long)BinaryPrimitives.ReadUInt64BigEndian(message[1..]),
            (long)BinaryPrimitives.ReadUInt64BigEndian(message[9..]),
            (long)BinaryPrimitives.ReadUInt64BigEndian(message[17..]),
            BinaryPrimitives.ReadUInt32BigEndian(message[25..]),
            created,
            date);
        return true;
    }

    /// <summary>A copy of <paramref name="page"/> with the new render time; null when the patches do not fit it.</summary>
    public byte[]? Patch(byte[] page)
    {
        if (!Fits(Created, page.Length) || !Fits(Date, page.Length))
        {
            return null;
        }

        var patched = (byte[])page.Clone();
        Created.Bytes.CopyTo(patched.AsSpan(Created.Offset));
        Date.Bytes.CopyTo(patched.AsSpan(Date.Offset));
        return patched;

        static bool Fits((int Offset, byte[] Bytes) patch, int length) => patch.Offset >= 0 && patch.Offset + patch.Bytes.Length <= length;
    }

    private static bool TryPatch(ReadOnlySpan<byte> message, ref int at, out (int Offset, byte[] Bytes) patch)
    {
        patch = default;
        if (message.Length - at < 8)
        {
            return false;
        }

        var offset = (int)BinaryPrimitives.ReadUInt32BigEndian(message[at..]);
        var length = (int)BinaryPrimitives.ReadUInt32BigEndian(message[(at + 4)..]);
        at += 8;
        if (length < 0 || length > message.Length - at)
        {
            return false;
        }

        patch = (offset, message.Slice(at, length).ToArray());
        at += length;
        return true;
    }
}
