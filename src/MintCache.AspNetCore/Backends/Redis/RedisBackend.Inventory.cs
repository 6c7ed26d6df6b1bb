using MintCache.AspNetCore.Diagnostics;

namespace MintCache.AspNetCore.Backends.Redis;

/// <summary>What the Redis backend holds in this process, for the <c>mintcache.entries</c> and <c>mintcache.size</c> instruments.</summary>
internal sealed partial class RedisBackend
{
    long? IBackendInventory.NearCacheHits => _near is null ? null : NearHits;

    IEnumerable<BackendHolding> IBackendInventory.Holdings()
    {
        // The pages in Redis are the farm's, counted by Redis itself; this process holds only its copies and the
        // pages its fallback kept while Redis was unreachable.
        if (_near is { } near)
        {
            yield return new BackendHolding(Tags.KindNear, near.Count, near.Size);
        }

        yield return new BackendHolding(Tags.KindFallback, _local.Count, _local.Size);
    }
}
