using System.Collections.Concurrent;

namespace MintCache.AspNetCore.Backends.Memory;

/// <summary>Which keys carry which tag, so a tag eviction need not scan every entry.</summary>
/// <remarks>
/// <para>
/// The index may briefly name a key whose current entry lost the tag; evictions check the entry itself, and the
/// index forgets a key when the last entry under it with that tag leaves.
/// </para>
/// <para>
/// It never keeps a key whose entry has left: an entry is indexed only while it is still the one stored under its key,
/// checked under the index's lock. A removal takes the entry out of the dictionary before it takes that lock, so an
/// <see cref="Add"/> that runs after a removal of the same entry (a store racing an expiry sweep, a compaction or a
/// hard eviction of the page it just stored) sees it gone and indexes nothing.
/// </para>
/// </remarks>
internal sealed class MemoryTagIndex
{
    private readonly Dictionary<string, HashSet<string>> _keysByTag = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();

    /// <summary>Indexes <paramref name="entry"/> under its tags, if it is still the entry stored under its key.</summary>
    public void Add(MemoryEntry entry, ConcurrentDictionary<string, MemoryEntry> entries)
    {
        if (entry.Tags.Length == 0)
        {
            return;
        }

        lock (_lock)
        {
            if (!entries.TryGetValue(entry.Key, out var current) || !ReferenceEquals(current, entry))
            {
                // Removed (or replaced) before it was indexed: whoever removed or replaced it already updated the index.
                return;
            }

            foreach (var tag in entry.Tags)
            {
                if (!_keysByTag.TryGetValue(tag, out var keys))
                {
                    keys = new HashSet<string>(StringComparer.Ordinal);
                    _keysByTag[tag] = keys;
                }

                keys.Add(entry.Key);
            }
        }
    }

    public void Replace(MemoryEntry previous, MemoryEntry current, ConcurrentDictionary<string, MemoryEntry> entries)
    {
        Remove(previous, entries);
        Add(current, entries);
    }

    public void Remove(MemoryEntry entry, ConcurrentDictionary<string, MemoryEntry> entries)
    {
        if (entry.Tags.Length == 0)
        {
            return;
        }

        lock (_lock)
        {
            // Keep the key under a tag that the entry now stored under it still carries.
            entries.TryGetValue(entry.Key, out var current);
            foreach (var tag in entry.Tags)
            {
                if (current is not null && current.HasTag(tag))
                {
                    continue;
                }

                if (_keysByTag.TryGetValue(tag, out var keys) && keys.Remove(entry.Key) && keys.Count == 0)
                {
                    _keysByTag.Remove(tag);
                }
            }
        }
    }

    public string[] KeysOf(string tag)
    {
        lock (_lock)
        {
            return _keysByTag.TryGetValue(tag, out var keys) ? [.. keys] : [];
        }
    }

    /// <summary>For tests: how many tags are indexed.</summary>
    internal int TagCount
    {
        get
        {
            lock (_lock)
            {
                return _keysByTag.Count;
            }
        }
    }
}
