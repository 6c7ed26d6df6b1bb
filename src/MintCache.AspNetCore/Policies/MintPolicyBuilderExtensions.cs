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
        if (grace < TimeSpan.FromMilliseconds(1) || grace > TimeSpan.FromDays(30))
        {
            throw new ArgumentOutOfRangeException(nameof(grace), grace, "Grace must be between 1 millisecond and 30 days.");
        }

        return builder.Tag(ReservedTags.ForGrace(grace));
    }
}
