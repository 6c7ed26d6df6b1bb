namespace MintCache.AspNetCore.Store;

/// <summary>
/// A refresh claim won by a lookup of this process: remembered in the process's claim table while it lives, and
/// carried by the request that regenerates under it (its <see cref="ClaimWatchFeature"/>, or the background
/// regeneration's feature), whose store it fences even after the table forgot it.
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
    private int _ended;
    private long _expiresAt;
    private TaskCompletionSource? _ending;

    public LocalClaim(ClaimTicket ticket, long heldAt, long expiresAt, long evictionMark, bool missPending)
    {
        Ticket = ticket;
        HeldAt = heldAt;
        _expiresAt = expiresAt;
        EvictionMark = evictionMark;
        _missPending = missPending ? 1 : 0;
    }

    public ClaimTicket Ticket { get; }

    /// <summary>When the backend granted the claim, on this process's clock (UTC ticks).</summary>
    public long HeldAt { get; }

    /// <summary>When the claim lapses unless renewed, on this process's clock (UTC ticks).</summary>
    public long ExpiresAt => Volatile.Read(ref _expiresAt);

    /// <summary>The local eviction count when the claim was won (see <see cref="StoreFence.EvictionMark"/>).</summary>
    public long EvictionMark { get; }

    /// <summary>Set once a heartbeat learned that an eviction revoked the claim: a store under it is refused here.</summary>
    public bool Revoked { get; set; }

    /// <summary>Whether a background regeneration runs under the claim (no user request waits on its lock).</summary>
    public bool Background { get; set; }

    /// <summary>
    /// Whether a request holds the claim: its store ends it, and so does the end of the request (see
    /// <see cref="ClaimWatchFeature"/>). A claim won outside a request ends only by a store or its lease.
    /// </summary>
    public bool HeldByRequest { get; set; }

    /// <summary>Completes when the claim ends; made on first use, as almost no claim is waited on.</summary>
    public Task Ending
    {
        get
        {
            var ending = Volatile.Read(ref _ending);
            if (ending is null)
            {
                var created = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                ending = Interlocked.CompareExchange(ref _ending, created, null) ?? created;
            }

            // Ended before the signal existed: TryEnd found nothing to complete.
            if (Ended)
            {
                ending.TrySetResult();
            }

            return ending.Task;
        }
    }

    /// <summary>Whether the claim refreshes a page that exists (stale, or fresh past its eager-at), not a missing one.</summary>
    public bool Refresh { get; set; }

    /// <summary>Whether the claim ended: stored under, given up, or released.</summary>
    public bool Ended => Volatile.Read(ref _ended) == 1;

    /// <summary>Gives the claim back if no lookup takes its pending "miss" in time; kept here so it is not collected.</summary>
    public ITimer? HandOffTimer { get; set; }

    /// <summary>Renews the claim while its holder lives; kept here so it is not collected.</summary>
    public ITimer? Heartbeat { get; set; }

    public void Renewed(long expiresAt) => Volatile.Write(ref _expiresAt, expiresAt);

    public bool IsLiveAt(long now) => !Ended && now < ExpiresAt;

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

    /// <summary>Ends the claim once (its heartbeat stops); <see langword="false"/> when it had already ended.</summary>
    public bool TryEnd()
    {
        if (Interlocked.Exchange(ref _ended, 1) == 1)
        {
            return false;
        }

        Heartbeat?.Dispose();
        HandOffTimer?.Dispose();
        Volatile.Read(ref _ending)?.TrySetResult();
        return true;
    }
}
