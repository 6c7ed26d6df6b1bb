using System.Collections.Concurrent;
using System.Diagnostics;
using StackExchange.Redis;

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

    private readonly ConcurrentDictionary<string, Hint> _hints = new(StringComparer.Ordinal);
    private int _count;

    public bool ExpectFresh(string key, long now) => _hints.TryGetValue(key, out var hint) && now < Volatile.Read(ref hint.Until);

    /// <summary>
    /// Whether <paramref name="key"/> is expected fresh, with its entry's Redis key: built once per hinted key rather
    /// than once per lookup, so that a hit allocates no more than the page it returns.
    /// </summary>
    public bool ExpectFresh(string key, long now, out RedisKey entryKey)
    {
        if (_hints.TryGetValue(key, out var hint) && now < Volatile.Read(ref hint.Until))
        {
            entryKey = hint.EntryKey;
            return true;
        }

        entryKey = default;
        return false;
    }

    public void Forget(string key)
    {
        if (_hints.TryRemove(key, out _))
        {
            Interlocked.Decrement(ref _count);
        }
    }

    public void Fresh(string key, RedisKey entryKey, long until)
    {
        if (_hints.TryGetValue(key, out var known))
        {
            // Updated in place: no allocation once a key is known.
            if (until > Volatile.Read(ref known.Until))
            {
                Volatile.Write(ref known.Until, until);
            }

            return;
        }

        if (_hints.TryAdd(key, new Hint(entryKey, until)) && Interlocked.Increment(ref _count) > Capacity)
        {
            Interlocked.Exchange(ref _count, 0);
            _hints.Clear();
        }
    }

    private sealed class Hint(RedisKey entryKey, long until)
    {
        public readonly RedisKey EntryKey = entryKey;
        public long Until = until;
    }
}
