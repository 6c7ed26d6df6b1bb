using System.Collections.Concurrent;
using System.Diagnostics;

namespace MintCache.AspNetCore.Backends.Redis;

/// <summary>
/// Until when this process last saw each key's entry certainly fresh (local <see cref="Stopwatch"/> ticks): a lookup
/// of a key still expected fresh reads the entry alone, one <c>GET</c>; any other also reads the claim in the same
/// round trip, which only a stale entry needs.
/// </summary>
/// <remarks>
/// A hint chooses which reads to send, never the answer: a wrong one (an entry stale early, evicted or replaced) costs
/// the lookup script, as a plain read that decides nothing always does. Bounded by <see cref="Capacity"/>, cleared
/// whole when full: losing hints costs one claim read per key, not a round trip.
/// </remarks>
internal sealed class RedisFreshnessHints
{
    public const int Capacity = 16_384;

    private readonly ConcurrentDictionary<string, long> _freshUntil = new(StringComparer.Ordinal);
    private int _count;

    public bool ExpectFresh(string key, long now) => _freshUntil.TryGetValue(key, out var until) && now < until;

    public void Forget(string key)
    {
        if (_freshUntil.TryRemove(key, out _))
        {
            Interlocked.Decrement(ref _count);
        }
    }

    public void Fresh(string key, long until)
    {
        if (_freshUntil.TryGetValue(key, out var known))
        {
            if (until > known)
            {
                // Updated in place (a long is written atomically): no allocation once a key is known.
                _freshUntil[key] = until;
            }

            return;
        }

        if (_freshUntil.TryAdd(key, until) && Interlocked.Increment(ref _count) > Capacity)
        {
            Interlocked.Exchange(ref _count, 0);
            _freshUntil.Clear();
        }
    }
}
