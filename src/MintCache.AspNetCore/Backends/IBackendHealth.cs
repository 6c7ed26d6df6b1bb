using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace MintCache.AspNetCore.Backends;

/// <summary>
/// Implemented by a backend that can say how it is doing, for the MintCache health check.
/// </summary>
/// <remarks>
/// Report <see cref="HealthStatus.Degraded"/>, not Unhealthy, for anything the cache absorbs (a shared backend
/// unreachable, its circuit open, a local fallback in service): requests are still served, with less protection.
/// Put the facts in <see cref="HealthCheckResult.Data"/> under the keys of <see cref="BackendHealthData"/>. It must
/// answer quickly from state the backend already has (the circuit, the connection), not with a new round trip per
/// probe.
/// </remarks>
internal interface IBackendHealth
{
    ValueTask<HealthCheckResult> CheckHealthAsync(CancellationToken cancellationToken);
}
