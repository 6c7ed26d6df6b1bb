using System.Globalization;
using MintCache.AspNetCore.Store;

namespace MintCache.AspNetCore.Refresh;

/// <summary>
/// Marks the one kind of request MintCache sends itself: a background regeneration. Only code in this assembly can
/// set it, so no header, URL or client can pose as a regeneration or force one.
/// </summary>
internal sealed class RegenerationFeature
{
    /// <summary>What every regeneration's cache-key prefix starts with.</summary>
    public const string MarkerPrefix = "mint.regen.";

    public RegenerationFeature(string key, LocalClaim claim)
    {
        Key = key;
        Claim = claim;
        Marker = MarkerPrefix + claim.Ticket.Token.ToString("x", CultureInfo.InvariantCulture) + ":";
    }

    /// <summary>The cache key the regenerated page belongs under.</summary>
    public string Key { get; }

    public LocalClaim Claim { get; }

    /// <summary>
    /// Put in front of the regeneration's cache-key prefix, so its lookup and its lock are its own: the middleware
    /// shares lookups and executions per key, and a regeneration that shared a user's lookup would be handed the
    /// stale page instead of running.
    /// </summary>
    public string Marker { get; }

    /// <summary>The key a page of this regeneration is stored under, from the key the middleware built.</summary>
    public bool TryGetStorageKey(string middlewareKey, out string key)
    {
        key = middlewareKey;
        if (!middlewareKey.StartsWith(Marker, StringComparison.Ordinal))
        {
            return false;
        }

        // With no prefix of the policy's own, the middleware put a delimiter between the marker and the method.
        key = middlewareKey[Marker.Length..].TrimStart('\u001E');
        return true;
    }
}
