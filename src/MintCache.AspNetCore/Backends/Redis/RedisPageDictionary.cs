using System.Collections.Concurrent;
using System.IO.Hashing;
using ZstdSharp;

namespace MintCache.AspNetCore.Backends.Redis;

/// <summary>
/// One compression dictionary of a farm: raw content (the first pages the farm compressed) against which Zstandard
/// matches each page, so the markup that pages share (head, navigation, footer) costs a few bytes in each of them.
/// </summary>
/// <remarks>
/// Named by <see cref="Id"/>, a hash of its content: processes that hold the same bytes name them alike, and content
/// read back from Redis is checked against the name it was read under. Immutable once made, so a page written with it
/// decodes with it for as long as the page lives.
/// </remarks>
internal sealed class RedisPageDictionary
{
    /// <summary>Zstandard's level: on 8 KiB pages of HTML, the fastest of the levels that reach the dictionary's ratio (docs/decisions/compression.md).</summary>
    public const int Level = 3;

    /// <summary>The first bytes of every dictionary's content: never Zstandard's dictionary magic, so Zstandard takes the rest as raw content.</summary>
    public static ReadOnlySpan<byte> ContentMagic => "MINTDICT"u8;

    // Contexts kept per dictionary for reuse: each holds the dictionary digested, which costs about as much as a page.
    private static readonly int PoolSize = Math.Max(2, Environment.ProcessorCount);

    private readonly ConcurrentQueue<Compressor> _compressors = new();
    private readonly ConcurrentQueue<Decompressor> _decompressors = new();

    private RedisPageDictionary(uint id, byte[] content)
    {
        Id = id;
        Content = content;
    }

    /// <summary>The dictionary's name: the low 32 bits of the XxHash3 of its content.</summary>
    public uint Id { get; }

    /// <summary>The content, <see cref="ContentMagic"/> first, as it is kept in Redis.</summary>
    public byte[] Content { get; }

    /// <summary>A dictionary of <paramref name="samples"/>: the content magic, then each sample in turn.</summary>
    public static RedisPageDictionary FromSamples(IReadOnlyList<byte[]> samples)
    {
        var content = new byte[ContentMagic.Length + samples.Sum(static s => s.Length)];
        ContentMagic.CopyTo(content);
        var at = ContentMagic.Length;
        foreach (var sample in samples)
        {
            sample.CopyTo(content, at);
            at += sample.Length;
        }

        return new RedisPageDictionary(IdOf(content), content);
    }

    /// <summary>
    /// The dictionary of <paramref name="content"/> read back under <paramref name="id"/>; <see langword="null"/> when the
    /// content is not a dictionary's (another program's value) or not the one that name was given to.
    /// </summary>
    public static RedisPageDictionary? FromContent(uint id, byte[] content)
        => content.AsSpan().StartsWith(ContentMagic) && IdOf(content) == id ? new RedisPageDictionary(id, content) : null;

    public static uint IdOf(ReadOnlySpan<byte> content) => (uint)XxHash3.HashToUInt64(content);

    /// <summary>
    /// <paramref name="page"/> as one Zstandard frame (its content size declared) in <paramref name="destination"/>;
    /// <see langword="false"/> when it does not fit.
    /// </summary>
    public bool TryCompress(ReadOnlySpan<byte> page, Span<byte> destination, out int written)
    {
        if (!_compressors.TryDequeue(out var compressor))
        {
            compressor = new Compressor(Level);
            compressor.LoadDictionary(Content);
        }

        try
        {
            return compressor.TryWrap(page, destination, out written);
        }
        finally
        {
            Return(_compressors, compressor);
        }
    }

    /// <summary>
    /// The page of one Zstandard frame written with this dictionary, when the frame declares a size from 1 to
    /// <paramref name="maxLength"/> and decodes to exactly that many bytes; <see langword="null"/> for anything else.
    /// </summary>
    public byte[]? TryDecompress(ReadOnlySpan<byte> frame, int maxLength, out bool tooLarge)
    {
        tooLarge = false;
        if (!_decompressors.TryDequeue(out var decompressor))
        {
            decompressor = new Decompressor();
            decompressor.LoadDictionary(Content);
        }

        try
        {
            var declared = Decompressor.GetDecompressedSize(frame);
            if (declared == 0 || declared > (ulong)maxLength)
            {
                tooLarge = declared > (ulong)maxLength;
                return null;
            }

            var page = new byte[(int)declared];
            return decompressor.TryUnwrap(frame, page, out var written) && written == page.Length ? page : null;
        }
        catch (ZstdException)
        {
            // A damaged frame: the context is reset by its next use.
            return null;
        }
        finally
        {
            Return(_decompressors, decompressor);
        }
    }

    private static void Return<T>(ConcurrentQueue<T> pool, T context)
        where T : IDisposable
    {
        if (pool.Count < PoolSize)
        {
            pool.Enqueue(context);
        }
        else
        {
            context.Dispose();
        }
    }
}
