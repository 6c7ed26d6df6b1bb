using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.OutputCaching;
using MintCache.AspNetCore.Diagnostics;
using MintCache.AspNetCore.Refresh;

namespace MintCache.AspNetCore.Store;

internal sealed partial class MintOutputCacheStore
{
    /// <summary>
    /// After this lookup won the claim of a stale page stored for background refresh: starts the regeneration and
    /// lets the lookup answer with the stale page.
    /// </summary>
    /// <returns><see langword="false"/> when the page must be refreshed in the foreground after all.</returns>
    private bool TryRegenerateInBackground(string key, ClaimTicket ticket, ReadOnlyMemory<byte> serializedRequest)
    {
        if (_regenerator is not { IsAttached: true } regenerator)
        {
            Log.ForegroundFallback(_logger, "the pipeline is unknown (MintCache's startup filter did not run)");
            return false;
        }

        if (RegenerationRequest.TryDeserialize(serializedRequest.Span) is not { } request)
        {
            Log.ForegroundFallback(_logger, "the stored regeneration request is unreadable");
            return false;
        }

        // Recorded before the start: a fast regeneration stores, and consumes the claim, at once.
        var claim = HoldClaim(key, ticket, missPending: false);
        claim.Background = true;
        if (regenerator.TryStart(this, key, claim, request))
        {
            StartHeartbeat(key, claim);
            Log.BackgroundRegenerationStarted(_logger, request.Method, request.Path);
            _observer.BackgroundRegenerationStarted();
            return true;
        }

        // No slot, or the host is stopping: serve stale, and let a later lookup claim it again at once.
        EndClaim(key, claim, failed: false);
        return true;
    }

    /// <summary>The request that regenerates the page being stored, when a request without the user reproduces it.</summary>
    private ReadOnlyMemory<byte> CaptureRegeneration(HttpContext? httpContext)
    {
        if (httpContext?.Features.Get<IOutputCacheFeature>()?.Context is not { } cacheContext)
        {
            return ReadOnlyMemory<byte>.Empty;
        }

        if (RegenerationRequest.TryCapture(httpContext, cacheContext, out var reason) is { } request)
        {
            return request.Serialize();
        }

        Log.ForegroundFallback(_logger, reason!);
        return ReadOnlyMemory<byte>.Empty;
    }
}
