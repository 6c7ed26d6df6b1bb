using System.Reflection;
using MintCache.AspNetCore;

namespace MintCache.Bench.Shared;

/// <summary>
/// Enables MintCache's Redis backend once it exists: <c>AddMintStore(o => o.Redis = "host:port")</c> per issue 6.
/// Until the library has that option, <see cref="IsAvailable"/> is false and the Redis MintCache variants are
/// skipped, so the benchmarks need no change when it lands.
/// </summary>
internal static class MintRedisSupport
{
    private static readonly PropertyInfo? RedisProperty =
        typeof(MintCacheOptions).GetProperty("Redis", BindingFlags.Public | BindingFlags.Instance) is { CanWrite: true } p
        && p.PropertyType == typeof(string) ? p : null;

    // Any public bool option whose name mentions the near cache ("NearCache", "EnableNearCache", "UseNearCache"...).
    private static readonly PropertyInfo? NearCacheSwitch = typeof(MintCacheOptions)
        .GetProperties(BindingFlags.Public | BindingFlags.Instance)
        .FirstOrDefault(static p => p.CanWrite && p.PropertyType == typeof(bool) && p.Name.Contains("Near", StringComparison.OrdinalIgnoreCase));

    public static bool IsAvailable => RedisProperty is not null;

    public static bool CanTurnOffNearCache => NearCacheSwitch is not null;

    public static void Apply(MintCacheOptions options, string endpoint, bool nearCache)
    {
        if (RedisProperty is null)
        {
            throw new InvalidOperationException("MintCacheOptions.Redis does not exist yet: the Redis backend has not landed.");
        }

        RedisProperty.SetValue(options, endpoint);
        NearCacheSwitch?.SetValue(options, nearCache);
    }
}
