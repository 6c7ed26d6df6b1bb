namespace MintCache.AspNetCore.Store;

/// <summary>
/// Proof that a lookup won the refresh claim of a stale entry.
/// </summary>
/// <param name="Token">The claim's owner token: only its holder may release the claim (compare-and-delete).</param>
/// <param name="Generation">
/// The generation of the entry when the claim was taken. A store under this ticket is refused once the entry has
/// another generation, so a holder that was paused past its lease never overwrites a newer page (fencing).
/// </param>
internal readonly record struct ClaimTicket(long Token, long Generation)
{
    /// <summary>A fresh owner token: random, never zero (zero means "no claim" in the backends).</summary>
    public static long NewToken() => Random.Shared.NextInt64(1, long.MaxValue);
}
