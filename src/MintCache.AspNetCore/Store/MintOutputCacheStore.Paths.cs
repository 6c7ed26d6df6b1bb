using Microsoft.AspNetCore.Http;
using MintCache.AspNetCore.Policies;

namespace MintCache.AspNetCore.Store;

/// <summary>
/// Evictions by request path (<see cref="MintCacheOptions.TrackPaths"/>): every page is stored with a reserved tag of
/// its path, and a path eviction is a tag eviction of it, so it holds on every backend with a tag eviction's
/// guarantees (evictions win).
/// </summary>
internal sealed partial class MintOutputCacheStore
{
    public ValueTask EvictByPathAsync(string path, CancellationToken cancellationToken = default)
        => EvictTagAsync(PathTagOf(path), soft: false, cancellationToken);

    public ValueTask MarkStaleByPathAsync(string path, CancellationToken cancellationToken = default)
        => EvictTagAsync(PathTagOf(path), soft: true, cancellationToken);

    /// <summary>
    /// Adds the path tag of the request that rendered the page, with <see cref="MintCacheOptions.TrackPaths"/> on. The
    /// request is the live one or a background regeneration's copy, which has the same path base and path. A store
    /// with no request (a direct caller), or whose key does not hold the request's path (a direct caller inside some
    /// other request), is not indexed by path.
    /// </summary>
    private string[] WithPathTag(string key, string[] userTags, HttpContext? httpContext)
    {
        if (!_options.TrackPaths || httpContext is null)
        {
            return userTags;
        }

        var request = httpContext.Request;
        var path = Normalize(request.PathBase.Value + request.Path.Value);
        return key.Contains(path, StringComparison.Ordinal) ? [.. userTags, ReservedTags.ForPath(path)] : userTags;
    }

    private string PathTagOf(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!_options.TrackPaths)
        {
            throw new InvalidOperationException(
                $"Evicting by path needs {nameof(MintCacheOptions)}.{nameof(MintCacheOptions.TrackPaths)} = true, which indexes every stored page by its path.");
        }

        if (!path.StartsWith('/') || path.Contains('?', StringComparison.Ordinal))
        {
            throw new ArgumentException(
                "The path must start with '/' and hold no query string: every query string of the path is evicted with it.", nameof(path));
        }

        return ReservedTags.ForPath(Normalize(path));
    }

    /// <summary>As the output cache's key holds path base and path: upper-invariant unless paths are case-sensitive.</summary>
    private string Normalize(string path) => _caseSensitivePaths ? path : path.ToUpperInvariant();
}
