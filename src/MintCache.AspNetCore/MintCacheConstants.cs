namespace MintCache.AspNetCore;

/// <summary>Default values of <see cref="MintCacheOptions"/>.</summary>
internal static class MintCacheConstants
{
    public static readonly TimeSpan DefaultGrace = TimeSpan.FromSeconds(30);

    public static readonly TimeSpan DefaultLeaseDuration = TimeSpan.FromSeconds(10);

    public static readonly TimeSpan DefaultFailureBackoff = TimeSpan.FromSeconds(2);

    public const string DefaultKeyPrefix = "mint:";

    public const string DefaultResponseTagHeader = "Surrogate-Key";

    /// <summary>How many tags one response may add through the response tag header; the rest are ignored.</summary>
    public const int MaxResponseTags = 32;

    /// <summary>The longest tag, in characters, a response may add through the response tag header.</summary>
    public const int MaxResponseTagLength = 128;

    public const int DefaultMaxConcurrentRegenerations = 4;

    public static readonly TimeSpan DefaultRegenerationTimeout = TimeSpan.FromSeconds(30);

    public static readonly TimeSpan DefaultRedisOperationTimeout = TimeSpan.FromMilliseconds(500);

    public static readonly TimeSpan DefaultRedisBreakDuration = TimeSpan.FromSeconds(5);

    public const double DefaultRedisFailureRatio = 0.5;

    public const int DefaultRedisMinimumThroughput = 10;

    public static readonly TimeSpan DefaultColdMissWait = TimeSpan.FromSeconds(10);

    public const long DefaultNearCacheSizeLimit = 64L * 1024 * 1024;

    /// <summary>The default <see cref="MintRedisOptions.CompressionThreshold"/>: 1 KiB.</summary>
    public const int DefaultCompressionThreshold = 1024;

    /// <summary>The window over which the Redis circuit breaker counts failures.</summary>
    public static readonly TimeSpan RedisSamplingDuration = TimeSpan.FromSeconds(10);
}
