using System.Globalization;
using Microsoft.Extensions.Logging;
using MintCache.AspNetCore.Diagnostics;
using MintCache.AspNetCore.Entries;

namespace MintCache.AspNetCore.Policies;

/// <summary>
/// The channel from a policy to the store. The store sees only the key, the page, the tags and <c>validFor</c>, so a
/// policy's MintCache settings travel as reserved tags that the store strips before it records the real tags.
/// </summary>
/// <remarks>
/// <para>
/// A reserved tag starts with a control character (U+001F, the unit separator) that no tag written by hand or taken
/// from a URL carries, and is never indexed: evicting by a reserved tag evicts nothing.
/// </para>
/// <para>
/// MintCache's builder extensions reject a bad value when the policy is built (<see cref="Check"/> states the rules).
/// A malformed directive that still reaches the store (written by hand with <c>Tag(...)</c>, where ASP.NET Core 10 gives
/// no public hook to see it before a request) is stripped and ignored, never thrown into the request.
/// </para>
/// </remarks>
internal static class ReservedTags
{
    public const string Prefix = "\u001Fmint:";

    private const string GracePrefix = Prefix + "grace=";

    private const string RefreshPrefix = Prefix + "refresh=";

    private const string EagerPrefix = Prefix + "eager=";

    private const string PathPrefix = Prefix + "path=";

    public static bool IsReserved(string tag) => tag.StartsWith(Prefix, StringComparison.Ordinal);

    /// <summary>
    /// Why a reserved tag is not a directive MintCache understands, or <see langword="null"/> when it is one:
    /// <c>grace=</c> whole milliseconds from 1 to <see cref="EntryLifetime.MaxGrace"/> (what the Redis entry format
    /// holds), or <c>refresh=background</c> / <c>refresh=foreground</c>.
    /// </summary>
    public static string? Check(string tag)
    {
        if (!IsReserved(tag))
        {
            return null;
        }

        if (tag.StartsWith(GracePrefix, StringComparison.Ordinal))
        {
            return TryParseGrace(tag, out _)
                ? null
                : $"a grace must be whole milliseconds from 1 to {(long)EntryLifetime.MaxGrace.TotalMilliseconds} (30 days); use .Grace(TimeSpan) rather than writing the tag";
        }

        if (tag.StartsWith(RefreshPrefix, StringComparison.Ordinal))
        {
            return TryParseRefresh(tag, out _) ? null : "a refresh mode must be 'background' or 'foreground'; use .Refresh(RefreshMode) rather than writing the tag";
        }

        if (tag.StartsWith(EagerPrefix, StringComparison.Ordinal))
        {
            return TryParseEager(tag, out _) ? null : "an eager refresh threshold must be a number greater than 0 and less than 1; use .EagerRefresh(double) rather than writing the tag";
        }

        if (tag.StartsWith(PathPrefix, StringComparison.Ordinal))
        {
            return "a path tag is written by the store itself (MintCacheOptions.TrackPaths), never by a policy";
        }

        return "it is not a MintCache setting: tags starting with U+001F \"mint:\" are reserved for MintCache";
    }

