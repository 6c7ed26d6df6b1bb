using System.Buffers;
using System.Buffers.Binary;
using MintCache.AspNetCore.Entries;

namespace MintCache.AspNetCore.Backends.Redis;

/// <summary>
/// What a store writes: the page encoded (<see cref="RedisPageCodec.Encode"/>) with room for the header and the page's
/// hash in it. A store that may turn out to be a touch (an unchanged page, RedisBackend.Touch.cs) keeps a copy of the
/// page instead and encodes it only when the touch finds the page changed, so an unchanged refresh is never compressed.
/// </summary>
/// <remarks>
/// Either way the page is copied before the store returns: the middleware reuses its buffers then, and a command cut
/// short by the timeout may still be written to the socket later.
/// </remarks>
internal sealed class RedisStoreValue
{
    private readonly byte[]? _page;
    private readonly int? _threshold;
    private readonly RedisPageDictionaries? _dictionaries;
    private readonly ulong _hash;
    private byte[]? _encoded;

    private RedisStoreValue(byte[]? encoded, byte[]? page, int? threshold, RedisPageDictionaries? dictionaries, ulong hash)
    {
        _encoded = encoded;
        _page = page;
        _threshold = threshold;
        _dictionaries = dictionaries;
        _hash = hash;
    }

    /// <summary>Encoded now: the store sends the page.</summary>
    public static RedisStoreValue Encoded(in ReadOnlySequence<byte> page, int? threshold, RedisPageDictionaries? dictionaries, ulong hash)
        => new(Encode(page, threshold, dictionaries, hash), null, threshold, dictionaries, hash);

    /// <summary>
    /// Encoded when first asked for: the store first tries a touch, which sends the hash alone. <paramref name="page"/>
    /// is this store's own copy.
    /// </summary>
    public static RedisStoreValue Deferred(byte[] page, int? threshold, RedisPageDictionaries? dictionaries, ulong hash)
        => new(null, page, threshold, dictionaries, hash);

    /// <summary>The value to send: room for the header (its codec byte and the page's hash set), then the page.</summary>
    public byte[] Value => _encoded ??= Encode(new ReadOnlySequence<byte>(_page!), _threshold, _dictionaries, _hash);

    /// <summary>Whether the page was encoded (a store that sent it, or was about to).</summary>
    public bool IsEncoded => _encoded is not null;

    /// <summary>The page as the middleware handed it over, for the local fallback.</summary>
    public byte[] Page
    {
        get
        {
            if (_page is not null)
            {
                return _page;
            }

            // Decoding what this process just encoded cannot fail.
            _ = RedisPageCodec.TryDecodeValue(_encoded!, out var page, _dictionaries);
            return page;
        }
    }

    private static byte[] Encode(in ReadOnlySequence<byte> page, int? threshold, RedisPageDictionaries? dictionaries, ulong hash)
    {
        var value = RedisPageCodec.Encode(page, threshold, dictionaries);
        if (hash != PageFingerprint.None)
        {
            BinaryPrimitives.WriteUInt64BigEndian(value.AsSpan(RedisWire.PageHashOffset), hash);
        }

        return value;
    }
}
