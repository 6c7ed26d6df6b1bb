using Microsoft.Extensions.Logging;
using MintCache.AspNetCore.Diagnostics;

namespace MintCache.AspNetCore.Store;

internal sealed partial class MintOutputCacheStore
{
    /// <summary>For tests: how many claims this process holds and has not yet stored under.</summary>
    internal int LocalClaimCount => _claims.Count;

    private bool TryTakePendingMiss(string key)
    {
        if (!_claims.TryGetValue(key, out var claim))
        {
            return false;
        }

        if (Now() >= claim.ExpiresAt)
        {
            // Lapsed here, so perhaps taken over elsewhere: its miss must not be handed out any more.
            _claims.TryRemove(new KeyValuePair<string, LocalClaim>(key, claim));
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
    /// cached, or the client went away): when the request that was answered "miss" completes and the claim is still
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

        try
        {
            httpContext.Response.OnCompleted(static state =>
            {
                var (store, key, claim) = ((MintOutputCacheStore, string, LocalClaim))state;
                return store.ReleaseIfNotStoredAsync(key, claim);
            }, (this, key, claim));
        }
        catch (InvalidOperationException)
        {
            // The response already completed: nothing to watch; the lease bounds the claim.
        }
    }

    private async Task ReleaseIfNotStoredAsync(string key, LocalClaim claim)
    {
        if (!_claims.TryRemove(new KeyValuePair<string, LocalClaim>(key, claim)))
        {
            return;
        }

        Log.RegenerationNotStored(_logger, _backend.Name, _options.FailureBackoff);
        try
        {
            await _backend.ReleaseClaimAsync(key, claim.Ticket, _options.FailureBackoff, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            // The claim still lapses on its own after the lease.
            Log.ReleaseFailed(_logger, _backend.Name, ex);
        }
    }
}
