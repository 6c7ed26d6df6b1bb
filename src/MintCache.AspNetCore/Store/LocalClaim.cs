namespace MintCache.AspNetCore.Store;

/// <summary>
/// A refresh claim this process holds, remembered until the regenerated page is stored under it.
/// </summary>
/// <remarks>
/// The middleware shares one lookup among all the concurrent requests of a key, and every request that shares a
/// "miss" waits for the regeneration. So when the backend answers slowly (Redis) the lookup that wins the claim
/// still answers with the stale page, and the claim hands its "miss" to the next lookup of the key in this process,
/// which is decided here, synchronously, and so shared by almost nobody.
/// </remarks>
internal sealed class LocalClaim
{
    private int _missPending;

    public LocalClaim(ClaimTicket ticket, long expiresAt, bool missPending)
    {
        Ticket = ticket;
        ExpiresAt = expiresAt;
        _missPending = missPending ? 1 : 0;
    }

    public ClaimTicket Ticket { get; }

    /// <summary>When the claim lapses, measured on this process's clock from when the backend granted it.</summary>
    public long ExpiresAt { get; }

    /// <summary>Gives the claim back if no lookup takes its pending "miss" in time; kept here so it is not collected.</summary>
    public ITimer? HandOffTimer { get; set; }

    /// <summary>Hands out the pending "miss" once; every later caller gets <see langword="false"/>.</summary>
    public bool TryTakePendingMiss()
    {
        if (Interlocked.Exchange(ref _missPending, 0) != 1)
        {
            return false;
        }

        HandOffTimer?.Dispose();
        return true;
    }
}
