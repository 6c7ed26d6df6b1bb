using MintCache.AspNetCore.Entries;
using MintCache.AspNetCore.Store;

namespace MintCache.AspNetCore.Backends;

/// <summary>A backend's answer to one lookup: the entry's state, its page, and the claim if this lookup won it.</summary>
internal readonly struct BackendLookup
{
    public static readonly BackendLookup Missing = default;

    private BackendLookup(EntryState state, byte[]? page, ClaimTicket? claim, bool claimedElsewhere = false, long watchMark = 0, long missedAt = 0, bool claimDeferred = false)
    {
        ClaimDeferred = claimDeferred;
        MissedAt = missedAt;
        ClaimedElsewhere = claimedElsewhere;
        WatchMark = watchMark;
        State = state;
        Page = page;
        Claim = claim;
    }

    public EntryState State { get; }

    /// <summary>The stored page, present when <see cref="State"/> is fresh or stale.</summary>
    public byte[]? Page { get; }

    /// <summary>Set when the entry is stale or missing and this lookup took its refresh claim.</summary>
    public ClaimTicket? Claim { get; }

    /// <summary>
    /// The entry is missing and another lookup (in this process or another) holds its claim, so its page is being
    /// rendered: <see cref="IMintBackend.WaitForEntryAsync"/> may wait for it instead of rendering it again.
    /// </summary>
    public bool ClaimedElsewhere { get; }

    /// <summary>
    /// The entry is stale and its claim was free, but not taken: this process could not refresh it now (see
    /// <see cref="IRefreshCapacity"/>).
    /// </summary>
    public bool ClaimDeferred { get; }

    /// <summary>With <see cref="ClaimedElsewhere"/>: where the backend's change notifications stood before the lookup.</summary>
    public long WatchMark { get; }

    /// <summary>
    /// With a miss: when it happened on the backend's own clock (the Redis server's milliseconds), 0 when unknown. A
    /// page rendered without a claim is fenced with it: an eviction at or after it refuses the store.
    /// </summary>
    public long MissedAt { get; }

    public static BackendLookup Fresh(byte[] page) => new(EntryState.Fresh, page, null);

    /// <summary>A fresh entry past its eager-at whose claim this lookup won: refreshed early, in the background.</summary>
    public static BackendLookup FreshClaimed(byte[] page, ClaimTicket wonClaim) => new(EntryState.Fresh, page, wonClaim);

    public static BackendLookup Stale(byte[] page) => new(EntryState.Stale, page, null);

    /// <summary>A stale entry whose free claim this lookup left for a process that can refresh it now.</summary>
    public static BackendLookup StaleClaimDeferred(byte[] page) => new(EntryState.Stale, page, null, claimDeferred: true);

    public static BackendLookup StaleClaimed(byte[] page, ClaimTicket wonClaim)
        => new(EntryState.Stale, page, wonClaim);

    /// <summary>A cold miss whose claim this lookup won: its request renders the page for everyone.</summary>
    public static BackendLookup MissingClaimed(ClaimTicket wonClaim) => new(EntryState.Missing, null, wonClaim);

    public static BackendLookup MissingClaimedElsewhere(long watchMark, long missedAt = 0) => new(EntryState.Missing, null, null, claimedElsewhere: true, watchMark, missedAt);

    /// <summary>A miss whose claim this lookup did not take, at <paramref name="missedAt"/> on the backend's clock.</summary>
    public static BackendLookup MissingAt(long missedAt) => new(EntryState.Missing, null, null, missedAt: missedAt);
}
