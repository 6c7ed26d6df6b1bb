using System.Collections.Concurrent;

namespace MintCache.AspNetCore.Backends;

/// <summary>The size bound of the memory backend and of the Redis near cache: one way to bring a cache back under it.</summary>
internal static class SizeCompaction
{
    /// <summary>
    /// Removes entries, the earliest <paramref name="end"/> first, while the size is above 90 % of
    /// <paramref name="limit"/> or the entry's end is not after <paramref name="now"/>.
    /// </summary>
    /// <remarks>
    /// Down to 90 %, not to the limit, so that the stores right after a compaction do not compact again at once. The
    /// size is read live: entries that others add or remove meanwhile count.
    /// </remarks>
    /// <returns>How many entries <paramref name="remove"/> was called for.</returns>
    public static int Compact<TKey, TEntry>(
        ConcurrentDictionary<TKey, TEntry> entries,
        long limit,
        Func<long> size,
        Func<TEntry, long> end,
        long now,
        Action<TKey, TEntry> remove)
        where TKey : notnull
    {
        var target = limit - (limit / 10);
        var removed = 0;
        foreach (var (key, entry) in entries.ToArray().OrderBy(e => end(e.Value)))
        {
            if (size() <= target && end(entry) > now)
            {
                break;
            }

            remove(key, entry);
            removed++;
        }

        return removed;
    }
}
