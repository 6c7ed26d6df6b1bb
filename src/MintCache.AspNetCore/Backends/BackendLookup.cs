using MintCache.AspNetCore.Entries;
using MintCache.AspNetCore.Store;

namespace MintCache.AspNetCore.Backends;

/// <summary>A backend's answer to one lookup: the entry's state, its page, and the claim if this lookup won it.</summary>
internal readonly struct BackendLookup
{
    public static readonly BackendLookup Missing = default;

    private BackendLookup(EntryState state, byte[]? page, ClaimTicket? claim, ReadOnlyMemory<byte> regeneration, TimeSpan timeToExpiry)
    {
        State = state;
        Page = page;
        Claim = claim;
        Regeneration = regeneration;
        TimeToExpiry = timeToExpiry;
    }

    public EntryState State { get; }

    /// <summary>The stored page, present when <see cref="State"/> is fresh or stale.</summary>
    public byte[]? Page { get; }

    /// <summary>Set when the entry is stale and this lookup took its refresh claim.</summary>
    public ClaimTicket? Claim { get; }

    /// <summary>With a won claim: the serialized background regeneration stored with the entry, or empty.</summary>
    public ReadOnlyMemory<byte> Regeneration { get; }

    /// <summary>With a won claim: how long the stale page may still be served, on the backend's clock.</summary>
    public TimeSpan TimeToExpiry { get; }

    public static BackendLookup Fresh(byte[] page) => new(EntryState.Fresh, page, null, default, default);

    public static BackendLookup Stale(byte[] page) => new(EntryState.Stale, page, null, default, default);

    public static BackendLookup StaleClaimed(byte[] page, ClaimTicket wonClaim, ReadOnlyMemory<byte> regeneration, TimeSpan timeToExpiry)
        => new(EntryState.Stale, page, wonClaim, regeneration, timeToExpiry);
}
