using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.OutputCaching;
using Microsoft.Extensions.Options;
using MintCache.AspNetCore.Backends;
using MintCache.AspNetCore.Policies;

namespace MintCache.AspNetCore.Refresh;

/// <summary>
/// Whether a page claimed now would be refreshed now: a stale page by a free background slot, or by its request in
/// the foreground mode; a page past its eager-at by a free slot only (see <see cref="IRefreshCapacity"/>).
/// </summary>
internal sealed class RefreshCapacity(BackgroundRegenerator regenerator, IOptions<MintCacheOptions> options, IHttpContextAccessor? httpContextAccessor = null)
    : IRefreshCapacity
{
    public bool CanRefreshStaleNow()
    {
        if (regenerator.HasFreeSlot || !regenerator.IsAttached)
        {
            return true;
        }

        // Outside a request (a direct caller) the caller renders what it claims.
        if (CurrentRequest is not { } cacheContext)
        {
            return true;
        }

        return ReservedTags.RefreshOf(cacheContext.Tags, options.Value.RefreshMode) != RefreshMode.Background;
    }

    public bool CanRefreshEarlyNow() => regenerator is { IsAttached: true, HasFreeSlot: true } && CurrentRequest is not null;

    /// <summary>The output-cache context of the request being served, if any: a background copy can only be made of one.</summary>
    private OutputCacheContext? CurrentRequest => httpContextAccessor?.HttpContext?.Features.Get<IOutputCacheFeature>()?.Context;
}
