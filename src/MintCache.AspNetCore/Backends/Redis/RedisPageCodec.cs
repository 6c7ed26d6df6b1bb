using System.Buffers;
using System.Buffers.Binary;
using System.IO.Compression;
using MintCache.AspNetCore.Entries;

namespace MintCache.AspNetCore.Backends.Redis;

/// <summary>
/// How a page is laid out after the entry header: as it is (<see cref="Codec.Identity"/>), Brotli-compressed
/// (<see cref="Codec.Brotli"/>), or Zstandard-compressed with the farm's dictionary (<see cref="Codec.ZstdDictionary"/>),
/// named by header byte <see cref="RedisWire.CodecOffset"/>. The scripts never look past the header; only C# encodes
/// and decodes (docs/decisions/compression.md has the measurements behind the choice).
/// </summary>
/// <remarks>
/// A compressed page declares its decoded length (Brotli: 4 bytes, unsigned big-endian, before the stream; Zstandard:
/// in its frame). Decoding allocates exactly that length, which must not pass <see cref="MaxDecodedLength"/>, and fails
/// when the stream would write more or less: a damaged or hostile value costs at most that bound, and is a logged miss,
/// never an exception.
/// </remarks>
internal static class RedisPageCodec
{
    /// <summary>The largest page a compressed value may declare; more is refused unread.</summary>
    public const int MaxDecodedLength = 128 * 1024 * 1024;

    // Quality 5 of 11, window 2^22: the best ratio per microsecond on 8 KiB HTML in the measurements.
    private const int BrotliQuality = 5;
    private const int BrotliWindow = 22;
    private const int LengthPrefix = 4;
    private const int DictionaryPrefix = 4;

    // A dictionary that shrinks a page less than this many times is no better than Brotli alone: both are tried.
    private const int DictionaryWorthAlone = 4;

    /// <summary>The values of header byte <see cref="RedisWire.CodecOffset"/>: append only.</summary>
    internal enum Codec : byte
    {
        /// <summary>The page as the middleware handed it over (every value written before compression existed).</summary>
        Identity = 0,

        /// <summary>Decoded length (u32), then a Brotli stream.</summary>
        Brotli = 1,

        /// <summary>The id of the farm's dictionary (u32, <see cref="RedisPageDictionary.Id"/>), then a Zstandard frame that declares its size.</summary>
        ZstdDictionary = 2,
    }

    /// <summary>Why a stored page could not be decoded.</summary>
    internal enum Failure
    {
        None,
        UnknownCodec,
        TooLarge,
        Corrupt,

        /// <summary>The header's render time could not be stamped on the decoded page.</summary>
        NotStamped,

        /// <summary>Written with a dictionary this process does not hold (yet: it is fetched for the next read).</summary>
        UnknownDictionary,
    }

    /// <summary>
    /// The value to store for <paramref name="page"/>: <see cref="RedisWire.HeaderSize"/> bytes of room for the header
    /// (its codec byte set), then the page, compressed when it is at least <paramref name="threshold"/> bytes
    /// (<see langword="null"/>: never) and compression makes it smaller, otherwise as it is. With
    /// <paramref name="dictionaries"/>, the farm's dictionary is used once there is one, and the page offered to make one.
    /// </summary>
    public static byte[] Encode(in ReadOnlySequence<byte> page, int? threshold, RedisPageDictionaries? dictionaries = null)
    {
        if (threshold is { } min && page.Length >= min && page.Length is > LengthPrefix + DictionaryPrefix and <= MaxDecodedLength
            && TryCompress(page, dictionaries, out var value))
        {
            return value;
        }

        value = new byte[RedisWire.HeaderSize + page.Length];
        page.CopyTo(value.AsSpan(RedisWire.HeaderSize));
        return value;
    }

    /// <summary>
    /// The page of a stored value's page bytes <paramref name="stored"/> (the script's reply, after the header), decoded
    /// by <paramref name="codec"/>, a page stored as it is being that same array, not a copy; then checked and stamped as
    /// <see cref="TryDecode(byte, ReadOnlySpan{byte}, RedisPageDictionaries?, out byte[], long, ulong)"/> does.
    /// </summary>
    public static Failure TryDecode(byte codec, byte[] stored, RedisPageDictionaries? dictionaries, out byte[] page, long renderTicks = 0, ulong pageHash = PageFingerprint.None)
    {
        if ((Codec)codec != Codec.Identity)
        {
            return TryDecode(codec, stored.AsSpan(), dictionaries, out page, renderTicks, pageHash);
        }

        page = stored;
        return Stamped(ref page, renderTicks);
    }

    /// <summary>
    /// The page of a stored value's <paramref name="stored"/> bytes (after the header), decoded by <paramref name="codec"/>,
    /// then, when <paramref name="renderTicks"/> is not 0 (the header's <see cref="RedisWire.RenderTimeOffset"/>: an
    /// unchanged refresh touched it), with that render time stamped on it (<see cref="PageFingerprint.TryStamp"/>).
    /// </summary>
    /// <remarks>
    /// A damaged stream can decode to the declared length and still be another page: a decompressed page whose
    /// header names its hash (<paramref name="pageHash"/>, the header's <see cref="RedisWire.PageHashOffset"/>) must have
    /// that hash, or it is <see cref="Failure.Corrupt"/>. A page stored as it is needs no such check: Redis returns its
    /// bytes as written, and the scripts check its length.
    /// </remarks>
    public static Failure TryDecode(byte codec, ReadOnlySpan<byte> stored, RedisPageDictionaries? dictionaries, out byte[] page, long renderTicks = 0, ulong pageHash = PageFingerprint.None)
    {
        var failure = TryDecodeStored(codec, stored, dictionaries, out page);
        if (failure == Failure.None && (Codec)codec != Codec.Identity && pageHash != PageFingerprint.None
            && (!PageFingerprint.TryRead(page, out var fingerprint) || fingerprint.Hash != pageHash))
        {
            page = null!;
            return Failure.Corrupt;
        }

        return failure == Failure.None ? Stamped(ref page, renderTicks) : failure;
    }

