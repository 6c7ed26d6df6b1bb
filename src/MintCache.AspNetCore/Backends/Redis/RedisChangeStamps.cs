namespace MintCache.AspNetCore.Backends.Redis;

/// <summary>
/// Counts the changes this process has seen, per stripe of keys and of everything, and drops the near copies they make
/// wrong: <see cref="Mark"/> taken before a lookup and compared after it tells whether a change arrived in between, so
/// a reply read before a change is never kept near (see <see cref="RedisNearCache"/>).
/// </summary>
/// <remarks>
/// Per stripe of keys rather than per key: a fixed array, no growth, and a false alarm only costs one more Redis round
/// trip.
/// </remarks>
internal sealed class RedisChangeStamps(RedisNearCache? near)
{
    private const int StripeCount = 256;

    private readonly long[] _stripes = new long[StripeCount];
    private long _everything;

    /// <summary>
    /// A number that grows whenever a change of <paramref name="key"/> (or of everything) is seen: equal before and
    /// after a lookup means no change of the key was seen in between.
    /// </summary>
    public long Mark(string key) => Volatile.Read(ref _everything) + Volatile.Read(ref _stripes[Stripe(key)]);

    /// <summary>A change of one key: counted first, then its near copy dropped.</summary>
    public void Changed(string key)
    {
        Interlocked.Increment(ref _stripes[Stripe(key)]);
        near?.Remove(key);
    }

    /// <summary>A touch of one key (its page regenerated the same): counted, its near copy left to the caller to move on.</summary>
    public void Touched(string key) => Interlocked.Increment(ref _stripes[Stripe(key)]);

    /// <summary>A change of anything (a tag eviction, a gap in the subscription): counted first, then the near cache cleared.</summary>
    public void Invalidate()
    {
        Interlocked.Increment(ref _everything);
        near?.Clear();
    }

    private static int Stripe(string key) => (int)((uint)key.GetHashCode() % StripeCount);
}
