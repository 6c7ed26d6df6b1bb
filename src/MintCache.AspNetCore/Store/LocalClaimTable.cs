using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;

namespace MintCache.AspNetCore.Store;

/// <summary>
/// The refresh claims this process holds, by cache key. Reads are lock-free; the rare writes (a claim won, stored
/// under or given up) are serialized so the count stays exact.
/// </summary>
/// <remarks>
/// Every lookup asks whether a claim is held for its key, and almost always none is held at all. The exact count
/// answers that without hashing the key, and without <see cref="ConcurrentDictionary{TKey,TValue}.IsEmpty"/>, which
/// takes every lock of the dictionary whenever it is empty.
/// </remarks>
internal sealed class LocalClaimTable
{
    private readonly ConcurrentDictionary<string, LocalClaim> _claims = new(StringComparer.Ordinal);
    private readonly Lock _writeLock = new();
    private int _count;

    public int Count => Volatile.Read(ref _count);

    public bool TryGet(string key, [NotNullWhen(true)] out LocalClaim? claim)
    {
        if (Volatile.Read(ref _count) == 0)
        {
            claim = null;
            return false;
        }

        return _claims.TryGetValue(key, out claim);
    }

    /// <summary>Records a claim, replacing an older one of the same key (which lapsed or was taken over).</summary>
    public void Set(string key, LocalClaim claim)
    {
        lock (_writeLock)
        {
            if (_claims.TryAdd(key, claim))
            {
                _count++;
            }
            else
            {
                _claims[key] = claim;
            }
        }
    }

    /// <summary>Removes whatever claim is held for the key.</summary>
    public bool TryRemove(string key, [NotNullWhen(true)] out LocalClaim? claim)
    {
        if (Volatile.Read(ref _count) == 0)
        {
            claim = null;
            return false;
        }

        lock (_writeLock)
        {
            if (_claims.TryRemove(key, out claim))
            {
                _count--;
                return true;
            }

            return false;
        }
    }

    /// <summary>Removes the claim only if it is still this one.</summary>
    public bool TryRemove(string key, LocalClaim claim)
    {
        lock (_writeLock)
        {
            if (_claims.TryRemove(new KeyValuePair<string, LocalClaim>(key, claim)))
            {
                _count--;
                return true;
            }

            return false;
        }
    }

    public bool Holds(string key, LocalClaim claim) => TryGet(key, out var held) && ReferenceEquals(held, claim);
}