    private static bool TryParseGrace(string tag, out TimeSpan grace)
    {
        grace = default;
        if (!long.TryParse(tag.AsSpan(GracePrefix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out var milliseconds)
            || milliseconds < 1
            || milliseconds > (long)EntryLifetime.MaxGrace.TotalMilliseconds)
        {
            return false;
        }

        grace = TimeSpan.FromMilliseconds(milliseconds);
        return true;
    }

    private static bool TryParseEager(string tag, out double threshold)
        => double.TryParse(tag.AsSpan(EagerPrefix.Length), NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out threshold)
            && threshold > 0 && threshold < 1;

    private static bool TryParseRefresh(string tag, out RefreshMode mode)
    {
        switch (tag.AsSpan(RefreshPrefix.Length))
        {
            case "background":
                mode = RefreshMode.Background;
                return true;
            case "foreground":
                mode = RefreshMode.Foreground;
                return true;
            default:
                mode = default;
                return false;
        }
    }

    /// <summary>The reserved tag that carries a per-policy grace, in whole milliseconds.</summary>
    public static string ForGrace(TimeSpan grace)
        => GracePrefix + ((long)grace.TotalMilliseconds).ToString(CultureInfo.InvariantCulture);

    /// <summary>The reserved tag that carries a per-policy eager refresh threshold.</summary>
    public static string ForEager(double threshold) => EagerPrefix + threshold.ToString("R", CultureInfo.InvariantCulture);

    /// <summary>
    /// The tag under which the store indexes a page by its request path (<c>MintCacheOptions.TrackPaths</c>). It is
    /// reserved, so a policy or a response cannot forge it: the store strips reserved tags before it adds this one.
    /// </summary>
    /// <param name="normalizedPath">Path base and path as the output cache's key holds them (see <c>PathTags</c>).</param>
    public static string ForPath(string normalizedPath) => PathPrefix + normalizedPath;

    /// <summary>The reserved tag that carries a per-policy refresh mode.</summary>
    public static string ForRefresh(RefreshMode mode) => RefreshPrefix + (mode == RefreshMode.Background ? "background" : "foreground");

    /// <summary>
    /// The refresh mode of a request: the one a policy set on its output-cache context (read when a claim is won or
    /// may be), else <paramref name="configured"/> (<see cref="MintCacheOptions.RefreshMode"/>).
    /// </summary>
    public static RefreshMode RefreshOf(IEnumerable<string> tags, RefreshMode configured)
    {
        var mode = configured;
        foreach (var tag in tags)
        {
            if (tag.StartsWith(RefreshPrefix, StringComparison.Ordinal) && TryParseRefresh(tag, out var parsed))
            {
                mode = parsed;
            }
        }

        return mode;
    }

    /// <summary>
    /// Splits the tags handed to the store into the user's tags and the policy settings they carry.
    /// </summary>
    /// <returns>A new array of the user's tags, which the caller owns.</returns>
    public static string[] Split(ReadOnlySpan<string> tags, out StoreDirectives directives)
        => Split(tags, logger: null, out directives);

    /// <summary>
    /// Splits the tags handed to the store into the user's tags and the policy settings they carry; a malformed
    /// directive is ignored (its setting falls back to the options) and logged at Debug on <paramref name="logger"/>.
    /// </summary>
    /// <returns>A new array of the user's tags, which the caller owns.</returns>
    public static string[] Split(ReadOnlySpan<string> tags, ILogger? logger, out StoreDirectives directives)
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
                if (Check(tag) is { } reason)
                {
                    // Request time: never thrown. The policy that wrote it is not known here, only the tag's text.
                    if (logger is not null)
                    {
                        Log.ReservedTagIgnored(logger, tag, reason);
                    }
                }
                else
                {
                    directives = directives.With(tag);
                }
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
    internal readonly record struct StoreDirectives(TimeSpan? Grace, RefreshMode? Refresh, double? EagerRefresh = null)
    {
        /// <summary>Applies one reserved tag; a malformed or unknown one changes nothing.</summary>
        public StoreDirectives With(string tag)
        {
            if (tag.StartsWith(GracePrefix, StringComparison.Ordinal))
            {
                return TryParseGrace(tag, out var grace) ? this with { Grace = grace } : this;
            }

            if (tag.StartsWith(RefreshPrefix, StringComparison.Ordinal))
            {
                return TryParseRefresh(tag, out var mode) ? this with { Refresh = mode } : this;
            }

            if (tag.StartsWith(EagerPrefix, StringComparison.Ordinal))
            {
                return TryParseEager(tag, out var threshold) ? this with { EagerRefresh = threshold } : this;
            }

            return this;
        }
    }
}
