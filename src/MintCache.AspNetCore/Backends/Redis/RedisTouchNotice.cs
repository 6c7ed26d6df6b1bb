using System.Buffers.Binary;
using System.Text;
using MintCache.AspNetCore.Entries;

namespace MintCache.AspNetCore.Backends.Redis;

/// <summary>
/// A notification that an entry's page was regenerated the same (a touch): its new times on the server clock, and the
/// new render time to stamp on a near copy of the page, so that copies stay in service instead of being dropped.
/// </summary>
/// <remarks>
/// Published by the store script as <see cref="RedisWire.ChannelMark.Touched"/>, then big-endian: keep-until (8, ms: stale-at or
/// eager-at, whichever comes first), expires-at (8), fail-safe-until (8), grace (4, ms), the render time (8, the ticks
/// of the middleware's Created, as the header holds it), then the cache key in UTF-8.
/// </remarks>
internal sealed class RedisTouchNotice
{
    private const int FixedSize = 1 + 8 + 8 + 8 + 4 + 8;

    private RedisTouchNotice(string key, long keepUntil, long expiresAt, long failSafeUntil, long graceMs, long renderTicks)
    {
        Key = key;
        KeepUntil = keepUntil;
        ExpiresAt = expiresAt;
        FailSafeUntil = failSafeUntil;
        GraceMs = graceMs;
        RenderTicks = renderTicks;
    }

    public string Key { get; }

    /// <summary>Until when (server ms) a copy may be served as fresh.</summary>
    public long KeepUntil { get; }

    public long ExpiresAt { get; }

    public long FailSafeUntil { get; }

    public long GraceMs { get; }

    /// <summary>The render time to stamp on the page (<see cref="PageFingerprint.TryStamp"/>).</summary>
    public long RenderTicks { get; }

    /// <summary>Whether a message is a touch notice at all (a cache key never starts with the mark).</summary>
    public static bool IsNotice(ReadOnlySpan<byte> message) => message.Length > 0 && message[0] == RedisWire.ChannelMark.Touched;

    public static bool TryParse(ReadOnlySpan<byte> message, out RedisTouchNotice notice)
    {
        notice = null!;
        if (message.Length <= FixedSize || !IsNotice(message))
        {
            return false;
        }

        notice = new RedisTouchNotice(
            Encoding.UTF8.GetString(message[FixedSize..]),
            (long)BinaryPrimitives.ReadUInt64BigEndian(message[1..]),
            (long)BinaryPrimitives.ReadUInt64BigEndian(message[9..]),
            (long)BinaryPrimitives.ReadUInt64BigEndian(message[17..]),
            BinaryPrimitives.ReadUInt32BigEndian(message[25..]),
            BinaryPrimitives.ReadInt64BigEndian(message[29..]));
        return true;
    }

    /// <summary>A copy of <paramref name="page"/> (a decoded page) with the new render time; null when it cannot take it.</summary>
    public byte[]? Patch(byte[] page)
    {
        var patched = (byte[])page.Clone();
        return PageFingerprint.TryStamp(patched, RenderTicks) ? patched : null;
    }
}
