namespace MintCache.AspNetCore.Backends;

/// <summary>
/// A backend that holds entries in this process and says how many, for the <c>mintcache.entries</c> and
/// <c>mintcache.size</c> instruments. Read when metrics are collected, never on a request.
/// </summary>
internal interface IBackendInventory
{
    /// <summary>The backend's short name, as in <see cref="IMintBackend.Name"/>.</summary>
    string Name { get; }

    /// <summary>Lookups answered from a near cache so far, or <see langword="null"/> for a backend without one.</summary>
    long? NearCacheHits { get; }

    /// <summary>What the backend holds in this process now, one line per kind of entry.</summary>
    IEnumerable<BackendHolding> Holdings();
}

/// <summary>One kind of entry a backend holds in this process: how many, and the bytes they account for.</summary>
internal readonly record struct BackendHolding(string Kind, long Entries, long Bytes);
