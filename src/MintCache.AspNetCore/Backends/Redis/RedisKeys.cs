using StackExchange.Redis;

namespace MintCache.AspNetCore.Backends.Redis;

/// <summary>
/// The Redis keys of MintCache: <c>{prefix}{{escaped cache key}}:e</c> holds an entry, <c>…:c</c> its refresh claim,
/// and <c>{prefix}tag:{tag}</c> the sorted set of the cache keys that carry a tag.
/// </summary>
/// <remarks>
/// The entry and claim keys of one cache key share the hash tag between the braces, so the scripts that touch both
/// run on one Redis Cluster slot. Inside the braces, <c>%</c> and <c>}</c> are escaped (<c>%25</c>, <c>%7D</c>) so a
/// brace in a cache key cannot end the hash tag early, and two cache keys never share a Redis key. The prefix must
/// hold no brace (the options refuse one), or it would become the hash tag of every key.
/// </remarks>
internal sealed class RedisKeys(string prefix)
{
    public string Prefix { get; } = prefix;

    public RedisKey Entry(string cacheKey) => Build(cacheKey, ":e");

    public RedisKey Claim(string cacheKey) => Build(cacheKey, ":c");

    public RedisKey Tag(string tag) => (RedisKey)(Prefix + "tag:" + tag);

    /// <summary>The farm's data epoch (see RedisBackend.LastKnown.cs): one key, kept without expiry.</summary>
    public RedisKey Epoch => (RedisKey)(Prefix + "epoch");

    /// <summary>The farm's clear record (see <see cref="RedisClearStamps"/>): a hash of the latest hard and soft clears, kept without expiry.</summary>
    public RedisKey Clear => (RedisKey)(Prefix + "clear");

    /// <summary>The name of the farm's compression dictionary (see <see cref="RedisPageDictionaries"/>): its id, kept without expiry.</summary>
    public RedisKey DictionaryName => (RedisKey)(Prefix + "dict");

    /// <summary>The content of compression dictionary <paramref name="id"/>: kept without expiry, as pages may name it for their whole life.</summary>
    public RedisKey Dictionary(uint id) => (RedisKey)(Prefix + "dict:" + RedisPageDictionaries.NameOf(id));

    /// <summary>The Redis key pattern that matches every entry key under this prefix (for tests and tools).</summary>
    public string EntryPattern => Prefix + "{*}:e";

    // One exact-size string per key: lookups build one or two of these per request.
    private RedisKey Build(string cacheKey, string suffix)
    {
        var escapes = 0;
        foreach (var c in cacheKey)
        {
            if (c is '%' or '}')
            {
                escapes++;
            }
        }

        var length = Prefix.Length + 1 + cacheKey.Length + (2 * escapes) + 1 + suffix.Length;
        return (RedisKey)string.Create(length, (Prefix, cacheKey, suffix), static (span, parts) =>
        {
            parts.Prefix.CopyTo(span);
            var at = parts.Prefix.Length;
            span[at++] = '{';
            foreach (var c in parts.cacheKey)
            {
                switch (c)
                {
                    case '%':
                        "%25".CopyTo(span[at..]);
                        at += 3;
                        break;
                    case '}':
                        "%7D".CopyTo(span[at..]);
                        at += 3;
                        break;
                    default:
                        span[at++] = c;
                        break;
                }
            }

            span[at++] = '}';
            parts.suffix.CopyTo(span[at..]);
        });
    }
}
