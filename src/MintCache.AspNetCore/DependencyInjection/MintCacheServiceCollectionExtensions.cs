using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.OutputCaching;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using MintCache.AspNetCore;
using MintCache.AspNetCore.Backends;
using MintCache.AspNetCore.Backends.Memory;
using MintCache.AspNetCore.Backends.Redis;
using MintCache.AspNetCore.DependencyInjection;
using MintCache.AspNetCore.Diagnostics;
using MintCache.AspNetCore.Refresh;
using MintCache.AspNetCore.Store;
using StackExchange.Redis;

// Beside AddOutputCache, as ASP.NET Core's own output-cache extensions are.
namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers MintCache as the output-cache store.</summary>
public static class MintCacheServiceCollectionExtensions
{
    /// <summary>
    /// Makes MintCache the application's <see cref="IOutputCacheStore"/>, with its options bound from the
    /// <c>"MintCache"</c> configuration section when one exists.
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <returns>The service collection, for chaining.</returns>
    public static IServiceCollection AddMintStore(this IServiceCollection services)
        => services.AddMintStore(static _ => { });

    /// <summary>
    /// Makes MintCache the application's <see cref="IOutputCacheStore"/>, with its options bound from the
    /// <c>"MintCache"</c> configuration section when one exists and then changed by <paramref name="configure"/>.
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <param name="configure">Changes the options after configuration is bound.</param>
    /// <returns>The service collection, for chaining.</returns>
    /// <remarks>
    /// It replaces the built-in store whether it is called before or after <c>AddOutputCache()</c>. Invalid options
    /// fail the host's start with an <see cref="OptionsValidationException"/> that names each option at fault.
    /// </remarks>
    public static IServiceCollection AddMintStore(this IServiceCollection services, Action<MintCacheOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configure);

        // Configuration first, then the code's own changes, as Configure calls run in registration order.
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IConfigureOptions<MintCacheOptions>, MintCacheOptionsFromConfiguration>());
        services.AddOptions<MintCacheOptions>()
            .Configure(configure)
            .ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<MintCacheOptions>, MintCacheOptionsValidator>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<MintCacheOptions>, MintCacheOptionsRules>());

        services.TryAddSingleton(TimeProvider.System);

        // Instruments on a meter from the host's IMeterFactory: two hosts in one process report apart. A generic
        // host registers the factory already; a bare ServiceCollection gets it here.
        services.AddMetrics();
        services.TryAddSingleton<Metrics>();

        // Lets the store learn when the request that regenerates a page ends without storing it.
        services.AddHttpContextAccessor();
        services.TryAddEnumerable(ServiceDescriptor.Transient<IStartupFilter, ClaimWatchStartupFilter>());

        // Memory is the backend unless Redis is configured; then it is Redis's local fallback while Redis is down.
        services.TryAddSingleton<MemoryBackend>();
        services.TryAddSingleton(static sp => CreateRedisConnection(sp, sp.GetRequiredService<IOptions<MintCacheOptions>>().Value));
        services.TryAddSingleton<RedisBackend>();
        services.TryAddSingleton<IMintBackend>(static sp => sp.GetRequiredService<IOptions<MintCacheOptions>>().Value.UsesRedis
            ? sp.GetRequiredService<RedisBackend>()
            : sp.GetRequiredService<MemoryBackend>());
        services.TryAddSingleton<BackgroundRegenerator>();
        services.TryAddSingleton<IRefreshCapacity, RefreshCapacity>();

        // Stopped with the host: running regenerations are awaited, their claims released, up to its shutdown timeout.
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, BackgroundRegenerator>(static sp => sp.GetRequiredService<BackgroundRegenerator>()));
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IPostConfigureOptions<OutputCacheOptions>, OutputCacheOptionsSetup>());
        services.TryAddSingleton<MintOutputCacheStore>();
        services.TryAddSingleton<IMintCache>(static sp => sp.GetRequiredService<MintOutputCacheStore>());

        // Replace, not TryAdd: AddOutputCache try-adds the built-in memory store, and MintCache must be the store
        // whichever of the two calls comes first.
        services.RemoveAll<IOutputCacheStore>();
        services.AddSingleton<IOutputCacheStore>(static sp => sp.GetRequiredService<MintOutputCacheStore>());
        return services;
    }

    private static RedisConnection CreateRedisConnection(IServiceProvider services, MintCacheOptions options)
    {
        // The application's multiplexer is borrowed (never disposed); only one built from the string is owned.
        if (options.Redis.ConnectionMultiplexerFactory is { } factory)
        {
            return new RedisConnection(() => factory(services), owned: false);
        }

        var configuration = options.Redis.Configuration ?? throw new InvalidOperationException("MintCache has no Redis configured.");
        return new RedisConnection(
            async () => await ConnectionMultiplexer.ConnectAsync(RedisConnection.ParseOwnedOptions(configuration)).ConfigureAwait(false),
            owned: true);
    }
}
