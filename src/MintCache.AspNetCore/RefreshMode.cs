namespace MintCache.AspNetCore;

/// <summary>Who regenerates a stale page.</summary>
public enum RefreshMode
{
    /// <summary>
    /// The first request past stale-at, farm-wide, runs the endpoint and waits for it; every other request is
    /// served the stale page at once.
    /// </summary>
    Foreground = 0,

    /// <summary>
    /// Every request is served the stale page, and the page is regenerated behind the scenes by a request MintCache
    /// sends through the application's own pipeline, outside any user's request. Pages that vary by something such
    /// a request cannot reproduce (a user, a cookie, a custom value) are refreshed in the foreground instead.
    /// </summary>
    Background = 1,
}
