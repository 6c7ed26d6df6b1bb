using System.Collections.Concurrent;
using System.Diagnostics;

namespace MintCache.AspNetCore.Backends.Redis;

/// <summary>
/// In-process copies of Redis entries, each served until a local deadline that is never later than the entry's
/// stale-at on the Redis server, and dropped as soon as <see cref="RedisNotifications"/> hears of a change.
/// </summary>
/// <remarks>
/// Deadlines are <see cref="Stopwatch"/> timestamps: the Redis server says how many milliseconds of freshness remain,
/// and the copy lives that long from when the lookup was <em>sent</em>, which is earlier than when the server read the
/// entry. So no host clock, skewed or not, ever stretches a copy past stale-at, and an injected fake clock cannot
/// either (the remaining time was measured on a real one). Past its deadline a copy is no longer served from here, but
/// kept until the entry's expiry, as are the stale pages read from Redis (with a deadline of 0): they are the pages
/// this process keeps serving, stale, if it loses Redis (RedisBackend.LastKnown.cs). Bounded by bytes: page plus key
/// plus a fixed overhead; the copies closest to their expiry go first.
/// </remarks>
internal sealed class RedisNearCache
{
    // Fixed bookkeeping added to a page's length (the dictionary node, the entry object, the key's header).
    private const int Overhead = 96;

    private readonly ConcurrentDictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private readonly Lock _compactLock = new();
    private readonly long _sizeLimit;
    private long _size;

    public RedisNearCache(long sizeLimit) => _sizeLimit = sizeLimit;

    /// <summary>For tests and diagnostics: the bytes accounted against the limit.</summary>
    public long Size => Interlocked.Read(ref _size);

    public int Count => _entries.Count;

    public bool TryGet(string key, out byte[] page)
    {
        if (_entries.TryGetValue(key, out var entry))
        {
            var now = Stopwatch.GetTimestamp();
            if (now < entry.Deadline)
            {
                page = entry.Page;
                return true;
            }

            if (now >= entry.End)
            {
                Remove(key, entry);
            }
        }

        page = null!;
        return false;
    }

    /// <summary>The copy of the key held, served or not.</summary>
    public bool TryPeek(string key, out Entry entry) => _entries.TryGetValue(key, out entry!);

    /// <summary>Whether a copy of the key is held, served or not.</summary>
    public bool Contains(string key) => _entries.ContainsKey(key);

    /// <summary>Keeps a copy until <paramref name="deadline"/> (a <see cref="Stopwatch"/> timestamp).</summary>
    /// <returns>The entry kept, for <see cref="Remove(string, Entry)"/>, or null when it is too large to keep.</returns>
    public Entry? Add(string key, byte[] page, long deadline, EntryLife life = default)
    {
        var entry = new Entry(page, deadline, page.LongLength + (key.Length * sizeof(char)) + Overhead, life);
        if (entry.Size > _sizeLimit)
        {
            return null;
        }

        // The size moves by exactly what the dictionary holds: each copy is added once when it becomes current and
        // subtracted once when it is replaced or removed.
        while (true)
        {
            if (_entries.TryGetValue(key, out var old))
            {
                if (_entries.TryUpdate(key, entry, old))
                {
                    Interlocked.Add(ref _size, entry.Size - old.Size);
                    break;
                }
            }
            else if (_entries.TryAdd(key, entry))
            {
                Interlocked.Add(ref _size, entry.Size);
                break;
            }
        }

        if (Interlocked.Read(ref _size) > _sizeLimit)
        {
            Compact();
        }

        return entry;
    }

    public void Remove(string key)
    {
        if (_entries.TryRemove(key, out var old))
        {
            Interlocked.Add(ref _size, -old.Size);
        }
    }

    /// <summary>Removes the copy only if it is still <paramref name="entry"/>, never a newer one.</summary>
    public void Remove(string key, Entry entry)
    {
        if (_entries.TryRemove(new KeyValuePair<string, Entry>(key, entry)))
        {
            Interlocked.Add(ref _size, -entry.Size);
        }
    }

    public void Clear()
    {
        if (_entries.IsEmpty)
        {
            return;
        }

        // One by one, so the size stays exact while lookups add copies concurrently.
        foreach (var (key, entry) in _entries)
        {
            Remove(key, entry);
        }
    }

    /// <summary>Drops the copies closest to their end until a tenth of the limit is free again.</summary>
    private void Compact()
    {
        if (!_compactLock.TryEnter())
        {
            // Another thread compacts already; the bound may be passed by one page meanwhile.
            return;
        }

        try
        {
            // Copies past their end go too, whatever the size: they can never be served again, not even as last known.
            SizeCompaction.Compact(_entries, _sizeLimit, () => Interlocked.Read(ref _size), static e => e.End, Stopwatch.GetTimestamp(), Remove);
        }
        finally
        {
            _compactLock.Exit();
        }
    }

    /// <summary>The copies held now, for a switch to local memory that keeps them as last-known pages.</summary>
    public IEnumerable<KeyValuePair<string, Entry>> Snapshot() => _entries;

    /// <summary>One near copy. Never changes once made; compared by reference.</summary>
    internal sealed class Entry(byte[] page, long deadline, long size, EntryLife life)
    {
        public byte[] Page { get; } = page;

        public long Deadline { get; } = deadline;

        public long Size { get; } = size;

        /// <summary>The entry's life past its freshness, as Redis held it when the copy was made.</summary>
        public EntryLife Life { get; } = life;

        /// <summary>When the copy is of no use any more: its entry's expiry, or its deadline when that is unknown.</summary>
        public long End => Math.Max(Deadline, Life.ExpiresAt);
    }

    /// <summary>
    /// When the entry expires and how far failed regenerations may extend it, in <see cref="Stopwatch"/> ticks, and its
    /// grace: what a process needs to keep serving the page as a stale one once Redis is gone. Zero when unknown.
    /// </summary>
    internal readonly record struct EntryLife(long ExpiresAt, long FailSafeUntil, TimeSpan Grace);
}
