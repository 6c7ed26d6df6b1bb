using Microsoft.Extensions.Primitives;
using Microsoft.Net.Http.Headers;

namespace MintCache.AspNetCore.Entries;

/// <summary>
/// The RFC 5861 extensions of a response's own <c>Cache-Control</c>: <c>stale-while-revalidate=N</c> (how long the page
/// may be served stale while it is regenerated: its grace) and <c>stale-if-error=N</c> (how long past that it may be
/// served while its regenerations fail: its fail-safe). Varnish and nginx honour them; so does MintCache.
/// </summary>
internal readonly record struct StaleDirectives(TimeSpan? StaleWhileRevalidate, TimeSpan? StaleIfError)
{
    public const string StaleWhileRevalidateName = "stale-while-revalidate";

    public const string StaleIfErrorName = "stale-if-error";

    /// <summary>The longest window honoured, the same as the options' grace and fail-safe: larger values are capped.</summary>
    public static readonly TimeSpan Max = TimeSpan.FromDays(30);

    /// <summary>
    /// Reads the directives. A malformed or negative value is ignored and reported through <paramref name="rejected"/>
    /// (the directive's text, for a Debug log); a value past <see cref="Max"/> is capped.
    /// </summary>
    public static StaleDirectives Parse(StringValues cacheControl, out string? rejected)
    {
        rejected = null;
        if (StringValues.IsNullOrEmpty(cacheControl) || !CacheControlHeaderValue.TryParse(cacheControl.ToString(), out var parsed))
        {
            return default;
        }

        TimeSpan? whileRevalidate = null;
        TimeSpan? ifError = null;
        foreach (var extension in parsed.Extensions)
        {
            if (extension.Name.Equals(StaleWhileRevalidateName, StringComparison.OrdinalIgnoreCase))
            {
                whileRevalidate = Seconds(extension, ref rejected) ?? whileRevalidate;
            }
            else if (extension.Name.Equals(StaleIfErrorName, StringComparison.OrdinalIgnoreCase))
            {
                ifError = Seconds(extension, ref rejected) ?? ifError;
            }
        }

        return new StaleDirectives(whileRevalidate, ifError);
    }

    // Delta-seconds (RFC 9111 §1.2.2): digits only, quoted or not; a number too large to represent means "very long".
    private static TimeSpan? Seconds(NameValueHeaderValue extension, ref string? rejected)
    {
        var value = HeaderUtilities.RemoveQuotes(extension.Value);
        if (value.Length == 0 || value.AsSpan().IndexOfAnyExceptInRange('0', '9') >= 0)
        {
            rejected = $"{extension.Name}={extension.Value}";
            return null;
        }

        return long.TryParse(value.AsSpan(), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var seconds)
            && seconds < (long)Max.TotalSeconds
            ? TimeSpan.FromSeconds(seconds)
            : Max;
    }
}
