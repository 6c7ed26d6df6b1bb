namespace MintCache.AspNetCore.Backends;

/// <summary>
/// Asked by a backend before it claims a page: whether this process can refresh it now. Redis asks for stale pages and
/// for pages past their eager-at; memory, whose lookups complete synchronously, for pages past their eager-at only.
/// </summary>
/// <remarks>
/// Such a lookup is shared by every request of the key that arrives while it runs, so the one that wins the claim
/// serves the stale page and hands the claim on (<c>MintOutputCacheStore.HandOff.cs</c>). When every background slot
/// is taken, nobody may render it in time, and the claim is given back a second later: a claim and its release for
/// nothing. Not taken, the claim stays free, the page is served stale, and a lookup that finds a free slot (on any
/// host) refreshes it. A missing page is always claimed (its request renders it), and so is a page under a fail-safe
/// (its claim keeps it in service while regenerations fail).
/// </remarks>
internal interface IRefreshCapacity
{
    /// <summary><see langword="false"/> only when the current request would refresh in the background and no slot is free.</summary>
    bool CanRefreshStaleNow();

    /// <summary>
    /// Whether a fresh page past its eager-at, claimed now, would be refreshed early: only in the background, so only
    /// within a request, with a free slot. Otherwise its claim would be given back at once, and the page refreshes when
    /// it goes stale, as without an eager refresh.
    /// </summary>
    bool CanRefreshEarlyNow();
}
