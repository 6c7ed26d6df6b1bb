using Microsoft.AspNetCore.OutputCaching;
using Microsoft.Extensions.Caching.StackExchangeRedis;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using MintCache.AspNetCore;
using ZiggyCreatures.Caching.Fusion;
using ZiggyCreatures.Caching.Fusion.Serialization.SystemTextJson;

namespace MintCache.Bench.Shared;

/// <summary>Registers one of the compared stores the way an application would.</summary>
internal static class StoreHost
{
    public static bool NeedsRedis(StoreKind kind) => kind >= StoreKind.BuiltInRedis;

    /// <summary>The stores that can run here: the Redis ones only with a Redis endpoint.</summary>
    public static IEnumerable<StoreKind> Available(string? redisEndpoint)
    {
        yield return StoreKind.BuiltInMemory;
        yield return StoreKind.MintMemory;
        if (redisEndpoint is null)
        {
            yield break;
        }

        yield return StoreKind.BuiltInRedis;
        yield return StoreKind.FusionRedis;
        yield return StoreKind.MintRedis;
        yield return StoreKind.MintRedisNoNear;
    }

    /// <summary>Whether the store keeps its entries in Redis.</summary>
    public static bool UsesRedis(StoreKind kind)
        => kind is StoreKind.BuiltInRedis or StoreKind.FusionRedis or StoreKind.MintRedis or StoreKind.MintRedisNoNear or StoreKind.MintRedisBackground;

    /// <summary>Adds output caching with <paramref name="kind"/> as its store to an application's services.</summary>
    public static void AddStore(IServiceCollection services, StoreKind kind, string? redisEndpoint, Action<MintCacheOptions>? mint = null)
    {
        services.AddOutputCache();
        switch (kind)
        {
            case StoreKind.BuiltInMemory:
                break;
            case StoreKind.MintMemory:
                services.AddMintStore(o =>
                {
                    o.RefreshMode = RefreshMode.Foreground;
                    mint?.Invoke(o);
                });
                break;
            case StoreKind.MintMemoryBackground:
                // The defaults: background refresh is what AddMintStore() gives.
                services.AddMintStore(o => mint?.Invoke(o));
                break;
            case StoreKind.BuiltInRedis:
                services.AddStackExchangeRedisOutputCache(o => o.Configuration = Require(redisEndpoint));
                break;
            case StoreKind.FusionRedis:
                services.AddFusionCache()
                    .WithSerializer(new FusionCacheSystemTextJsonSerializer())
                    .WithDistributedCache(new RedisCache(new RedisCacheOptions { Configuration = Require(redisEndpoint) }));
                services.AddSingleton<IOutputCacheStore>(static sp => new FusionOutputCacheAdapter(sp.GetRequiredService<IFusionCache>()));
                break;
            case StoreKind.MintRedis:
            case StoreKind.MintRedisNoNear:
            case StoreKind.MintRedisBackground:
                var endpoint = Require(redisEndpoint);
                var near = kind != StoreKind.MintRedisNoNear;
                services.AddMintStore(o =>
                {
                    o.Redis.Configuration = endpoint;
                    o.Redis.NearCache = near;
                    if (kind != StoreKind.MintRedisBackground)
                    {
                        o.RefreshMode = RefreshMode.Foreground;
                    }

                    mint?.Invoke(o);
                });
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(kind), kind, null);
        }
    }

    /// <summary>A container holding only the store, for store-level benchmarks.</summary>
    public static ServiceProvider BuildStoreOnly(StoreKind kind, string? redisEndpoint, Action<MintCacheOptions>? mint = null)
    {
        var services = new ServiceCollection();
        services.AddLogging(static b => b.SetMinimumLevel(LogLevel.Warning));
        AddStore(services, kind, redisEndpoint, mint);
        return services.BuildServiceProvider();
    }

    private static string Require(string? redisEndpoint)
        => redisEndpoint ?? throw new InvalidOperationException($"This store needs Redis: set {LocalRedis.EnvironmentVariable} or install redis-server.");
}
