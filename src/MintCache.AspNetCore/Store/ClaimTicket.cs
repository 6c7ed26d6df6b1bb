namespace MintCache.AspNetCore.Store;

/// <summary>
/// Proof that a lookup won the refresh claim of an entry.
/// </summary>
/// <param name="Token">The claim's owner token: only its holder may renew, release or store under the claim.</param>
/// <param name="Generation">
/// The generation of the entry when the claim was taken (0 for a missing entry). A store under this ticket is refused
/// once the entry has another generation, so a holder that was paused past its lease never overwrites a newer page
/// (fencing).
/// </param>
/// <param name="ClaimedAt">
/// When the backend granted the claim, on the backend's own clock (the Redis server's milliseconds): a tag eviction
/// at or after it revokes the claim, so the page regenerated under it is never stored as fresh.
/// </param>
/// <param name="PageHash">
/// The <see cref="Entries.PageFingerprint"/> hash of the page the claim was won on (0 when none or unknown): a page
/// regenerated under the claim with the same hash is the same response, and only the entry's times move.
/// </param>
internal readonly record struct ClaimTicket(long Token, long Generation, long ClaimedAt = 0, ulong PageHash = 0)
{
    /// <summary>A fresh owner token: random, never zero (zero means "no claim" in the backends).</summary>
    public static long NewToken() => Random.Shared.NextInt64(1, long.MaxValue);
}
