using System.Globalization;
using Microsoft.AspNetCore.Http;
using MintCache.AspNetCore.Store;

namespace MintCache.AspNetCore.Refresh;

/// <summary>
/// Marks the one kind of request MintCache sends itself: a background regeneration. Only code in this assembly can
/// set it, so no header, URL or client can pose as a regeneration, force one or steer one.
/// </summary>
internal sealed class RegenerationFeature
{
    /// <summary>The name of the vary-by value that gives a regeneration a cache key of its own.</summary>
    /// <remarks>
    /// A vary-by value, because no ordinary policy setting removes one: <c>SetCacheKeyPrefix</c> assigns the prefix,
    /// <c>VaryByValue</c> adds values, and the other settings vary by the request. The middleware refuses delimiters
    /// in values, so nothing a client sends can produce the segment this name starts.
    /// </remarks>
    public const string MarkerName = "mint.regeneration";

    // How the marker appears in a key the middleware built: after the record separator, as name=value.
    private const string MarkerSegmentStart = "\u001E" + MarkerName + "=";

    // The group the middleware opens before the vary-by values; left empty when the marker was the only one.
    private const string ValuesGroup = "\u001EV";

    private readonly string _segment;

    public RegenerationFeature(string key, LocalClaim claim, Endpoint? endpoint)
    {
        Key = key;
        Claim = claim;
        Endpoint = endpoint;
        MarkerValue = claim.Ticket.Token.ToString("x", CultureInfo.InvariantCulture);
        _segment = MarkerSegmentStart + MarkerValue;
    }

    /// <summary>The cache key the regenerated page belongs under: the key of the lookup that won the claim.</summary>
    public string Key { get; }

    public LocalClaim Claim { get; }

    /// <summary>The endpoint of the request that won the claim, for the logs.</summary>
    public Endpoint? Endpoint { get; }

    /// <summary>
    /// The value of the marker, unique to this regeneration: its lookup and its lock are its own, since the middleware
    /// shares lookups and executions per key, and a regeneration that shared a user's lookup would be handed the stale
    /// page instead of running.
    /// </summary>
    public string MarkerValue { get; }

    /// <summary>The server feature the copy lacked that the app asked for before failing; null unless it failed so.</summary>
    public Type? LackedFeature { get; set; }

    /// <summary>Whether a key the middleware built for this regeneration differed from <see cref="Key"/>.</summary>
    public bool KeyMismatched { get; private set; }

    /// <summary>Whether a key the middleware built may carry some regeneration's marker (cheap; no allocation).</summary>
    public static bool MayBeMarked(string middlewareKey) => middlewareKey.Contains(MarkerSegmentStart, StringComparison.Ordinal);

    /// <summary>
    /// The key a page of this regeneration is stored under, from the key the middleware built: <paramref name="middlewareKey"/>
    /// without this regeneration's marker. <see langword="false"/> when it differs from <see cref="Key"/>: the app's
    /// policies then built another key for the copy than for the request it copies.
    /// </summary>
    public bool TryGetStorageKey(string middlewareKey, out string key)
    {
        key = middlewareKey;
        var at = middlewareKey.IndexOf(_segment, StringComparison.Ordinal);
        if (at >= 0)
        {
            key = string.Concat(middlewareKey.AsSpan(0, at), middlewareKey.AsSpan(at + _segment.Length));
            if (key.EndsWith(ValuesGroup, StringComparison.Ordinal))
            {
                key = key[..^ValuesGroup.Length];
            }
        }

        if (string.Equals(key, Key, StringComparison.Ordinal))
        {
            return true;
        }

        KeyMismatched = true;
        return false;
    }
}
