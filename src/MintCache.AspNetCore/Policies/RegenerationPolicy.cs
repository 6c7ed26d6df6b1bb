using Microsoft.AspNetCore.OutputCaching;
using MintCache.AspNetCore.Refresh;

namespace MintCache.AspNetCore.Policies;

/// <summary>
/// Gives a background regeneration a cache key of its own (a vary-by value no other request has, see
/// <see cref="RegenerationFeature.MarkerName"/>) and turns its lookup and lock off, so that it always runs the
/// endpoint; the store takes the marker out of the key when the page is stored. Requests that are not regenerations
/// pass through untouched.
/// </summary>
/// <remarks>
/// Registered as a base policy when background refresh is the default, and added to a policy by
/// <c>.Refresh(RefreshMode.Background)</c>. As a base policy it runs before the endpoint's own policy, which may set
/// a prefix, add vary-by values, or set lookup and locking back on; the marker, which none of those removes, is what
/// still keeps the regeneration apart then.
/// </remarks>
internal sealed class RegenerationPolicy : IOutputCachePolicy
{
    public static readonly RegenerationPolicy Instance = new();

    public ValueTask CacheRequestAsync(OutputCacheContext context, CancellationToken cancellationToken)
    {
        if (context.HttpContext.Features.Get<RegenerationFeature>() is { } regeneration)
        {
            context.CacheVaryByRules.VaryByValues[RegenerationFeature.MarkerName] = regeneration.MarkerValue;
            context.AllowCacheLookup = false;
            context.AllowLocking = false;
        }

        return ValueTask.CompletedTask;
    }

    public ValueTask ServeFromCacheAsync(OutputCacheContext context, CancellationToken cancellationToken) => ValueTask.CompletedTask;

    public ValueTask ServeResponseAsync(OutputCacheContext context, CancellationToken cancellationToken) => ValueTask.CompletedTask;
}
