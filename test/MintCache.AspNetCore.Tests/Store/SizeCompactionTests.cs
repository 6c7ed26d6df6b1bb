using System.Collections.Concurrent;
using MintCache.AspNetCore.Backends;

namespace MintCache.AspNetCore.Tests.Store;

/// <summary>The size bound shared by the memory backend and the Redis near cache: earliest end first, down to 90 %.</summary>
public sealed class SizeCompactionTests
{
    private const long Now = 1_000;

    [Fact]
    public void UnderTheLimit_NothingEnded_RemovesNothing()
    {
        var cache = new Cache();
        cache.Add("a", size: 10, end: Now + 1);
        cache.Add("b", size: 10, end: Now + 2);

        Assert.Equal(0, cache.Compact(limit: 100));
        Assert.Equal(["a", "b"], cache.Keys);
    }

    [Fact]
    public void OverTheLimit_RemovesEarliestEndFirst_DownToNinetyPercent()
    {
        var cache = new Cache();
        for (var i = 0; i < 11; i++)
        {
            // Added latest end first, so that the order removed is the ends', not the dictionary's.
            cache.Add("k" + i, size: 10, end: Now + 100 - i);
        }

        // 110 bytes against a limit of 100: down to 90, the two entries that end first go.
        Assert.Equal(2, cache.Compact(limit: 100));
        Assert.Equal(90, cache.Size);
        Assert.DoesNotContain("k10", cache.Keys);
        Assert.DoesNotContain("k9", cache.Keys);
        Assert.Equal(["k10", "k9"], cache.Removed);
    }

    [Fact]
    public void EndedEntries_RemovedWhateverTheSize()
    {
        var cache = new Cache();
        cache.Add("ended", size: 10, end: Now - 1);
        cache.Add("endsNow", size: 10, end: Now);
        cache.Add("live", size: 10, end: Now + 1);

        Assert.Equal(2, cache.Compact(limit: 1_000));
        Assert.Equal(["live"], cache.Keys);
    }

    [Fact]
    public void SizeReadLive_EntriesRemovedMeanwhileCount()
    {
        var cache = new Cache();
        cache.Add("a", size: 50, end: Now + 1);
        cache.Add("b", size: 50, end: Now + 2);
        cache.Add("c", size: 50, end: Now + 3);

        // Someone else removes "b" as the first removal happens: after "a", the size (50) is under the target already.
        Assert.Equal(1, cache.Compact(limit: 100, onRemove: () => cache.RemoveOutside("b")));
        Assert.Equal(["c"], cache.Keys);
    }

    private sealed class Cache
    {
        private readonly ConcurrentDictionary<string, (long Size, long End)> _entries = new(StringComparer.Ordinal);
        private long _size;

        public long Size => _size;

        public string[] Keys => [.. _entries.Keys.Order(StringComparer.Ordinal)];

        public List<string> Removed { get; } = [];

        public void Add(string key, long size, long end)
        {
            _entries[key] = (size, end);
            _size += size;
        }

        public void RemoveOutside(string key)
        {
            if (_entries.TryRemove(key, out var entry))
            {
                _size -= entry.Size;
            }
        }

        public int Compact(long limit, Action? onRemove = null) => SizeCompaction.Compact(
            _entries,
            limit,
            () => _size,
            static e => e.End,
            Now,
            (key, entry) =>
            {
                Assert.True(_entries.TryRemove(key, out _));
                _size -= entry.Size;
                Removed.Add(key);
                onRemove?.Invoke();
            });
    }
}
