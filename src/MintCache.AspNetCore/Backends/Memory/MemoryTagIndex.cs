using System.Collections.Concurrent;

namespace MintCache.AspNetCore.Backends.Memory;

/// <summary>Which keys carry which tag, so a tag eviction need not scan every entry.</summary>
/// <remarks>
/// The index may briefly name a key whose current entry lost the tag; evictions check the entry itself, and the
/// index forgets a key when the last entry under it with that tag leaves.
/// </remarks>
internal sealed class MemoryTagIndex
{
    private readonly Dictionary<string, HashSet<string>> _keysByTag = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();

    public void Add(MemoryEntry entry)
    {
        if (entry.Tags.Length == 0)
        {
            return;
        }

        lock (_lock)
        {
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
        Add(current);
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
