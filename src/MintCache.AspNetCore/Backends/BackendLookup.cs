using MintCache.AspNetCore.Entries;
using MintCache.AspNetCore.Store;

namespace MintCache.AspNetCore.Backends;

/// <summary>A backend's answer to one lookup: the entry's state, its page, and the claim if this lookup won it.</summary>
internal readonly struct BackendLookup
{
    public static readonly BackendLookup Missing = default;

    private BackendLookup(EntryState state, byte[]? page, ClaimTicket? claim)
    {
        State = state;
        Page = page;
        Claim = claim;
    }

    public EntryState State { get; }

    /// <summary>The stored page, present when <see cref="State"/> is fresh or stale.</summary>
    public byte[]? Page { get; }

    /// <summary>Set when the entry is stale and this lookup took its refresh claim.</summary>
    public ClaimTicket? Claim { get; }

    public static BackendLookup Fresh(byte[] page) => new(EntryState.Fresh, page, null);

    public static BackendLookup Stale(byte[] page, ClaimTicket? wonClaim) => new(EntryState.Stale, page, wonClaim);
}