    private static Failure Stamped(ref byte[] page, long renderTicks)
    {
        if (renderTicks != 0 && !PageFingerprint.TryStamp(page, renderTicks))
        {
            page = null!;
            return Failure.NotStamped;
        }

        return Failure.None;
    }

    private static Failure TryDecodeStored(byte codec, ReadOnlySpan<byte> stored, RedisPageDictionaries? dictionaries, out byte[] page)
    {
        page = null!;
        switch ((Codec)codec)
        {
            case Codec.Identity:
                page = stored.ToArray();
                return Failure.None;
            case Codec.Brotli:
                if (stored.Length <= LengthPrefix)
                {
                    return Failure.Corrupt;
                }

                var length = BinaryPrimitives.ReadUInt32BigEndian(stored);
                if (length > MaxDecodedLength)
                {
                    return Failure.TooLarge;
                }

                var decoded = new byte[length];

                // False when the stream is damaged or would write past the declared length: never more than that is written.
                if (!BrotliDecoder.TryDecompress(stored[LengthPrefix..], decoded, out var written) || written != decoded.Length)
                {
                    return Failure.Corrupt;
                }

                page = decoded;
                return Failure.None;
            case Codec.ZstdDictionary:
                if (!TryReadDictionaryId(codec, stored, out var id))
                {
                    return Failure.Corrupt;
                }

                if (dictionaries is null || !dictionaries.TryGet(id, out var dictionary))
                {
                    return Failure.UnknownDictionary;
                }

                page = dictionary.TryDecompress(stored[DictionaryPrefix..], MaxDecodedLength, out var tooLarge)!;
                return page is not null ? Failure.None : tooLarge ? Failure.TooLarge : Failure.Corrupt;
            default:
                return Failure.UnknownCodec;
        }
    }

    /// <summary>The id of the dictionary a stored page of <paramref name="codec"/> was compressed with; <see langword="false"/> when it names none.</summary>
    public static bool TryReadDictionaryId(byte codec, ReadOnlySpan<byte> stored, out uint id)
    {
        id = 0;
        if ((Codec)codec != Codec.ZstdDictionary || stored.Length <= DictionaryPrefix)
        {
            return false;
        }

        id = BinaryPrimitives.ReadUInt32BigEndian(stored);
        return true;
    }

    /// <summary>The page of a whole stored value (header included), decoded by its header's codec byte.</summary>
    public static Failure TryDecodeValue(ReadOnlySpan<byte> value, out byte[] page, RedisPageDictionaries? dictionaries = null)
        => TryDecode(value[RedisWire.CodecOffset], value[RedisWire.HeaderSize..], dictionaries, out page, RenderTicksOf(value), BinaryPrimitives.ReadUInt64BigEndian(value[RedisWire.PageHashOffset..]));

    /// <summary>The render time in a stored value's header (UTC ticks of the middleware's Created), 0 for none.</summary>
    public static long RenderTicksOf(ReadOnlySpan<byte> value) => BinaryPrimitives.ReadInt64BigEndian(value[RedisWire.RenderTimeOffset..]);

    private static bool TryCompress(in ReadOnlySequence<byte> page, RedisPageDictionaries? dictionaries, out byte[] value)
    {
        value = null!;
        var length = (int)page.Length;
        byte[]? rentedSource = null;
        ReadOnlySpan<byte> source;
        if (page.IsSingleSegment)
        {
            source = page.FirstSpan;
        }
        else
        {
            rentedSource = ArrayPool<byte>.Shared.Rent(length);
            page.CopyTo(rentedSource);
            source = rentedSource.AsSpan(0, length);
        }

        // Only worth it when the page shrinks: the output may not reach the page's own length.
        var rented = ArrayPool<byte>.Shared.Rent(length);
        try
        {
            dictionaries?.Offer(source);
            var room = rented.AsSpan(0, length - LengthPrefix - 1);
            var dictionary = dictionaries?.Current;
            var zstd = 0;
            if (dictionary is not null && dictionary.TryCompress(source, room, out zstd)
                && (long)zstd * DictionaryWorthAlone <= length)
            {
                value = Value(Codec.ZstdDictionary, dictionary.Id, room[..zstd]);
                return true;
            }

            var zstdValue = zstd > 0 ? Value(Codec.ZstdDictionary, dictionary!.Id, room[..zstd]) : null;
            if (!BrotliEncoder.TryCompress(source, room, out var written, BrotliQuality, BrotliWindow))
            {
                value = zstdValue!;
                return zstdValue is not null;
            }

            value = zstdValue is not null && zstd <= written ? zstdValue : Value(Codec.Brotli, (uint)length, room[..written]);
            return true;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
            if (rentedSource is not null)
            {
                ArrayPool<byte>.Shared.Return(rentedSource);
            }
        }
    }

    // The header's room (its codec byte set), the codec's u32 prefix (Brotli: the decoded length; Zstandard: the
    // dictionary's id), then the stream.
    private static byte[] Value(Codec codec, uint prefix, ReadOnlySpan<byte> stream)
    {
        var value = new byte[RedisWire.HeaderSize + LengthPrefix + stream.Length];
        value[RedisWire.CodecOffset] = (byte)codec;
        BinaryPrimitives.WriteUInt32BigEndian(value.AsSpan(RedisWire.HeaderSize), prefix);
        stream.CopyTo(value.AsSpan(RedisWire.HeaderSize + LengthPrefix));
        return value;
    }
}
