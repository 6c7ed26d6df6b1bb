using Microsoft.Extensions.Diagnostics.HealthChecks;
using Polly.CircuitBreaker;

namespace MintCache.AspNetCore.Backends.Redis;

/// <summary>What the health check reports: read from the state the backend keeps anyway, never a probe of its own.</summary>
internal sealed partial class RedisBackend : IBackendHealth
{
    public ValueTask<HealthCheckResult> CheckHealthAsync(CancellationToken cancellationToken)
    {
        var circuit = _breaker.CircuitState switch
        {
            CircuitState.Closed => "closed",
            CircuitState.Open => "open",
            CircuitState.HalfOpen => "half-open",
            _ => "isolated",
        };
        var degraded = IsDegraded;
        var reachable = !degraded && _breaker.CircuitState is CircuitState.Closed or CircuitState.HalfOpen;
        var data = new Dictionary<string, object>
        {
            [BackendHealthData.Backend] = Name,
            [BackendHealthData.Reachable] = reachable,
            [BackendHealthData.Circuit] = circuit,
            [BackendHealthData.FallbackActive] = degraded,
        };

        // Degraded, never Unhealthy: requests are still served, from the local fallback, with per-process protection.
        return ValueTask.FromResult(reachable
            ? HealthCheckResult.Healthy("Redis answers; the farm shares one cache.", data)
            : HealthCheckResult.Degraded($"Redis does not answer (circuit {circuit}); this process serves from its local in-memory cache.", data: data));
    }
}
