using Microsoft.AspNetCore.Http;
using Microsoft.Net.Http.Headers;
using MintCache.AspNetCore.Diagnostics;

namespace MintCache.AspNetCore.Store;

/// <summary>
/// The origin's word stands (design invariant 10): a regeneration answered "gone" (404, 410) or "not cacheable"
/// (<c>Cache-Control: no-store</c> or <c>private</c>) ends the stale page farm-wide, so the next request renders it
/// and sees what the origin says. Errors (an exception, a 5xx) keep the stale page (stale-if-error); other uncached
/// statuses (a redirect, a 401) keep it for its grace while the next claim renders in the foreground.
/// </summary>
internal sealed partial class MintOutputCacheStore
{
    /// <summary>"404" or "410" for a status that says the page is gone; null otherwise.</summary>
    internal static string? GoneStatus(int statusCode) => statusCode switch
    {
        StatusCodes.Status404NotFound => "404",
        StatusCodes.Status410Gone => "410",
        _ => null,
    };

    /// <summary>The directive of a response that says it may not be kept by a shared cache; null otherwise.</summary>
    internal static string? NotCacheable(HttpContext? httpContext)
    {
        if (httpContext is null || httpContext.Response.Headers.CacheControl is not { Count: > 0 } cacheControl
            || !CacheControlHeaderValue.TryParse(cacheControl.ToString(), out var parsed))
        {
            return null;
        }

        return parsed.NoStore ? "no-store" : parsed.Private ? "private" : null;
    }

    /// <summary>
    /// Ends the claim and evicts the page on every host (the backend revokes the claim with it, so no regeneration
    /// that began before can store an older page). When the eviction fails, the claim fails as an error would: the
    /// stale page stays for its grace, and the next attempt comes after the backoff.
    /// </summary>
    private async Task EvictGoneAsync(string key, LocalClaim claim, string answer)
    {
        if (!TryEndClaim(key, claim))
        {
            return;
        }

        try
        {
            await _backend.EvictKeyAsync(key, CancellationToken.None).ConfigureAwait(false);
            Log.OriginSaidGone(_logger, answer, _backend.Name);
        }
        catch (Exception ex)
        {
            Log.EvictKeyFailed(_logger, _backend.Name, ex);
            await ReleaseAsync(key, claim, failed: true).ConfigureAwait(false);
        }
    }
}
