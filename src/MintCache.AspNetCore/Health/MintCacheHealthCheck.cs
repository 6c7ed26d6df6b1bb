using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging;
using MintCache.AspNetCore.Backends;
using MintCache.AspNetCore.Diagnostics;

namespace MintCache.AspNetCore.Health;

/// <summary>
/// Reports MintCache's backend: Healthy when it serves as configured, Degraded when the cache absorbs a failure
/// (a shared backend unreachable, its circuit open, a local fallback in service), as the backend reports it.
/// </summary>
/// <remarks>
/// Never Unhealthy on its own account: the cache never fails a request, so an orchestrator should not restart or
/// drain an instance because of it. A registration's <c>failureStatus</c> applies only if the check itself throws.
/// One instance per application, so that a change of status is logged once, when it happens, not at every probe.
/// </remarks>
internal sealed class MintCacheHealthCheck(IMintBackend backend, ILogger<MintCacheHealthCheck> logger) : IHealthCheck
{
    // Healthy until told otherwise: the first probe of a healthy backend logs nothing.
    private int _lastStatus = (int)HealthStatus.Healthy;

    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var result = await CheckBackendAsync(cancellationToken).ConfigureAwait(false);
        var previous = (HealthStatus)Interlocked.Exchange(ref _lastStatus, (int)result.Status);
        if (previous != result.Status)
        {
            var level = result.Status == HealthStatus.Healthy ? LogLevel.Information : LogLevel.Warning;
            Log.BackendHealthChanged(logger, level, backend.Name, result.Status.ToString(), previous.ToString(), result.Description);
        }

        return result;
    }

    private async Task<HealthCheckResult> CheckBackendAsync(CancellationToken cancellationToken)
    {
        if (backend is not IBackendHealth health)
        {
            return HealthCheckResult.Healthy(
                $"The {backend.Name} cache backend reports no health of its own.",
                new Dictionary<string, object> { [BackendHealthData.Backend] = backend.Name });
        }

        try
        {
            return await health.CheckHealthAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            return HealthCheckResult.Degraded(
                $"The {backend.Name} cache backend could not report its health; requests are still served.",
                ex,
                new Dictionary<string, object> { [BackendHealthData.Backend] = backend.Name });
        }
    }
}
