using Microsoft.AspNetCore.Http;
using MintCache.AspNetCore.Diagnostics;

namespace MintCache.AspNetCore.Store;

internal sealed partial class MintOutputCacheStore
{
    /// <summary>For tests: how many claims this process holds and has not yet stored under.</summary>
    internal int LocalClaimCount => _claims.Count;

    /// <summary>
    /// Records a claim the backend just granted; its lease runs on this process's clock from now. Once a request or a
    /// background regeneration holds it, a heartbeat renews it while that holder lives.
    /// </summary>
    private LocalClaim HoldClaim(string key, ClaimTicket ticket, bool missPending)
    {
        var now = Now();
        var claim = new LocalClaim(ticket, now, now + _options.LeaseDuration.Ticks, _backend.EvictionMark, missPending);
        _claims.Set(key, claim);
        return claim;
    }

    private bool TryTakePendingMiss(string key)
    {
        if (!_claims.TryGet(key, out var claim))
        {
            return false;
        }

        if (!claim.IsLiveAt(Now()))
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
    /// Gives the claim to the request that was answered "miss" for it: its store is fenced with it, and when it ends
    /// without storing (the endpoint threw, answered a status that is not cached, or the client went away) the
    /// claim is shortened to <see cref="MintCacheOptions.FailureBackoff"/>.
    /// </summary>
    private void WatchForNoStore(string key, LocalClaim claim)
    {
        if (RequestFeature(create: true) is { } watch)
        {
            watch.Add(key, claim);
            claim.HeldByRequest = true;
            StartHeartbeat(key, claim);
        }

        // Outside a request (a direct caller), nothing tells whether the holder lives: the lease alone bounds the claim.
    }

    /// <summary>The store's feature on the current request, if there is a request.</summary>
    private ClaimWatchFeature? RequestFeature(bool create)
    {
        var httpContext = _httpContextAccessor?.HttpContext;
        if (httpContext is null)
        {
            return null;
        }

        var watch = httpContext.Features.Get<ClaimWatchFeature>();
        if (watch is null && create)
        {
            watch = new ClaimWatchFeature();
            httpContext.Features.Set(watch);
        }

        return watch;
    }

    /// <summary>
    /// Called by <see cref="ClaimWatchMiddleware"/> when a request ends (<paramref name="threw"/>: in an exception). The
    /// task ends once a page its origin said is gone is evicted, before the response ends.
    /// </summary>
    internal Task ReleaseUnstoredClaimsAsync(HttpContext httpContext, bool threw)
    {
        if (httpContext.Features.Get<ClaimWatchFeature>() is not { } watch)
        {
            return Task.CompletedTask;
        }

        List<Task>? evictions = null;
        foreach (var (key, claim) in watch.TakeAll())
        {
            if (!threw && claim is { Refresh: true, Ended: false } && GoneStatus(httpContext.Response.StatusCode) is { } answer)
            {
                (evictions ??= []).Add(EvictGoneAsync(key, claim, answer));
                continue;
            }

            // Ended already when a SetAsync stored under it: then there is nothing to release.
            FailClaim(key, claim);
        }

        return evictions is null ? Task.CompletedTask : Task.WhenAll(evictions);
    }

    /// <summary>A regeneration ended without storing: the claim passes on after the failure backoff.</summary>
    internal void FailClaim(string key, LocalClaim claim) => EndClaim(key, claim, failed: true);

    /// <summary>Ends the claim and releases it in the backend, once.</summary>
    private void EndClaim(string key, LocalClaim claim, bool failed)
    {
        if (TryEndClaim(key, claim))
        {
            _ = ReleaseAsync(key, claim, failed);
        }
    }

    /// <summary>Ends the claim (its heartbeat stops) and forgets it here, once; <see langword="false"/> if it had ended.</summary>
    private bool TryEndClaim(string key, LocalClaim claim)
    {
        if (!claim.TryEnd())
        {
            return false;
        }

        _claims.TryRemove(key, claim);
        return true;
    }

    private async Task ReleaseAsync(string key, LocalClaim claim, bool failed)
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

    /// <summary>
    /// Renews the claim every third of a lease while its holder lives, so that only a dead or stuck holder's claim
    /// lapses: a regeneration slower than the lease is not taken over (and run again) by the next lookup.
    /// </summary>
    internal void StartHeartbeat(string key, LocalClaim claim)
    {
        var period = _options.LeaseDuration / 3;
        claim.Heartbeat = _timeProvider.CreateTimer(
            static state =>
            {
                var (store, key, claim) = ((MintOutputCacheStore, string, LocalClaim))state!;
                _ = store.BeatAsync(key, claim);
            },
            (this, key, claim),
            period,
            period);
        if (claim.Ended)
        {
            // Ended before the timer was kept (a store that completed at once): nothing renews it any more.
            claim.Heartbeat.Dispose();
        }
    }

    private async Task BeatAsync(string key, LocalClaim claim)
    {
        var now = Now();
        if (claim.Ended || _stopping.IsCancellationRequested || now - claim.HeldAt >= _options.RegenerationTimeout.Ticks)
        {
            // A stopping host, or a holder past its timeout, is treated as dead: its claim lapses after one lease.
            claim.Heartbeat?.Dispose();
            return;
        }

        ClaimRenewal renewal;
        try
        {
            renewal = await _backend.RenewClaimAsync(key, claim.Ticket, _options.LeaseDuration, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            // The next beat tries again; the claim lapses if none succeeds within the lease.
            Log.RenewFailed(_logger, _backend.Name, ex);
            return;
        }

        switch (renewal)
        {
            case ClaimRenewal.Renewed:
                claim.Renewed(now + _options.LeaseDuration.Ticks);
                break;
            case ClaimRenewal.Revoked:
                claim.Revoked = true;
                claim.Heartbeat?.Dispose();
                break;
            default:
                claim.Heartbeat?.Dispose();
                break;
        }
    }
}
