namespace MintCache.AspNetCore.Diagnostics;

/// <summary>
/// Carries the store's answer for one request from the lookup to the <c>Cache-Status</c> header. Present only while
/// the header is on; set by <see cref="Policies.CacheStatusPolicy"/> before the lookup.
/// </summary>
internal sealed class CacheStatusFeature
{
    /// <summary>
    /// The state of the entry this request's lookup found (<see cref="Tags.StateFresh"/>, <see cref="Tags.StateStale"/>
    /// or <see cref="Tags.StateAbsent"/>), or <see langword="null"/> when this request did not look up itself.
    /// </summary>
    public string? State { get; set; }

    /// <summary>Whether this request's lookup answered "miss": its request was to render the page.</summary>
    public bool Missed { get; set; }
}
