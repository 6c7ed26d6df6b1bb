using Microsoft.AspNetCore.OutputCaching;
using ZiggyCreatures.Caching.Fusion;

namespace MintCache.Bench.Shared;

/// <summary>
/// An <see cref="IOutputCacheStore"/> over FusionCache, standing in for FusionCache's own output-cache package
/// (ZiggyCreatures.FusionCache.AspNetCore.OutputCaching), which the package feed of this machine does not serve.
/// It does what that package's store does: a thin mapping of get / set with duration and tags / remove by tag
/// onto <see cref="IFusionCache"/>; no stale-while-revalidate, no coalescing of its own.
/// </summary>
internal sealed class FusionOutputCacheAdapter(IFusionCache cache) : IOutputCacheStore
{
    public ValueTask<byte[]?> GetAsync(string key, CancellationToken cancellationToken)
        => cache.GetOrDefaultAsync<byte[]?>(key, null, token: cancellationToken);

    public ValueTask SetAsync(string key, byte[] value, string[]? tags, TimeSpan validFor, CancellationToken cancellationToken)
        => cache.SetAsync(key, value, new FusionCacheEntryOptions(validFor), tags, token: cancellationToken);

    public ValueTask EvictByTagAsync(string tag, CancellationToken cancellationToken)
        => cache.RemoveByTagAsync(tag, token: cancellationToken);
}
