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
/// request that shares the waiting lookup (design.md §3) is served by it, which is the point. A claim held by another
/// request of this process is waited on in-process, until that render ends. Waiting never fails a
/// request: the bound ends in a miss, a cancellation in the caller's own cancellation (answered as a miss).
/// </remarks>
internal sealed partial class MintOutputCacheStore
{
    private int _ownColdClaimWaits;

    /// <summary>For tests: lookups waiting now for a render of this process to end.</summary>
    internal int OwnColdClaimWaits => Volatile.Read(ref _ownColdClaimWaits);

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

            if (OwnColdClaim(key) is { } own)
            {
                if (!WaitsForOwnRender(key, own))
                {
                    return BackendLookup.Missing;
                }

                await WaitForOwnRenderAsync(own, remaining).ConfigureAwait(false);
            }
            else if (!await _backend.WaitForEntryAsync(key, lookup, remaining, cancellationToken).ConfigureAwait(false))
            {
                // The backend cannot be waited on (degraded, no notifications): never hold a request on it.
                return BackendLookup.Missing;
            }

            // Woken by a change of the key (a store, a released claim), by the end of this process's own render, or by
            // the bound: look again, which may serve the page, or win a claim that was released or lapsed meanwhile.
            lookup = await _backend.LookupAsync(key, _options.LeaseDuration, cancellationToken).ConfigureAwait(false);
            if (!lookup.ClaimedElsewhere)
            {
                Log.ColdMissWaited(_logger, Stopwatch.GetElapsedTime(started), lookup.Page is null ? "renders it itself" : "was served it");
                return lookup;
            }
        }
    }

    /// <summary>
    /// The claim of this process on the key, rendered by one of its requests. A background regeneration locks on a
    /// key of its own, so no request can join it: it is waited for like a claim held elsewhere.
    /// </summary>
    private LocalClaim? OwnColdClaim(string key)
        => _claims.TryGet(key, out var own) && !own.Background ? own : null;

    /// <summary>
    /// Whether a lookup may wait for a render of this process rather than answer "miss". The middleware joins a request
    /// that misses to the render running in its process only if the miss reaches it before that render has stored and
    /// left its per-key lock (design.md §3), which a loaded machine does not promise: a second render would follow
    /// (invariant 1). So the lookup waits for the render's claim to end, then looks again. Never for a claim nothing but
    /// its lease ends (won outside a request), nor for the claim of the very request that looks, nor for one lapsed here.
    /// </summary>
    private bool WaitsForOwnRender(string key, LocalClaim own)
        => own.HeldByRequest && own.IsLiveAt(Now()) && !ReferenceEquals(RequestFeature(create: false)?.Find(key), own);

    /// <summary>Waits until the claim ends (stored, or its request ended), lapses here, or <paramref name="remaining"/> passes.</summary>
    private async Task WaitForOwnRenderAsync(LocalClaim own, TimeSpan remaining)
    {
        var untilLapse = TimeSpan.FromTicks(Math.Max(0, own.ExpiresAt - Now()));
        Interlocked.Increment(ref _ownColdClaimWaits);
        try
        {
            // The lease runs on the store's clock, the bound in real time: the nearer one ends this wait, and a renewed
            // claim is waited on again after one more look.
            await own.Ending.WaitAsync(untilLapse < remaining ? untilLapse : remaining, TimeProvider.System).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // Lapsed or past the bound: the loop decides.
        }
        finally
        {
            Interlocked.Decrement(ref _ownColdClaimWaits);
        }
    }
}
