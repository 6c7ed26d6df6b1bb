using Microsoft.AspNetCore.Http;
using MintCache.AspNetCore.Backends;
using MintCache.AspNetCore.Entries;

namespace MintCache.AspNetCore.Diagnostics;

/// <summary>
/// What the store tells the outside world about its answers: the lookup and claim metrics, and, when the
/// <c>Cache-Status</c> header is on, the answer given to the current request, for <see cref="CacheStatusFeature"/>.
/// </summary>
/// <remarks>
/// Kept out of the store so that instrumenting it takes one call per answer. The request is found through
/// <see cref="IHttpContextAccessor"/>: the middleware runs a lookup on the flow of the request that started it (the
/// one that leads the requests sharing it), which is the request the answer belongs to.
/// </remarks>
internal sealed class LookupObserver(string backend, Metrics metrics, IHttpContextAccessor? cacheStatusRequests)
{
    /// <summary>Counts and records the store's answer to a lookup, and returns <paramref name="page"/>.</summary>
    public byte[]? Answered(in BackendLookup lookup, byte[]? page)
    {
        if (lookup.Claim is not null)
        {
            // An eager refresh's claim counts as won too; its start says refresh_mode=eager.
            metrics.Claim(backend, Tags.ClaimWon);
            if (page is null)
            {
                // This lookup's request renders the page; a claim answered with the stale page hands its miss on
                // (PendingMissTaken) or regenerates in the background (BackgroundRegenerationStarted).
                metrics.RegenerationStarted(backend, Tags.ModeForeground);
            }
        }
        else if (lookup.State == EntryState.Stale)
        {
            metrics.Claim(backend, lookup.ClaimDeferred ? Tags.ClaimDeferred : Tags.ClaimLost);
        }

        var state = lookup.State switch
        {
            EntryState.Fresh => Tags.StateFresh,
            EntryState.Stale => Tags.StateStale,
            _ => Tags.StateAbsent,
        };
        Answered(page is null ? Tags.ResultMiss : Tags.ResultHit, state);
        return page;
    }

    /// <summary>A lookup was answered "miss" by a claim this process won earlier (a slow backend's hand-over).</summary>
    public void PendingMissTaken()
    {
        metrics.RegenerationStarted(backend, Tags.ModeForeground);

        // The claim was won on a stale page, which that earlier lookup served.
        Answered(Tags.ResultMiss, Tags.StateStale);
    }

    /// <summary>A claim ran out here before its regeneration stored anything.</summary>
    public void ClaimLapsed() => metrics.RegenerationEnded(backend, Tags.OutcomeLapsed);

    public void BackgroundRegenerationStarted(bool eager)
        => metrics.RegenerationStarted(backend, eager ? Tags.ModeEager : Tags.ModeBackground);

    private void Answered(string result, string state)
    {
        metrics.Lookup(backend, result, state);
        if (cacheStatusRequests?.HttpContext?.Features.Get<CacheStatusFeature>() is { } feature)
        {
            feature.State = state;
            feature.Missed = result == Tags.ResultMiss;
        }
    }
}
