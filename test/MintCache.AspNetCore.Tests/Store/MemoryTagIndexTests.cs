using System.Collections.Concurrent;
using MintCache.AspNetCore.Backends.Memory;

namespace MintCache.AspNetCore.Tests.Store;

/// <summary>
/// The index against the interleavings of <c>MemoryBackend.Set</c> (swap the entry, then index it) and
/// <c>MemoryBackend.Remove</c> (take the entry out, then unindex it), played one step at a time.
/// </summary>
public sealed class MemoryTagIndexTests
{
    private readonly ConcurrentDictionary<string, MemoryEntry> _entries = new(StringComparer.Ordinal);
    private readonly MemoryTagIndex _index = new();

    [Fact]
    public void Replace_AfterTheNewEntryWasRemoved_IndexesNothing()
    {
        var previous = Store(Entry("k", "news"));

        // Set swaps in the new entry...
        var created = Entry("k", "news", "sport");
        Assert.True(_entries.TryUpdate("k", created, previous));

        // ...and before it indexes it, an expiry sweep (or compaction, or hard eviction) removes that new entry.
        Assert.True(_entries.TryRemove(new KeyValuePair<string, MemoryEntry>("k", created)));
        _index.Remove(created, _entries);

        // Set goes on to index it.
        _index.Replace(previous, created, _entries);

        Assert.Empty(_index.KeysOf("news"));
        Assert.Empty(_index.KeysOf("sport"));
        Assert.Equal(0, _index.TagCount);
    }

    [Fact]
    public void Add_AfterTheEntryWasRemoved_IndexesNothing()
    {
        var created = Entry("k", "news");
        Assert.True(_entries.TryAdd("k", created));
        Assert.True(_entries.TryRemove(new KeyValuePair<string, MemoryEntry>("k", created)));
        _index.Remove(created, _entries);

        _index.Add(created, _entries);

        Assert.Equal(0, _index.TagCount);
    }

    [Fact]
    public void Replace_OvertakenByANewerStore_KeepsOnlyTheNewestTags()
    {
        var first = Store(Entry("k", "news"));

        // Two stores race: the second swaps and indexes its entry before the first indexes its own.
        var second = Entry("k", "news", "sport");
        Assert.True(_entries.TryUpdate("k", second, first));
        var third = Entry("k", "weather");
        Assert.True(_entries.TryUpdate("k", third, second));
        _index.Replace(second, third, _entries);
        _index.Replace(first, second, _entries);

        Assert.Equal(["k"], _index.KeysOf("weather"));
        Assert.Empty(_index.KeysOf("news"));
        Assert.Empty(_index.KeysOf("sport"));
    }

    [Fact]
    public void Add_OfTheStoredEntry_IndexesItUntilItIsRemoved()
    {
        var entry = Store(Entry("k", "news"));
        Assert.Equal(["k"], _index.KeysOf("news"));

        Assert.True(_entries.TryRemove(new KeyValuePair<string, MemoryEntry>("k", entry)));
        _index.Remove(entry, _entries);

        Assert.Equal(0, _index.TagCount);
    }

    private MemoryEntry Store(MemoryEntry entry)
    {
        Assert.True(_entries.TryAdd(entry.Key, entry));
        _index.Add(entry, _entries);
        return entry;
    }

    private static MemoryEntry Entry(string key, params string[] tags)
        => new(key, [1, 2, 3], tags, generation: 1, staleAt: 10, expiresAt: 20, grace: 10, failSafeUntil: 20);
}
