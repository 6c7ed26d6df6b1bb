using System.Diagnostics;
using MintCache.AspNetCore.Diagnostics;
using Polly.CircuitBreaker;
using StackExchange.Redis;

namespace MintCache.AspNetCore.Backends.Redis;

/// <summary>
/// Degraded mode: while Redis fails, this process answers from its local memory backend, and says so once.
/// </summary>
/// <remarks>
/// The state changes twice per outage, each logged once: the first failure switches to local memory (Warning), and
/// the first success of a call that <em>started</em> after that switches back (Information). Requiring a later start
/// keeps a slow success that was already in flight when Redis died from flipping the state back and forth, which would
/// log once per request instead of once per outage.
/// </remarks>
internal sealed partial class RedisBackend
{
    // Calls are numbered as they start; _degradedAt is the number reached when Redis was found failing, 0 while healthy.
    private long _calls;
    private long _degradedAt;
    private long _degradedSince;
    private long _probeAt;
    private string? _failedKey;

    /// <summary>For tests and health checks: whether this process currently answers from local memory.</summary>
    internal bool IsDegraded => Volatile.Read(ref _degradedAt) != 0;

    /// <summary>
    /// Whether to skip Redis entirely: the breaker is open and its break has not run out. Polly moves an open breaker
    /// to half-open only when a call is attempted after the break, so once the break is over calls must go to the
    /// pipeline again, or the breaker would never probe Redis and the process would never come back.
    /// </summary>
    private bool IsCircuitOpen => _breaker.CircuitState switch
    {
        CircuitState.Isolated => true,
        CircuitState.Open => _timeProvider.GetTimestamp() < Volatile.Read(ref _probeAt),
        _ => false,
    };

    /// <summary>
    /// Whether to answer from local memory without asking Redis: from the first failure until the return probe finds
    /// Redis answering again (RedisBackend.Return.cs), and while the breaker is open. A process that kept asking would
    /// hold each request for a failure or a timeout: on a Redis Cluster, a request for a slot whose master just died
    /// waits the whole <see cref="MintCacheOptions.RedisOperationTimeout"/> until its replica is promoted.
    /// </summary>
    private bool AnswersLocally => IsDegraded || IsCircuitOpen;

    private long BeginCall() => Interlocked.Increment(ref _calls);

    private void OnSuccess(long call)
    {
        // Redis answers: a subscription lost with a connection that never comes back (a master that died in a failover)
        // is proven again here.
        _notifications.Resume(_options.RedisOperationTimeout);
        var degradedAt = Volatile.Read(ref _degradedAt);
        if (degradedAt == 0 || call <= degradedAt)
        {
            return;
        }

        if (Interlocked.CompareExchange(ref _degradedAt, 0, degradedAt) == degradedAt)
        {
            // Pages stored locally during the outage were never seen by Redis, nor by the evictions made there since:
            // they do not outlive the outage, unless Redis came back empty (RedisBackend.LastKnown.cs).
            Volatile.Write(ref _settling, SettleReturnAsync());
            Log.RedisRestored(_logger, Stopwatch.GetElapsedTime(Volatile.Read(ref _degradedSince)));
        }
    }

    private void OnFailure(long call, Exception exception, string operation, RedisKey? failedEntryKey = null)
    {
        // The return probe reads this entry, so it asks the very slot that failed, not just any node of a cluster.
        if (failedEntryKey is { } entryKey)
        {
            Volatile.Write(ref _failedKey, (string?)entryKey);
        }

        // The store never sees these failures (the local backend answered), so they are counted here.
        _metrics.BackendError(Name, operation);
        Log.RedisCallFailed(_logger, exception);
        if (Volatile.Read(ref _degradedAt) != 0)
        {
            return;
        }

        // The highest call number so far, so that only calls started from now on can prove Redis is back.
        var reached = Math.Max(call, Interlocked.Read(ref _calls));
        if (Interlocked.CompareExchange(ref _degradedAt, reached, 0) == 0)
        {
            Volatile.Write(ref _degradedSince, Stopwatch.GetTimestamp());

            // Stores now go to local memory, unseen by Redis and its notifications: near copies would hide them. They
            // stay in service as stale pages in local memory, and local pages answer every lookup from now on.
            Volatile.Write(ref _lastKnownAnswers, 0);
            KeepNearAsLastKnown();
            _notifications.Invalidate();

            // The exception's type only: its message may name an endpoint or a command, never worth a Warning.
            Log.RedisUnavailable(_logger, exception.GetType().Name);
            _metrics.FallbackToLocal(Name);
            ArmReturnProbe();
        }
    }

    private ValueTask OnCircuitOpened(OnCircuitOpenedArguments<object> args)
    {
        var breakTicks = (long)(args.BreakDuration.TotalSeconds * _timeProvider.TimestampFrequency);
        Volatile.Write(ref _probeAt, _timeProvider.GetTimestamp() + breakTicks);
        Log.RedisCircuitOpened(_logger, args.BreakDuration);
        ArmReturnProbe();
        return ValueTask.CompletedTask;
    }

    /// <summary>
    /// Whether an exception means Redis failed (and the local backend should answer), rather than that the caller
    /// gave up, which is no failure and propagates as a cancellation.
    /// </summary>
    private static bool IsRedisFailure(Exception exception, CancellationToken cancellationToken)
        => !(exception is OperationCanceledException && cancellationToken.IsCancellationRequested);
}
