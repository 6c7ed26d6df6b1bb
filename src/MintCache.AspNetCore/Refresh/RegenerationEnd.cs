namespace MintCache.AspNetCore.Refresh;

/// <summary>How a background regeneration that stored nothing under its claim ended: what the store does next.</summary>
internal enum RegenerationEnd
{
    /// <summary>An uncached status (a redirect, a 401): the next claim runs in the foreground.</summary>
    NotStored,

    /// <summary>A policy dropped the copy's own cache key, so the copy was served from the cache.</summary>
    AnsweredFromCache,

    /// <summary>An exception or a 5xx: stale-if-error, retried in the background after the failure backoff.</summary>
    OriginFailed,

    /// <summary>An exception or a 5xx after the app asked for a feature the copy lacks: the next claim runs in the foreground.</summary>
    CopyFailed,

    /// <summary>404 or 410: the page is evicted farm-wide (design invariant 10).</summary>
    Gone,

    /// <summary>Cancelled by the host's shutdown: the claim is released at once, for another host to take.</summary>
    Stopped,
}
