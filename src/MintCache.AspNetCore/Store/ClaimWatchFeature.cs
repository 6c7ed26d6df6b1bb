namespace MintCache.AspNetCore.Store;

/// <summary>
/// What the store knows of one request: the refresh claims its lookups won and answered "miss" for (they belong to
/// it: its store is fenced with them, and if it ends without storing under one, the regeneration failed), and how far
/// local evictions had gone when its lookup missed.
/// </summary>
internal sealed class ClaimWatchFeature
{
    private readonly List<(string Key, LocalClaim Claim)> _claims = new(1);

    /// <summary>The local eviction count when a lookup of this request first missed; 0 when none did.</summary>
    public long EvictionMark { get; private set; }

    /// <summary>When a lookup of this request first missed, on the backend's clock (see <see cref="Backends.BackendLookup.MissedAt"/>); 0 when unknown.</summary>
    public long MissedAt { get; private set; }

    public void Missed(long evictionMark, long missedAt)
    {
        if (EvictionMark == 0)
        {
            EvictionMark = evictionMark;
        }

        if (MissedAt == 0)
        {
            MissedAt = missedAt;
        }
    }

    public void Add(string key, LocalClaim claim)
    {
        lock (_claims)
        {
            _claims.Add((key, claim));
        }
    }

    /// <summary>The latest claim of this request on <paramref name="key"/>.</summary>
    public LocalClaim? Find(string key)
    {
        lock (_claims)
        {
            for (var i = _claims.Count - 1; i >= 0; i--)
            {
                if (string.Equals(_claims[i].Key, key, StringComparison.Ordinal))
                {
                    return _claims[i].Claim;
                }
            }

            return null;
        }
    }

    public (string Key, LocalClaim Claim)[] TakeAll()
    {
        lock (_claims)
        {
            var all = _claims.ToArray();
            _claims.Clear();
            return all;
        }
    }
}
