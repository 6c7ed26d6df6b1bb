using System.Globalization;

namespace MintCache.AspNetCore.Policies;

/// <summary>
/// The channel from a policy to the store. The store sees only the key, the page, the tags and <c>validFor</c>, so a
/// policy's MintCache settings travel as reserved tags that the store strips before it records the real tags.
/// </summary>
/// <remarks>
/// A reserved tag starts with a control character (U+001F, the unit separator) that no tag written by hand or taken
/// from a URL carries, and is never indexed: evicting by a reserved tag evicts nothing.
/// </remarks>
internal static class ReservedTags
{
    public const string Prefix = "\u001Fmint:";

    private const string GracePrefix = Prefix + "grace=";

    private const string RefreshPrefix = Prefix + "refresh=";

    public static bool IsReserved(string tag) => tag.StartsWith(Prefix, StringComparison.Ordinal);

    /// <summary>The reserved tag that carries a per-policy grace, in whole milliseconds.</summary>
    public static string ForGrace(TimeSpan grace)
        => GracePrefix + ((long)grace.TotalMilliseconds).ToString(CultureInfo.InvariantCulture);

    /// <summary>The reserved tag that carries a per-policy refresh mode.</summary>
    public static string ForRefresh(RefreshMode mode) => RefreshPrefix + (mode == RefreshMode.Background ? "background" : "foreground");

    /// <summary>
    /// Splits the tags handed to the store into the user's tags and the policy settings they carry.
    /// </summary>
    /// <returns>A new array of the user's tags, which the caller owns.</returns>
    public static string[] Split(ReadOnlySpan<string> tags, out StoreDirectives directives)
    {
        directives = default;
        if (tags.IsEmpty)
        {
            return [];
        }

        var reserved = 0;
        foreach (var tag in tags)
        {
            if (IsReserved(tag))
            {
                reserved++;
                directives = directives.With(tag);
            }
        }

        var userTags = new string[tags.Length - reserved];
        var next = 0;
        foreach (var tag in tags)
        {
            if (!IsReserved(tag))
            {
                userTags[next++] = tag;
            }
        }

        return userTags;
    }

    /// <summary>The settings a policy passed to the store for one entry; unset values fall back to the options.</summary>
    internal readonly record struct StoreDirectives(TimeSpan? Grace, RefreshMode? Refresh)
    {
        public StoreDirectives With(string tag)
        {
            if (tag.StartsWith(GracePrefix, StringComparison.Ordinal)
                && long.TryParse(tag.AsSpan(GracePrefix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out var milliseconds))
            {
                return this with { Grace = TimeSpan.FromMilliseconds(milliseconds) };
            }

            if (tag.StartsWith(RefreshPrefix, StringComparison.Ordinal))
            {
                return tag.AsSpan(RefreshPrefix.Length) switch
                {
                    "background" => this with { Refresh = RefreshMode.Background },
                    "foreground" => this with { Refresh = RefreshMode.Foreground },
                    _ => this,
                };
            }

            // An unknown reserved tag (from a newer version of MintCache) is stripped and otherwise ignored.
            return this;
        }
    }
}
