namespace MintCache.AspNetCore;

/// <summary>Default values of <see cref="MintCacheOptions"/>.</summary>
internal static class MintCacheConstants
{
    public static readonly TimeSpan DefaultGrace = TimeSpan.FromSeconds(30);

    public static readonly TimeSpan DefaultLeaseDuration = TimeSpan.FromSeconds(10);

    public static readonly TimeSpan DefaultFailureBackoff = TimeSpan.FromSeconds(2);

    public const string DefaultKeyPrefix = "mint:";

    public const int DefaultMaxConcurrentRegenerations = 4;

    public static readonly TimeSpan DefaultRegenerationTimeout = TimeSpan.FromSeconds(30);
}
