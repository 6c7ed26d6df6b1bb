namespace MintCache.AspNetCore;

/// <summary>Who regenerates a stale page.</summary>
public enum RefreshMode
{
    /// <summary>
    /// The default, and <c>default(RefreshMode)</c>. Every request is served the stale page, the first one past
    /// stale-at included, and the page is regenerated behind the scenes by an in-memory copy of that first request (its
    /// URL, headers and connection), sent through the application's own pipeline. Nothing about the request is stored with the page. When the copy
    /// cannot run (no free regeneration slot, a method other than GET or HEAD, a policy that keys the copy apart from
    /// its original) or stored nothing last time, that request refreshes the page in the foreground instead.
    /// </summary>
    Background = 0,

    /// <summary>
    /// The first request past stale-at, farm-wide, runs the endpoint and waits for it; every other request is
    /// served the stale page at once.
    /// </summary>
    Foreground = 1,
}
