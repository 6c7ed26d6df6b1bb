using System.Collections.Concurrent;
using System.Globalization;
using System.Runtime.CompilerServices;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.OutputCaching;
using MintCache.AspNetCore.Diagnostics;
using MintCache.AspNetCore.Policies;
using MintCache.AspNetCore.Refresh;

namespace MintCache.AspNetCore.Store;

internal sealed partial class MintOutputCacheStore
{
    // At most this many keys are remembered as "the next refresh runs in the foreground". A key left out only has its
    // next refresh tried in the background once more: one more failed attempt, never a wrong page.
    internal const int MaxForegroundNextKeys = 16_384;

    // Keys whose last background regeneration rendered a response that was not stored (an uncached status, such as a
    // redirect or a 401 where the copy lacked something its original had), or failed where the copy lacked a server
    // feature: their next claim in this process runs in the foreground, so the page is still refreshed. Removed when
    // used. A failing origin (an exception or a 5xx otherwise) is not recorded: a foreground attempt would fail alike
    // and show the error to a user, against stale-if-error.
    private readonly ConcurrentDictionary<string, byte> _foregroundNext = new(StringComparer.Ordinal);

    // Endpoints whose copies failed where the copy lacked a server feature: logged once each.
    private readonly ConditionalWeakTable<Endpoint, string> _copyFailedEndpoints = [];

    // Endpoints whose policies build another key for a copy than for the request it copies (or drop the marker): they
    // are refreshed in the foreground for the life of the process, and logged once each.
    private readonly ConditionalWeakTable<Endpoint, string> _foregroundEndpoints = [];

    /// <summary>
    /// After this lookup won the claim of a stale page: when the page is refreshed in the background, copies the
    /// request that won (in memory), starts the copy through the pipeline, and lets the lookup answer with the stale page.
    /// </summary>
    /// <returns><see langword="false"/> when the page is refreshed in the foreground: by the request that won.</returns>
    private bool TryRegenerateInBackground(string key, ClaimTicket ticket, bool eager)
    {
        if (_httpContextAccessor?.HttpContext is not { } httpContext
            || httpContext.Features.Get<IOutputCacheFeature>()?.Context is not { } cacheContext
            || (!eager && ReservedTags.RefreshOf(cacheContext.Tags, _options.RefreshMode) != RefreshMode.Background))
        {
            // Outside a request (a direct caller) there is nothing to copy; the caller stores what it renders.
            return false;
        }

        if (!eager && !_foregroundNext.IsEmpty && _foregroundNext.TryRemove(key, out _))
        {
            Log.ForegroundFallback(_logger, "the previous background regeneration of this page stored nothing");
            return false;
        }

        var endpoint = httpContext.GetEndpoint();
        if (endpoint is not null && _foregroundEndpoints.TryGetValue(endpoint, out _))
        {
            return false;
        }

        if (_regenerator is not { IsAttached: true } regenerator)
        {
            Log.ForegroundFallback(_logger, "the pipeline is unknown (MintCache's startup filter did not run)");
            return false;
        }

        if (RequestCopy.TryCopy(httpContext, out var reason) is not { } copy)
        {
            Log.ForegroundFallback(_logger, reason!);
            return false;
        }

        // Recorded before the start: a fast regeneration stores, and consumes the claim, at once.
        var claim = HoldClaim(key, ticket, missPending: false);
        claim.Background = true;
        claim.Refresh = true;
        switch (regenerator.TryStart(this, new RegenerationFeature(key, claim, endpoint), copy))
        {
            case RegenerationStart.SlotsFull:
                // A stale page: the request that won renders it itself, under the same claim (the foreground path holds
                // it again), rather than give the claim back and leave the page stale until a slot frees up. An eager
                // refresh is optional: RefreshEarly gives the claim back, and the page refreshes when it goes stale.
                claim.Background = false;
                return false;
            case RegenerationStart.Stopping:
                // Nothing new starts on a stopping host: serve stale, and let a lookup elsewhere claim the page at once.
                EndClaim(key, claim, failed: false);
                return true;
        }

        StartHeartbeat(key, claim);
        Log.BackgroundRegenerationStarted(_logger, copy.Method, copy.Path);
        _observer.BackgroundRegenerationStarted(eager);
        return true;
    }

