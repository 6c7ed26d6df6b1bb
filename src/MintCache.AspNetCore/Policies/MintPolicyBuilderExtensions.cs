using MintCache.AspNetCore;
using MintCache.AspNetCore.Entries;
using MintCache.AspNetCore.Policies;

// Next to AddOutputCache's own builder, where users look for it.
namespace Microsoft.AspNetCore.OutputCaching;

/// <summary>MintCache settings on an output-cache policy.</summary>
public static class MintPolicyBuilderExtensions
{
    /// <summary>
    /// Sets how long past its freshness a page of this policy may be served stale while one request regenerates it,
    /// in place of <c>MintCacheOptions.Grace</c>.
    /// </summary>
    /// <param name="builder">The policy builder.</param>
    /// <param name="grace">The grace: more than zero and at most 30 days; whole milliseconds are kept.</param>
    /// <returns>The builder, for chaining.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="grace"/> is not more than zero or is over 30 days.</exception>
    /// <remarks>
    /// Works for <c>.CacheOutput(p => p.Grace(...))</c> and for named policies used by
    /// <c>[OutputCache(PolicyName = ...)]</c>. The setting reaches the store as a reserved tag that the store strips;
    /// it never counts as a tag of the entry.
    /// </remarks>
    public static OutputCachePolicyBuilder Grace(this OutputCachePolicyBuilder builder, TimeSpan grace)
    {
        ArgumentNullException.ThrowIfNull(builder);
        CheckGrace(grace, nameof(grace));
        return builder.Tag(ReservedTags.ForGrace(grace));
    }

    /// <summary>
    /// Sets who regenerates the stale pages of this policy, in place of <c>MintCacheOptions.RefreshMode</c>.
    /// </summary>
    /// <param name="builder">The policy builder.</param>
    /// <param name="mode">
    /// <see cref="RefreshMode.Background"/> serves every request the stale page and regenerates it with an in-memory
    /// copy of the request that won the refresh claim; <see cref="RefreshMode.Foreground"/> lets that request
    /// regenerate it while it waits.
    /// </param>
    /// <returns>The builder, for chaining.</returns>
    /// <remarks>
    /// A request that cannot be copied (a method other than GET or HEAD), or whose copy the app's policies give another
    /// cache key (a <c>VaryByValue</c> computed from something other than the request), is refreshed in the foreground.
    /// </remarks>
    public static OutputCachePolicyBuilder Refresh(this OutputCachePolicyBuilder builder, RefreshMode mode)
    {
        ArgumentNullException.ThrowIfNull(builder);
        CheckRefresh(mode, nameof(mode));
        builder.Tag(ReservedTags.ForRefresh(mode));
        return mode == RefreshMode.Background ? builder.AddPolicy<RegenerationPolicy>() : builder;
    }

    /// <summary>
    /// Refreshes the pages of this policy early, in place of <c>MintCacheOptions.EagerRefreshThreshold</c>: once a page
    /// has been fresh for <paramref name="threshold"/> of its freshness, the next lookup wins a claim and refreshes it in
    /// the background while everyone is still served the fresh page.
    /// </summary>
    /// <param name="builder">The policy builder.</param>
    /// <param name="threshold">The share of the freshness after which the page is refreshed: greater than 0 and less than 1, such as 0.8.</param>
    /// <returns>The builder, for chaining.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="threshold"/> is not greater than 0 and less than 1.</exception>
    /// <remarks>One refresh per freshness period, farm-wide; a page that gets no traffic is not refreshed.</remarks>
    public static OutputCachePolicyBuilder EagerRefresh(this OutputCachePolicyBuilder builder, double threshold)
    {
        ArgumentNullException.ThrowIfNull(builder);
        CheckEagerRefresh(threshold, nameof(threshold));
        builder.Tag(ReservedTags.ForEager(threshold));

        // An eager refresh always runs in the background: its copy needs a key of its own even in the foreground mode.
        return builder.AddPolicy<RegenerationPolicy>();
    }

    internal static void CheckEagerRefresh(double threshold, string paramName)
    {
        if (!(threshold > 0 && threshold < 1))
        {
            throw new ArgumentOutOfRangeException(paramName, threshold, "An eager refresh threshold must be greater than 0 and less than 1.");
        }
    }

    // Shared with MintOutputCacheAttribute, which checks its values when MVC reads it rather than on a request.
    internal static void CheckGrace(TimeSpan grace, string paramName)
    {
        // 30 days: the bound of MintCacheOptions.Grace, within the 4-byte milliseconds the Redis entry format holds.
        if (grace < TimeSpan.FromMilliseconds(1) || grace > EntryLifetime.MaxGrace)
        {
            throw new ArgumentOutOfRangeException(paramName, grace, "Grace must be between 1 millisecond and 30 days.");
        }
    }

    internal static void CheckRefresh(RefreshMode mode, string paramName)
    {
        if (!Enum.IsDefined(mode))
        {
            throw new ArgumentOutOfRangeException(paramName, mode, "Unknown refresh mode.");
        }
    }
}
