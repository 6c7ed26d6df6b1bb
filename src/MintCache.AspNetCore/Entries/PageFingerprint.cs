using System.Globalization;
using System.IO.Hashing;
using System.Text;

namespace MintCache.AspNetCore.Entries;

/// <summary>
/// What makes two pages the same response: a 64-bit hash of a page the middleware handed over, over everything it
/// stores (status, headers, body) but its render time, and where that render time sits in the page.
/// </summary>
/// <remarks>
/// <para>
/// The middleware writes the moment it rendered twice into every page: <c>Created</c> (from which it serves <c>Age</c>)
/// and the <c>Date</c> header it sets itself (<c>FinalizeCacheHeaders</c>). Both change with every render and say
/// nothing of the content, so the hash skips their bytes (<c>Created</c>'s ticks; its offset is hashed) and hashes
/// their lengths: equal hashes mean the same layout, so the time fields sit at the same offsets in both pages, and
/// <see cref="TryStamp"/> turns one into the other. An app's own validators (<c>ETag</c>, <c>Last-Modified</c>) are
/// content and are hashed.
/// </para>
/// <para>
/// Reading those two fields means reading the middleware's serialization (revision 2 of
/// <c>OutputCacheEntryFormatter</c>, .NET 8 to 10): a revision byte, <c>Created</c> as 7-bit encoded ticks and offset,
/// the status, then the headers, their names and values either an index into its append-only table of common strings
/// or a length-prefixed UTF-8 string. A page that does not read that way has no fingerprint, and is always stored whole.
/// </para>
/// </remarks>
internal readonly record struct PageFingerprint(ulong Hash, int CreatedOffset, int CreatedLength, int DateOffset, int DateLength, long CreatedTicks = 0)
{
    // OutputCacheEntryFormatter.SerializationRevision.V2_OriginalWithCommonHeaders.
    private const int Revision = 2;

    // The index of "Date" in the middleware's common strings (HeaderNames.Date, 33rd, append-only); the contract test
    // checks it against pages the real middleware renders.
    private const int CommonDateIndex = 32;

    /// <summary>A hash that no page has: "unknown".</summary>
    public const ulong None = 0;

    /// <summary>Reads the fingerprint of a page; <see langword="false"/> when the page is not one this type can read.</summary>
    public static bool TryRead(ReadOnlySpan<byte> page, out PageFingerprint fingerprint)
    {
        fingerprint = default;
        var at = 0;
        if (!TryReadInt(page, ref at, out var revision) || revision != Revision)
        {
            return false;
        }

        // Created's ticks are the render time; its offset that follows is hashed.
        var createdOffset = at;
        if (!TryReadInt(page, ref at, out var createdTicks))
        {
            return false;
        }

        var createdLength = at - createdOffset;
        if (!TryReadInt(page, ref at, out _))
        {
            return false;
        }

        if (!TryReadInt(page, ref at, out _) || !TryReadInt(page, ref at, out var headerCount) || headerCount < 0)
        {
            return false;
        }

        int dateOffset = 0, dateLength = 0;
        for (var i = 0; i < headerCount; i++)
        {
            if (!TryReadString(page, ref at, out var isDate, out _, out _) || !TryReadInt(page, ref at, out var valueCount) || valueCount < 0)
            {
                return false;
            }

            for (var j = 0; j < valueCount; j++)
            {
                if (!TryReadString(page, ref at, out _, out var valueOffset, out var valueLength))
                {
                    return false;
                }

                if (isDate && valueCount == 1)
                {
                    dateOffset = valueOffset;
                    dateLength = valueLength;
                }
            }
        }

        // The body follows (a length, then the bytes): content, hashed as it is.
        var hash = new XxHash3();
        Span<byte> lengths = [(byte)createdLength, (byte)dateLength];
        hash.Append(lengths);
        hash.Append(page[..createdOffset]);
        if (dateLength > 0)
        {
            hash.Append(page[(createdOffset + createdLength)..dateOffset]);
            hash.Append(page[(dateOffset + dateLength)..]);
        }
        else
        {
            hash.Append(page[(createdOffset + createdLength)..]);
        }

        var value = hash.GetCurrentHashAsUInt64();
        fingerprint = new PageFingerprint(value == None ? 1 : value, createdOffset, createdLength, dateOffset, dateLength, createdTicks);
        return true;
    }

    /// <summary>
    /// Writes the render time <paramref name="createdTicks"/> (the ticks of the middleware's <c>Created</c>) into
    /// <paramref name="page"/> in place: <c>Created</c>'s ticks, and its <c>Date</c> header as the middleware formats it
    /// from <c>Created</c>. <see langword="false"/>, the page possibly half written, when the page has no fingerprint or
    /// the new fields would not take the old ones' lengths.
    /// </summary>
    public static bool TryStamp(Span<byte> page, long createdTicks)
    {
        if (!TryRead(page, out var fingerprint))
        {
            return false;
        }

        Span<byte> ticks = stackalloc byte[10];
        var length = WriteInt(ticks, createdTicks);
        if (length != fingerprint.CreatedLength)
        {
            return false;
        }

        var at = fingerprint.CreatedOffset + length;
        if (!TryReadInt(page, ref at, out var offsetTicks) || offsetTicks % TimeSpan.TicksPerMinute != 0
            || Math.Abs(offsetTicks) > TimeSpan.TicksPerHour * 14 || createdTicks < 0 || createdTicks > DateTime.MaxValue.Ticks)
        {
            return false;
        }

        ticks[..length].CopyTo(page[fingerprint.CreatedOffset..]);
        if (fingerprint.DateLength == 0)
        {
            return true;
        }

        Span<byte> date = stackalloc byte[64];
        if (!new DateTimeOffset(createdTicks, TimeSpan.FromTicks(offsetTicks)).TryFormat(date, out var written, "r", CultureInfo.InvariantCulture)
            || written != fingerprint.DateLength)
        {
            return false;
        }

        date[..written].CopyTo(page[fingerprint.DateOffset..]);
        return true;
    }

    /// <summary>
    /// Whether <paramref name="page"/> is its own render time stamped on it: its <c>Date</c> is the one the middleware
    /// derives from its <c>Created</c>, so a stored page of the same hash stamped with this time is this page.
    /// </summary>
    public static bool IsStampable(ReadOnlySpan<byte> page, in PageFingerprint fingerprint)
    {
        var copy = page.ToArray();
        return TryStamp(copy, fingerprint.CreatedTicks) && page.SequenceEqual(copy);
    }

    /// <summary>The hash of a page, or <see cref="None"/> when it has no fingerprint.</summary>
    public static ulong HashOf(ReadOnlySpan<byte> page) => TryRead(page, out var fingerprint) ? fingerprint.Hash : None;

    // A name or value: a common string's index (odd preamble) or a UTF-8 string whose length is the preamble halved.
    private static bool TryReadString(ReadOnlySpan<byte> page, ref int at, out bool isDate, out int offset, out int length)
    {
        isDate = false;
        offset = length = 0;
        if (!TryReadInt(page, ref at, out var preamble) || preamble < 0)
        {
            return false;
        }

        if ((preamble & 1) == 1)
        {
            isDate = preamble >> 1 == CommonDateIndex;
            return true;
        }

        offset = at;
        length = (int)Math.Min(preamble >> 1, int.MaxValue);
        if (length > page.Length - at)
        {
            return false;
        }

        at += length;
        isDate = length == 4 && Ascii.EqualsIgnoreCase(page.Slice(offset, length), "Date"u8);
        return true;
    }

    // A 7-bit encoded integer as BinaryWriter writes it; the bytes written.
    private static int WriteInt(Span<byte> to, long value)
    {
        var rest = (ulong)value;
        var at = 0;
        while (rest >= 0x80)
        {
            to[at++] = (byte)(rest | 0x80);
            rest >>= 7;
        }

        to[at++] = (byte)rest;
        return at;
    }

    // A 7-bit encoded integer, as BinaryWriter writes it (up to 64 bits).
    private static bool TryReadInt(ReadOnlySpan<byte> page, ref int at, out long value)
    {
        value = 0;
        for (var shift = 0; shift < 64; shift += 7)
        {
            if (at >= page.Length)
            {
                return false;
            }

            var b = page[at++];
            value |= (long)(b & 0x7F) << shift;
            if ((b & 0x80) == 0)
            {
                return true;
            }
        }

        return false;
    }
}