    /// <summary>
    /// After a lookup won the claim of a fresh page past its eager-at: refreshes it in the background, or, when that
    /// cannot start here, gives the claim back at once, so the page refreshes when it goes stale as it would without.
    /// </summary>
    private void RefreshEarly(string key, ClaimTicket ticket)
    {
        if (TryRegenerateInBackground(key, ticket, eager: true))
        {
            return;
        }

        // Released through the one path that releases claims in the backend: the claim this attempt held, or, when it
        // returned before holding one, a record of it made for that.
        var claim = _claims.TryGet(key, out var held) && held.Ticket.Token == ticket.Token ? held : HoldClaim(key, ticket, missPending: false);
        EndClaim(key, claim, failed: false);
    }

    /// <summary>
    /// Called by <see cref="BackgroundRegenerator"/> when a regeneration ended without storing under its claim; the task
    /// ends once the claim is released (or the page evicted), so that a stopping host waits for it.
    /// </summary>
    internal Task BackgroundRegenerationEndedAsync(RegenerationFeature regeneration, RegenerationEnd end, int statusCode)
    {
        var reason = regeneration.KeyMismatched
            ? "its policies built another cache key for the copy of a request than for the request itself (a vary-by value that a copy does not reproduce)"
            : end == RegenerationEnd.AnsweredFromCache
                ? "a policy removed MintCache's vary-by value from the cache key of the copy, which was then answered from the cache"
                : null;
        if (reason is not null && regeneration.Endpoint is { } endpoint && _foregroundEndpoints.TryAdd(endpoint, reason))
        {
            Log.BackgroundRegenerationImpossible(_logger, endpoint.DisplayName ?? "(unnamed)", reason);
        }

        var (key, claim) = (regeneration.Key, regeneration.Claim);
        switch (end)
        {
            case RegenerationEnd.Gone:
                return EvictGoneAsync(key, claim, statusCode.ToString(CultureInfo.InvariantCulture));
            case RegenerationEnd.OriginFailed:
                // Stale-if-error: retried in the background after the backoff; a foreground attempt would fail alike.
                FailClaim(key, claim);
                return Task.CompletedTask;
            case RegenerationEnd.Stopped:
                // Given back at once, so that another host takes the page over without waiting for the lease.
                return TryEndClaim(key, claim) ? ReleaseAsync(key, claim, failed: false) : Task.CompletedTask;
            case RegenerationEnd.CopyFailed:
                // Not the origin's failure: the next claim renders in the foreground at once, and no fail-safe is
                // extended for it.
                if (regeneration.Endpoint is not { } failing || _copyFailedEndpoints.TryAdd(failing, regeneration.LackedFeature?.Name ?? string.Empty))
                {
                    Log.CopyFailed(_logger, regeneration.Endpoint?.DisplayName ?? "(unnamed)", regeneration.LackedFeature?.Name ?? "(unknown)");
                }

                ForegroundNext(key);
                return TryEndClaim(key, claim) ? ReleaseAsync(key, claim, failed: false) : Task.CompletedTask;
            default:
                ForegroundNext(key);
                FailClaim(key, claim);
                return Task.CompletedTask;
        }
    }

    /// <summary>Has the next claim of <paramref name="key"/> in this process run in the foreground.</summary>
    private void ForegroundNext(string key)
    {
        if (_foregroundNext.Count < MaxForegroundNextKeys || _foregroundNext.ContainsKey(key))
        {
            _foregroundNext[key] = 0;
        }
    }
}
