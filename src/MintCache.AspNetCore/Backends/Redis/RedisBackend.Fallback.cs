using MintCache.AspNetCore.Diagnostics;
using StackExchange.Redis;

namespace MintCache.AspNetCore.Backends.Redis;

/// <summary>
/// Degraded mode, as the backend sees it: <see cref="RedisAvailability"/> decides whether Redis is usable; here each
/// call's outcome is reported to it, counted and logged, and what turning Degraded or Healthy means for this backend's
/// own state (near copies, last known pages, notifications) is done.
/// </summary>
internal sealed partial class RedisBackend
{
    /// <summary>For tests and health checks: whether this process currently answers from local memory.</summary>
    internal bool IsDegraded => _availability.IsDegraded;

    /// <summary>For tests: the local fallback this backend answers from while Redis fails.</summary>
    internal Memory.MemoryBackend Local => _local;

    /// <summary>Whether to answer from local memory without asking Redis (see <see cref="RedisAvailability.AnswersLocally"/>).</summary>
    private bool AnswersLocally => _availability.AnswersLocally;

    private long BeginCall() => _availability.BeginCall();

    private void OnSuccess(long call)
    {
        // Redis answers: a subscription lost with a connection that never comes back (a master that died in a failover)
        // is proven again here.
        _notifications.Resume(_options.Redis.OperationTimeout);
        _availability.OnSuccess(call);
    }

    private void OnFailure(long call, Exception exception, string operation, RedisKey? failedEntryKey = null)
    {
        // The store never sees these failures (the local backend answered), so they are counted here.
        _metrics.BackendError(Name, operation);
        Log.RedisCallFailed(_logger, exception);
        _availability.OnFailure(call, exception, failedEntryKey is { } entryKey ? (string?)entryKey : null);
    }

    private void OnDegraded()
    {
        KeepLastKnownWhileDegraded();
        _notifications.Invalidate();
        _metrics.FallbackToLocal(Name);
    }

    private void OnRestored() => SettleOnReturn();

    /// <summary>
    /// Whether an exception means Redis failed (and the local backend should answer), rather than that the caller
    /// gave up, which is no failure and propagates as a cancellation.
    /// </summary>
    private static bool IsRedisFailure(Exception exception, CancellationToken cancellationToken)
        => !(exception is OperationCanceledException && cancellationToken.IsCancellationRequested);
}
