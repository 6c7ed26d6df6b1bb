using System.Diagnostics;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using MintCache.AspNetCore.Diagnostics;
using Polly.CircuitBreaker;
using StackExchange.Redis;

namespace MintCache.AspNetCore.Backends.Redis;

/// <summary>
/// What the health check reports: a ping of Redis, bounded by <see cref="MintRedisOptions.OperationTimeout"/> and
/// reused for <see cref="ProbeReuse"/>, next to the state the backend keeps anyway (circuit, local fallback).
/// </summary>
/// <remarks>
/// Probing rather than reading the state alone: a process started while Redis is down, with no traffic yet, has no
/// failed call to remember, and would read Healthy.
/// </remarks>
internal sealed partial class RedisBackend : IBackendHealth
{
    // A busy health endpoint must not ping Redis once per probe of its own.
    internal static readonly TimeSpan ProbeReuse = TimeSpan.FromSeconds(1);

    private Probe? _lastProbe;
    private RedisMemoryPolicy? _memoryPolicy;

    private RedisMemoryPolicy MemoryPolicy
        => LazyInitializer.EnsureInitialized(ref _memoryPolicy, () => new RedisMemoryPolicy(_logger, _options.Redis.OperationTimeout));

    /// <summary>The first connection: subscribes, and reads the memory policy so that a risky one is said at start-up.</summary>
    private void OnConnected(IConnectionMultiplexer multiplexer)
    {
        _notifications.EnsureStarted(multiplexer);
        _ = MemoryPolicy.ReadAsync(multiplexer);
        _dictionaries.StartSync();
    }

    public async ValueTask<HealthCheckResult> CheckHealthAsync(CancellationToken cancellationToken)
    {
        var answers = await ProbeAsync().ConfigureAwait(false);
        var circuit = _availability.Circuit switch
        {
            CircuitState.Closed => "closed",
            CircuitState.Open => "open",
            CircuitState.HalfOpen => "half-open",
            _ => "isolated",
        };
        var degraded = IsDegraded;
        var data = new Dictionary<string, object>
        {
            [BackendHealthData.Backend] = Name,
            [BackendHealthData.Reachable] = answers,
            [BackendHealthData.Circuit] = circuit,
            [BackendHealthData.FallbackActive] = degraded,
        };

        // Degraded, never Unhealthy: requests are still served, from the local fallback, with per-process protection.
        if (!answers)
        {
            return HealthCheckResult.Degraded($"Redis does not answer a ping (circuit {circuit}); this process serves from its local in-memory cache.", data: data);
        }

        if (degraded || _availability.Circuit is CircuitState.Open or CircuitState.Isolated)
        {
            return HealthCheckResult.Degraded($"Redis answers again, but this process still serves from its local in-memory cache (circuit {circuit}) until its next call to Redis succeeds.", data: data);
        }

        var policy = await ReadMemoryPolicyAsync().ConfigureAwait(false);
        if (policy is not null)
        {
            data[BackendHealthData.MemoryPolicy] = policy;
        }

        return RedisMemoryPolicy.EvictsPurgeKeys(policy)
            ? HealthCheckResult.Degraded($"Redis runs with maxmemory-policy {policy}: under memory pressure it may evict the keys purges and claims rely on, so a purge may be lost.", data: data)
            : HealthCheckResult.Healthy("Redis answers; the farm shares one cache.", data);
    }

    /// <summary>The memory policy, once connected; unknown (null) when Redis refuses to say or does not answer in time.</summary>
    private async Task<string?> ReadMemoryPolicyAsync()
    {
        var connecting = _connection.GetAsync(CancellationToken.None);
        if (!connecting.IsCompletedSuccessfully)
        {
            return null;
        }

        return await MemoryPolicy.ReadAsync(connecting.Result).ConfigureAwait(false);
    }

    /// <summary>Whether Redis answers a ping within the operation timeout; one answer serves every check for a second.</summary>
    private async ValueTask<bool> ProbeAsync()
    {
        // Reused only while the backend stays where it was: a return to Redis, or a fall back, deserves a fresh answer.
        var degraded = IsDegraded;
        if (Volatile.Read(ref _lastProbe) is { } last && last.Degraded == degraded && Stopwatch.GetElapsedTime(last.At) < ProbeReuse)
        {
            return await last.Answers.ConfigureAwait(false);
        }

        var probe = new Probe(Stopwatch.GetTimestamp(), degraded, PingAsync());
        Volatile.Write(ref _lastProbe, probe);
        return await probe.Answers.ConfigureAwait(false);
    }

    /// <summary>
    /// Whether Redis answers within the operation timeout, outside the pipeline: a ping, or a read of
    /// <paramref name="key"/>, which asks the node that serves its slot.
    /// </summary>
    private async Task<bool> PingAsync(string? key = null)
    {
        // Real time, as the connection and Redis's answers come in real time.
        var timeout = _options.Redis.OperationTimeout;
        try
        {
            var multiplexer = await _connection.GetAsync(CancellationToken.None).AsTask().WaitAsync(timeout).ConfigureAwait(false);
            await AskAsync(multiplexer.GetDatabase(), key).WaitAsync(timeout).ConfigureAwait(false);
            return true;
        }
#pragma warning disable CA1031 // Whatever stops the ping, Redis did not answer it: the check reports that, never throws.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            Log.RedisCallFailed(_logger, ex);
            return false;
        }
    }

    // A ping, or a read of the key: on a cluster, only the key's slot proves that its node answers.
    private static Task AskAsync(IDatabase db, string? key) => key is null ? db.PingAsync() : db.KeyExistsAsync(key);

    private sealed record Probe(long At, bool Degraded, Task<bool> Answers);
}
