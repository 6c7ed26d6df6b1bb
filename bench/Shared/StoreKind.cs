namespace MintCache.Bench.Shared;

/// <summary>The output-cache stores compared. The first of each backend is the baseline of its ratios.</summary>
public enum StoreKind
{
    /// <summary>ASP.NET Core's built-in <c>MemoryOutputCacheStore</c> (from <c>AddOutputCache()</c>).</summary>
    BuiltInMemory,

    /// <summary>MintCache on its memory backend in the foreground refresh mode (the request that wins a claim renders).</summary>
    MintMemory,

    /// <summary>MintCache on its memory backend with its defaults (<c>AddMintStore()</c>): background refresh.</summary>
    MintMemoryBackground,

    /// <summary>ASP.NET Core's Redis store (<c>AddStackExchangeRedisOutputCache</c>).</summary>
    BuiltInRedis,

    /// <summary>FusionCache with a memory L1 and a Redis L2, mapped onto the store interface.</summary>
    FusionRedis,

    /// <summary>MintCache on its Redis backend, near cache on, in the foreground refresh mode.</summary>
    MintRedis,

    /// <summary>MintCache on its Redis backend, near cache off, in the foreground refresh mode.</summary>
    MintRedisNoNear,

    /// <summary>MintCache on its Redis backend with its defaults: near cache on, background refresh.</summary>
    MintRedisBackground,
}
