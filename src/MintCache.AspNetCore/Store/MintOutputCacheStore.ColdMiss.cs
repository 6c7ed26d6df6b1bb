using System.Diagnostics;
using MintCache.AspNetCore.Backends;
using MintCache.AspNetCore.Diagnostics;

namespace MintCache.AspNetCore.Store;

/// <summary>
/// Farm-wide cold-miss collapse: a page missing everywhere is rendered once for the farm, not once per process.
/// </summary>
/// <remarks>
/// The shared backend takes the claim on a miss as on a stale entry. The lookup that wins it answers "miss" (there is
/// no stale page to serve, so the requests sharing that lookup wait for the one execution the middleware runs), and
/// the page it stores releases the claim. A lookup that finds the claim held elsewhere waits for the backend's
/// notification that the key changed, looks up again, and repeats until <see cref="MintRedisOptions.ColdMissWait"/>
/// has passed; the lookup after the last wait is the one more look, and then the request runs the endpoint. Every
/// request that shares the waiting lookup (design.md §3) is served by it, which is the point. Waiting never fails a
/// request: the bound ends in a miss, a cancellation in the caller's own cancellation (answered as a miss).
/// </remarks>
internal sealed partial class MintOutputCacheStore
{
    /// <summary>This lookup won the claim of a missing page: its request (and those sharing it) renders the page.</summary>
    private byte[]? AnswerColdMissClaimed(string key, ClaimTicket ticket)
    {
        var claim = HoldClaim(key, ticket, missPending: false);
        WatchForNoStore(key, claim);
        return null;
    }

    /// <summary>Waits, within the bound, for a missing page that another lookup of the farm is rendering.</summary>
    private async ValueTask<BackendLookup> WaitForColdEntryAsync(string key, BackendLookup lookup, CancellationToken cancellationToken)
    {
        var bound = _options.Redis.ColdMissWait;
        if (bound <= TimeSpan.Zero)
        {
            // Waiting is off: the request renders the page itself.
            return BackendLookup.Missing;
        }

        if (_claims.TryGet(key, out var own) && !own.Background)
        {
            // Rendered in this process: the middleware's lock joins the request to that execution. A background
            // regeneration locks on a key of its own, so it is waited for like a claim held elsewhere.
            return BackendLookup.Missing;
        }

        var started = Stopwatch.GetTimestamp();
        while (true)
        {
            // Real time, as the claim waited on lapses on the Redis server's real clock. Once the bound has passed,
            // the lookup that followed the last wait was the one more look: the request renders the page itself.
            var remaining = bound - Stopwatch.GetElapsedTime(started);
            if (remaining <= TimeSpan.Zero)
            {
                Log.ColdMissWaitExpired(_logger, bound);
                return BackendLookup.Missing;
            }

            if (!await _backend.WaitForEntryAsync(key, lookup, remaining, cancellationToken).ConfigureAwait(false))
            {
                // The backend cannot be waited on (degraded, no notifications): never hold a request on it.
                return BackendLookup.Missing;
            }

            // Woken by a change of the key (a store, a released claim) or by the bound: look again, which may serve the
            // page, or win a claim that was released or lapsed meanwhile.
            lookup = await _backend.LookupAsync(key, _options.LeaseDuration, cancellationToken).ConfigureAwait(false);
            if (!lookup.ClaimedElsewhere)
            {
                Log.ColdMissWaited(_logger, Stopwatch.GetElapsedTime(started), lookup.Page is null ? "renders it itself" : "was served it");
                return lookup;
            }
        }
    }
}
