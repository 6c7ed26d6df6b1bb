namespace MintCache.Bench.Shared;

/// <summary>The output-cache stores compared. The first of each backend is the baseline of its ratios.</summary>
public enum StoreKind
{
    /// <summary>ASP.NET Core's built-in <c>MemoryOutputCacheStore</c> (from <c>AddOutputCache()</c>).</summary>
    BuiltInMemory,

    /// <summary>MintCache on its memory backend (<c>AddMintStore()</c>).</summary>
    MintMemory,

    /// <summary>MintCache on its memory backend in the background refresh mode.</summary>
    MintMemoryBackground,

    /// <summary>ASP.NET Core's Redis store (<c>AddStackExchangeRedisOutputCache</c>).</summary>
    BuiltInRedis,

    /// <summary>FusionCache with a memory L1 and a Redis L2, mapped onto the store interface.</summary>
    FusionRedis,

    /// <summary>MintCache on its Redis backend with its defaults (near cache on, per issue 6).</summary>
    MintRedis,

    /// <summary>MintCache on its Redis backend, near cache off.</summary>
    MintRedisNoNear,

    /// <summary>MintCache on its Redis backend in the background refresh mode.</summary>
    MintRedisBackground,
}
