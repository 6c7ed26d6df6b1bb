using Microsoft.AspNetCore.Http;
using MintCache.AspNetCore.Diagnostics;

namespace MintCache.AspNetCore.Store;

internal sealed partial class MintOutputCacheStore
{
    /// <summary>For tests: how many claims this process holds and has not yet stored under.</summary>
    internal int LocalClaimCount => _claims.Count;

    /// <summary>Records a claim the backend just granted; its lease runs on this process's clock from now.</summary>
    private LocalClaim HoldClaim(string key, ClaimTicket ticket, bool missPending)
    {
        var claim = new LocalClaim(ticket, Now() + _options.LeaseDuration.Ticks, missPending);
        _claims.Set(key, claim);
        return claim;
    }

    private bool TryTakePendingMiss(string key)
    {
        if (!_claims.TryGet(key, out var claim))
        {
            return false;
        }

        if (Now() >= claim.ExpiresAt)
        {
            // Lapsed here, so perhaps taken over elsewhere: its miss must not be handed out any more.
            if (_claims.TryRemove(key, claim))
            {
                _observer.ClaimLapsed();
            }

            return false;
        }

        if (!claim.TryTakePendingMiss())
        {
            return false;
        }

        WatchForNoStore(key, claim);
        return true;
    }

    /// <summary>
    /// Learns early that a regeneration ended without a store (the endpoint threw, answered a status that is not
    /// cached, or the client went away): when the request that was answered "miss" ends and the claim is still
    /// here, nothing was stored under it, so it is shortened to <see cref="MintCacheOptions.FailureBackoff"/>.
    /// </summary>
    private void WatchForNoStore(string key, LocalClaim claim)
    {
        var httpContext = _httpContextAccessor?.HttpContext;
        if (httpContext is null)
        {
            // Outside a request (a direct caller): the lease alone bounds the claim.
            return;
        }

        var watch = httpContext.Features.Get<ClaimWatchFeature>();
        if (watch is null)
        {
            watch = new ClaimWatchFeature();
            httpContext.Features.Set(watch);
        }

        watch.Add(key, claim);
    }

    /// <summary>Called by <see cref="ClaimWatchMiddleware"/> when a request ends.</summary>
    internal void ReleaseUnstoredClaims(HttpContext httpContext)
    {
        if (httpContext.Features.Get<ClaimWatchFeature>() is not { } watch)
        {
            return;
        }

        foreach (var (key, claim) in watch.TakeAll())
        {
            // Removed already when a SetAsync stored under it: then there is nothing to release.
            FailClaim(key, claim);
        }
    }

    /// <summary>Whether <paramref name="claim"/> is still held here, i.e. nothing was stored under it yet.</summary>
    internal bool HoldsClaim(string key, LocalClaim claim)
        => _claims.Holds(key, claim);

    /// <summary>A regeneration ended without storing: the claim passes on after the failure backoff.</summary>
    internal void FailClaim(string key, LocalClaim claim)
    {
        if (_claims.TryRemove(key, claim))
        {
            _ = ReleaseAsync(key, claim);
        }
    }

    private async Task ReleaseAsync(string key, LocalClaim claim, bool failed = true)
    {
        var retryAfter = failed ? _options.FailureBackoff : TimeSpan.Zero;
        try
        {
            await _backend.ReleaseClaimAsync(key, claim.Ticket, retryAfter, failed, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            // The claim still lapses on its own after the lease.
            Log.ReleaseFailed(_logger, _backend.Name, ex);
            return;
        }

        if (failed)
        {
            Log.RegenerationNotStored(_logger, _backend.Name, retryAfter);
        }
    }
}
