using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using MintCache.AspNetCore.Health;

// Beside AddHealthChecks' own builder extensions.
namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers MintCache's health check.</summary>
public static class MintCacheHealthChecksBuilderExtensions
{
    /// <summary>The name the check is registered under unless another is given.</summary>
    public const string DefaultName = "mintcache";

    /// <summary>
    /// Adds a health check that reports MintCache's backend: Healthy, or Degraded while the cache absorbs a backend
    /// failure (for Redis: it does not answer a ping, its circuit is open, or the local fallback is in service), with
    /// the facts in its data.
    /// </summary>
    /// <param name="builder">The health checks builder, from <c>services.AddHealthChecks()</c>.</param>
    /// <param name="name">The check's name; the default value is <c>"mintcache"</c>.</param>
    /// <param name="tags">Tags to filter checks by, for example <c>"ready"</c>.</param>
    /// <param name="failureStatus">
    /// The status reported when the check itself fails or times out; the default value is
    /// <see cref="HealthStatus.Degraded"/>.
    /// </param>
    /// <param name="timeout">How long the check may take; the default value is <see langword="null"/> (no limit of its own).</param>
    /// <returns>The builder, for chaining.</returns>
    /// <remarks>
    /// Needs <c>AddMintStore()</c>. The check never reports Unhealthy on its own account: the cache never fails a
    /// request. With Redis it pings, bounded by <c>MintRedisOptions.OperationTimeout</c>, and reuses one answer for
    /// a second, so it reads Degraded from start-up while Redis cannot be reached, with no traffic needed.
    /// </remarks>
    public static IHealthChecksBuilder AddMintCache(
        this IHealthChecksBuilder builder,
        string name = DefaultName,
        IEnumerable<string>? tags = null,
        HealthStatus? failureStatus = null,
        TimeSpan? timeout = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrEmpty(name);

        // One instance, not one per probe: it remembers the last status to log changes only.
        builder.Services.TryAddSingleton<MintCacheHealthCheck>();
        return builder.Add(new HealthCheckRegistration(
            name, static sp => sp.GetRequiredService<MintCacheHealthCheck>(), failureStatus ?? HealthStatus.Degraded, tags ?? [], timeout));
    }
}
