namespace MintCache.AspNetCore.Backends.Memory;

/// <summary>
/// One page in memory and its timestamps (in ticks of the backend's monotonic clock, <see cref="TimeProvider.GetTimestamp"/>).
/// </summary>
/// <remarks>
/// The page and its tags never change once stored: a new store replaces the whole entry. Only the timestamps and
/// the claim move, and the claim is guarded by a lock on the entry, so that the hit path reads two longs and hands
/// back the stored array without taking a lock or touching the page.
/// </remarks>
internal sealed class MemoryEntry
{
    // Fixed bookkeeping added to a page's length when the store accounts for its size.
    private const int Overhead = 64;

    private long _staleAt;
    private long _expiresAt;

    public MemoryEntry(string key, byte[] page, string[] tags, long generation, long staleAt, long expiresAt, long grace, long failSafeUntil, long eagerAt = 0)
    {
        EagerAt = eagerAt;
        Key = key;
        Page = page;
        Tags = tags;
        Generation = generation;
        _staleAt = staleAt;
        _expiresAt = expiresAt;
        Grace = grace;
        FailSafeUntil = failSafeUntil;
        Size = page.LongLength + (key.Length * sizeof(char)) + Overhead;
    }

    public string Key { get; }

    public byte[] Page { get; }

    public string[] Tags { get; }

    public long Generation { get; }

    /// <summary>
    /// The page's <see cref="Entries.PageFingerprint"/> hash (0 unknown). In memory a refresh that renders the same page
    /// stores it all the same (it is already here, and carries the new render time); the hash says it was unchanged.
    /// </summary>
    public ulong PageHash { get; init; }

    public long Size { get; }

    /// <summary>The grace the entry was stored with, in ticks: what a failed regeneration gives it again.</summary>
    public long Grace { get; }

    /// <summary>The latest expiry failed regenerations may extend the entry to; its first expiry when the fail-safe is off.</summary>
    public long FailSafeUntil { get; }

    /// <summary>From when a lookup of the fresh entry may win a claim and refresh it early; 0 when never.</summary>
    public long EagerAt { get; }

    public long StaleAt => Volatile.Read(ref _staleAt);

    public long ExpiresAt => Volatile.Read(ref _expiresAt);

    private long _claimToken;
    private long _claimExpiresAt;

    /// <summary>
    /// The owner token of the refresh claim: zero when unclaimed, negative once its holder released it (it then only
    /// backs off until <see cref="ClaimExpiresAt"/>). Written under <c>lock (this)</c>.
    /// </summary>
    public long ClaimToken
    {
        get => Volatile.Read(ref _claimToken);
        set => Volatile.Write(ref _claimToken, value);
    }

    /// <summary>When the claim lapses. Written under <c>lock (this)</c>.</summary>
    public long ClaimExpiresAt
    {
        get => Volatile.Read(ref _claimExpiresAt);
        set => Volatile.Write(ref _claimExpiresAt, value);
    }

    /// <summary>Whether a claim blocks new ones; read without the lock, so a "false" must be confirmed under it.</summary>
    public bool IsClaimedAt(long now) => ClaimToken != 0 && now < ClaimExpiresAt;

    /// <summary>Whether a holder is regenerating the entry under a live claim (not one released to back off).</summary>
    public bool IsHeldAt(long now) => ClaimToken > 0 && now < ClaimExpiresAt;

    /// <summary>Whether <paramref name="token"/> took the entry's claim, live or released.</summary>
    public bool IsClaimOf(long token) => token != 0 && Math.Abs(ClaimToken) == token;

    /// <summary>Brings stale-at forward to <paramref name="now"/> (a soft eviction); never pushes it back.</summary>
    public void MarkStale(long now)
    {
        long current;
        do
        {
            current = Volatile.Read(ref _staleAt);
            if (current <= now)
            {
                return;
            }
        }
        while (Interlocked.CompareExchange(ref _staleAt, now, current) != current);
    }

    /// <summary>Stale-if-error: another grace from <paramref name="now"/>, never past <see cref="FailSafeUntil"/>.</summary>
    public void ExtendAfterFailure(long now) => ExtendUntil(now + Grace);

    /// <summary>Moves expires-at to <paramref name="until"/>, never back and never past <see cref="FailSafeUntil"/>.</summary>
    public void ExtendUntil(long until)
    {
        var extended = Math.Min(FailSafeUntil, until);
        long current;
        do
        {
            current = Volatile.Read(ref _expiresAt);
            if (extended <= current)
            {
                return;
            }
        }
        while (Interlocked.CompareExchange(ref _expiresAt, extended, current) != current);
    }

    public bool HasTag(string tag) => Array.IndexOf(Tags, tag) >= 0;
}
