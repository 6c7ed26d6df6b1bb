namespace MintCache.AspNetCore.Store;

/// <summary>
/// What a store must prove before its page may replace the entry: the claim it regenerated under, if any, and how far
/// the local evictions had gone when its regeneration began.
/// </summary>
/// <param name="Claim">
/// The claim of the request that rendered the page (it travels with that request, not with the process), or
/// <see langword="null"/> for an unfenced store.
/// </param>
/// <param name="EvictionMark">
/// The local backend's eviction count (<see cref="Backends.Memory.MemoryBackend.EvictionMark"/>) when the claim was won
/// or, without a claim, when the request's lookup missed; 0 when unknown: a page carrying a tag evicted since then is
/// refused.
/// </param>
/// <param name="MissedAt">
/// Without a claim: when the request's lookup missed, on the backend's clock (the Redis server's milliseconds); 0 when
/// unknown. A page carrying a tag evicted at or after it, or whose key was evicted at or after it, is refused.
/// </param>
/// <remarks>
/// The rules, on every backend: a store under a claim is refused when the claim was taken over by another holder,
/// revoked by an eviction of the entry or of one of its tags, or when the entry was rewritten since the claim was
/// taken. An unfenced store (its request holds no claim: a direct caller, a policy that turned the lookup off) replaces
/// whatever is stored and leaves any claim in place (whose holder's store is then refused as superseded), unless a tag
/// of its page was evicted after its request's lookup missed (memory: the eviction mark; Redis: the miss's server time
/// against the tag's eviction time and the revocation an eviction leaves on the entry's key for one lease).
/// </remarks>
internal readonly record struct StoreFence(ClaimTicket? Claim, long EvictionMark = 0, long MissedAt = 0)
{
    public static implicit operator StoreFence(ClaimTicket? claim) => new(claim);

    public static implicit operator StoreFence(ClaimTicket claim) => new(claim);
}
