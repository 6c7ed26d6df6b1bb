using System.Globalization;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.OutputCaching;
using Microsoft.Extensions.Primitives;
using MintCache.AspNetCore.Diagnostics;

namespace MintCache.AspNetCore.Policies;

/// <summary>
/// Writes the <c>Cache-Status</c> response header (RFC 9211) when <see cref="MintCacheOptions.CacheStatusHeader"/> is on.
/// </summary>
/// <remarks>
/// <para>
/// The store sees only keys, and the middleware shares one lookup among the concurrent requests of a key. So the
/// store records its answer in a <see cref="CacheStatusFeature"/> of the request whose flow ran the lookup, and the
/// header is written from <c>Response.OnStarting</c>, which runs after the middleware copied a cached response's headers
/// and set its <c>Age</c>, and after it captured a new response's headers for storage: the header is never cached.
/// </para>
/// <para>
/// A request that shared another's lookup has no answer of its own. Whether it was served from the cache shows in
/// the <c>Age</c> header the middleware sets only then; its freshness is the policy's expiration minus that age.
/// </para>
/// </remarks>
internal sealed class CacheStatusPolicy(TimeSpan defaultExpiration) : IOutputCachePolicy
{
    public const string HeaderName = "Cache-Status";

    private const string CacheName = "MintCache";

    public ValueTask CacheRequestAsync(OutputCacheContext context, CancellationToken cancellationToken)
    {
        var feature = new CacheStatusFeature();
        context.HttpContext.Features.Set(feature);
        context.HttpContext.Response.OnStarting(
            static state =>
            {
                var (policy, context, feature) = ((CacheStatusPolicy, OutputCacheContext, CacheStatusFeature))state;
                policy.Write(context, feature);
                return Task.CompletedTask;
            },
            (this, context, feature));
        return ValueTask.CompletedTask;
    }

    public ValueTask ServeFromCacheAsync(OutputCacheContext context, CancellationToken cancellationToken) => ValueTask.CompletedTask;

    public ValueTask ServeResponseAsync(OutputCacheContext context, CancellationToken cancellationToken) => ValueTask.CompletedTask;

    private void Write(OutputCacheContext context, CacheStatusFeature feature)
    {
        if (!context.EnableOutputCaching)
        {
            // Not a cached endpoint: the cache had no say in this response.
            return;
        }

        var headers = context.HttpContext.Response.Headers;
        var value = Format(context, feature.State, headers.Age, feature.Missed);

        // This cache is the one closest to the origin, so it comes first (RFC 9211, section 2).
        headers[HeaderName] = StringValues.Concat(value, headers[HeaderName]);
    }

    internal string Format(OutputCacheContext context, string? state, StringValues age, bool missed = false)
    {
        if (!context.AllowCacheLookup)
        {
            return $"{CacheName}; fwd=bypass";
        }

        if (!long.TryParse(age.ToString(), NumberStyles.None, CultureInfo.InvariantCulture, out var ageSeconds))
        {
            // Not served from the cache: forwarded to the endpoint. A miss on a stale entry means its claim was won.
            return state == Tags.StateStale ? $"{CacheName}; fwd=stale" : $"{CacheName}; fwd=miss";
        }

        if (missed)
        {
            // Served from the cache although this request's own lookup missed: the middleware ran the endpoint for
            // another request that shared the lookup, and served this one the new page. What the lookup found (a
            // stale page, say) is not what was served.
            state = null;
        }

        // HTTP's own arithmetic, as a client would do it from Age; the store's clock decides fresh or stale, so
        // the two are kept in agreement when clocks disagree by a second (Age is truncated to whole seconds).
        var freshness = (long)(context.ResponseExpirationTimeSpan ?? defaultExpiration).TotalSeconds;
        var ttl = freshness - ageSeconds;
        ttl = state switch
        {
            Tags.StateStale => Math.Min(ttl, 0),
            Tags.StateFresh => Math.Max(ttl, 1),
            _ => ttl,
        };

        // A stale page served without going to the endpoint is still a hit; its negative ttl says it is stale.
        return string.Create(CultureInfo.InvariantCulture, $"{CacheName}; hit; ttl={ttl}");
    }
}
