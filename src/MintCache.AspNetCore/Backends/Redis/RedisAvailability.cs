using System.Diagnostics;
using Microsoft.Extensions.Logging;
using MintCache.AspNetCore.Diagnostics;
using Polly;
using Polly.CircuitBreaker;

namespace MintCache.AspNetCore.Backends.Redis;

/// <summary>Whether Redis is usable by this process, as <see cref="RedisAvailability"/> decides it.</summary>
internal enum RedisAvailabilityState
{
    /// <summary>Calls go to Redis.</summary>
    Healthy,

    /// <summary>A call failed or the breaker opened: this process answers from local memory, and probes Redis on a timer.</summary>
    Degraded,

    /// <summary>Degraded, with a probe asking Redis now; its answer makes the process Healthy again, or leaves it Degraded.</summary>
    Probing,
}

/// <summary>
/// The one owner of "is Redis usable": the circuit breaker (its pipeline, state and manual control), degraded mode, the
/// return probe, and whether the change subscription delivers (<see cref="SubscriptionLive"/>). The backend asks
/// <see cref="AnswersLocally"/> before each call and reports each call's outcome; <see cref="RedisNotifications"/>
/// reports what it learns of the subscription.
/// </summary>
/// <remarks>
/// <para>
/// Healthy → Degraded on the first failure (a call, a lost connection) or when the breaker opens; said once, and
/// <c>onDegraded</c> runs once. Degraded → Probing while the return probe asks Redis: at once, every
/// <see cref="ReturnProbeInterval"/> and whenever <see cref="ProbeNow"/> is called (a restored connection). → Healthy
/// when the probe is answered (it closes the breaker) or when a call that <em>started</em> after the failure succeeds;
/// a slow success already in flight when Redis died never flips the state back, which would log once per request.
/// </para>
/// <para>
/// Without the probe, an open circuit sends nothing to Redis until its break runs out, and each process comes back on
/// its own schedule: a farm would render each page once per process meanwhile instead of once.
/// </para>
/// <para>
/// The subscription is live once a (re)subscription or an echo proved it delivers, and not live from a lost connection
/// on: a message published meanwhile is lost, so nothing may rely on one (near copies, cold-miss waits). While it is not
/// live and Redis answers, an echo is tried at most once per <see cref="EchoInterval"/> on this clock.
/// </para>
/// </remarks>
internal sealed class RedisAvailability : IDisposable
{
    internal static readonly TimeSpan ReturnProbeInterval = TimeSpan.FromMilliseconds(500);

    // How often a subscription that is not live may be proven with an echo while Redis answers.
    internal static readonly TimeSpan EchoInterval = TimeSpan.FromSeconds(1);

    private readonly CircuitBreakerStateProvider _breaker = new();
    private readonly CircuitBreakerManualControl _manualControl = new();
    private readonly TimeProvider _timeProvider;
    private readonly ILogger _logger;
    private readonly Func<string?, bool, Task<bool>> _ask;
    private readonly Action _onDegraded;
    private readonly Action _onRestored;
    private readonly Lock _probeLock = new();
    private ITimer? _probe;
    private int _probeArmed;
    private int _probeRunning;

    // Calls are numbered as they start; _degradedAt is the number reached when Redis was found failing, 0 while healthy.
    private long _calls;
    private long _degradedAt;
    private long _degradedSince;
    private long _probeAt;
    private string? _failedKey;

    // The subscription: live (1) or not; an echo running (1); the timestamp before which no echo starts.
    private int _subscriptionLive;
    private int _echoRunning;
    private long _echoAfter;

    /// <param name="options">The timeout and breaker settings.</param>
    /// <param name="timeProvider">The clock of the breaker, its break and the probe's timer.</param>
    /// <param name="logger">Where state changes are said, once each.</param>
    /// <param name="ask">
    /// Whether Redis answers a read of the given key (its slot; a ping when null); the flag says whether the breaker is
    /// closed, so the question may go through <see cref="Pipeline"/>. Never throws.
    /// </param>
    /// <param name="onDegraded">Runs once as the process turns Degraded, before the probe is armed.</param>
    /// <param name="onRestored">Runs once as the process turns Healthy again.</param>
    public RedisAvailability(MintCacheOptions options, TimeProvider timeProvider, ILogger logger, Func<string?, bool, Task<bool>> ask, Action onDegraded, Action onRestored)
    {
        _timeProvider = timeProvider;
        _logger = logger;
        _ask = ask;
        _onDegraded = onDegraded;
        _onRestored = onRestored;
        Pipeline = RedisResilience.Build(options, timeProvider, _breaker, _manualControl, OnCircuitOpened);
    }

    /// <summary>Every Redis call runs through this: one timeout, one circuit breaker.</summary>
    public ResiliencePipeline Pipeline { get; }

    public RedisAvailabilityState State => !AnswersLocally && Circuit == CircuitState.Closed
        ? RedisAvailabilityState.Healthy
        : Volatile.Read(ref _probeRunning) == 1 ? RedisAvailabilityState.Probing : RedisAvailabilityState.Degraded;

    /// <summary>The breaker's state, for the health check and the reads that may skip the pipeline.</summary>
    public CircuitState Circuit => _breaker.CircuitState;

    /// <summary>Whether this process answers from local memory since a failure, until Redis is proven back.</summary>
    public bool IsDegraded => Volatile.Read(ref _degradedAt) != 0;

    /// <summary>
    /// Whether to answer from local memory without asking Redis: degraded, or the breaker open with its break not run
    /// out. A process that kept asking would hold each request for a failure or a timeout: on a Redis Cluster, a
    /// request for a slot whose master just died waits the whole operation timeout until its replica is promoted.
    /// </summary>
    /// <remarks>
    /// Polly moves an open breaker to half-open only when a call is attempted after the break, so once the break is
    /// over calls go to the pipeline again, or the breaker would never try Redis on its own.
    /// </remarks>
    public bool AnswersLocally => IsDegraded || _breaker.CircuitState switch
    {
        CircuitState.Isolated => true,
        CircuitState.Open => _timeProvider.GetTimestamp() < Volatile.Read(ref _probeAt),
        _ => false,
    };

    /// <summary>The key the probe reads (a slot that failed), or null for a ping.</summary>
    internal string? FailedKey => Volatile.Read(ref _failedKey);

    /// <summary>Whether every change published since the subscription was (re)established reaches this process.</summary>
    public bool SubscriptionLive => Volatile.Read(ref _subscriptionLive) == 1;

    /// <summary>The subscription is proven to deliver: live from now on. Said once per return.</summary>
    public void SubscriptionProven()
    {
        if (Interlocked.Exchange(ref _subscriptionLive, 1) == 0)
        {
            Log.NotificationsLive(_logger);
        }
    }

    /// <summary>
    /// A connection was lost (<paramref name="connectionType"/>), or the subscription ended (null, not said): it is not
    /// live until proven again.
    /// </summary>
    /// <returns>Whether it was live (a loss is said once).</returns>
    public bool SubscriptionLost(string? connectionType)
    {
        if (Interlocked.Exchange(ref _subscriptionLive, 0) == 0)
        {
            return false;
        }

        if (connectionType is not null)
        {
            Log.NotificationsLost(_logger, connectionType);
        }

        return true;
    }

    /// <summary>
    /// Whether to prove a subscription that is not live with an echo now: not while one runs, and at most once per
    /// <see cref="EchoInterval"/>. A <see langword="true"/> answer must be followed by <see cref="EndEcho"/>.
    /// </summary>
    public bool TryBeginEcho()
    {
        if (SubscriptionLive
            || _timeProvider.GetTimestamp() < Interlocked.Read(ref _echoAfter)
            || Interlocked.Exchange(ref _echoRunning, 1) == 1)
        {
            return false;
        }

        var interval = (long)(EchoInterval.TotalSeconds * _timeProvider.TimestampFrequency);
        Interlocked.Exchange(ref _echoAfter, _timeProvider.GetTimestamp() + interval);
        return true;
    }

    /// <summary>The echo begun by <see cref="TryBeginEcho"/> ended, whether or not it came back.</summary>
    public void EndEcho() => Volatile.Write(ref _echoRunning, 0);

    /// <summary>Numbers a call as it starts, for <see cref="OnSuccess"/> and <see cref="OnFailure"/>.</summary>
    public long BeginCall() => Interlocked.Increment(ref _calls);

    /// <summary>A call succeeded: one that started after the process turned Degraded proves Redis back.</summary>
    public void OnSuccess(long call)
    {
        var degradedAt = Volatile.Read(ref _degradedAt);
        if (degradedAt == 0 || call <= degradedAt)
        {
            return;
        }

        if (Interlocked.CompareExchange(ref _degradedAt, 0, degradedAt) == degradedAt)
        {
            _onRestored();
            Log.RedisRestored(_logger, Stopwatch.GetElapsedTime(Volatile.Read(ref _degradedSince)));
        }
    }

    /// <summary>
    /// A call failed. <paramref name="failedKey"/>, when given, is what the probe reads, so that it asks the very slot
    /// that failed rather than any node of a cluster.
    /// </summary>
    /// <returns>Whether this failure turned the process Degraded.</returns>
    public bool OnFailure(long call, Exception exception, string? failedKey = null)
    {
        if (failedKey is not null)
        {
            Volatile.Write(ref _failedKey, failedKey);
        }

        if (Volatile.Read(ref _degradedAt) != 0)
        {
            return false;
        }

        // The highest call number so far, so that only calls started from now on can prove Redis is back.
        var reached = Math.Max(call, Interlocked.Read(ref _calls));
        if (Interlocked.CompareExchange(ref _degradedAt, reached, 0) != 0)
        {
            return false;
        }

        Volatile.Write(ref _degradedSince, Stopwatch.GetTimestamp());
        _onDegraded();

        // The exception's type only: its message may name an endpoint or a command, never worth a Warning.
        Log.RedisUnavailable(_logger, exception.GetType().Name);
        ArmProbe();
        return true;
    }

    /// <summary>Asks Redis at once when this process answers locally (a restored connection is a reason to look).</summary>
    public void ProbeNow()
    {
        if (AnswersLocally)
        {
            _ = ProbeAsync();
        }
    }

    /// <summary>One probe at a time; when Redis answers, the circuit closes and the process is Healthy again.</summary>
    internal async Task ProbeAsync()
    {
        if (!IsDegraded && _breaker.CircuitState == CircuitState.Closed)
        {
            DisarmProbe();
            return;
        }

        if (Interlocked.Exchange(ref _probeRunning, 1) == 1)
        {
            return;
        }

        try
        {
            var failedKey = Volatile.Read(ref _failedKey);
            if (!await _ask(failedKey, _breaker.CircuitState == CircuitState.Closed).ConfigureAwait(false))
            {
                return;
            }

            if (_breaker.CircuitState is CircuitState.Open or CircuitState.HalfOpen)
            {
                await _manualControl.CloseAsync().ConfigureAwait(false);
            }

            // The break is over, and this process is back: calls go to Redis again.
            Volatile.Write(ref _probeAt, 0);
            Interlocked.CompareExchange(ref _failedKey, null, failedKey);
            OnSuccess(BeginCall());
        }
#pragma warning disable CA1031 // A probe that fails changes nothing; the next one tries again.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            Log.RedisCallFailed(_logger, ex);
        }
        finally
        {
            Volatile.Write(ref _probeRunning, 0);
        }
    }

    public void Dispose()
    {
        lock (_probeLock)
        {
            _probe?.Dispose();
        }
    }

    /// <summary>Starts probing Redis on the way back; once per outage.</summary>
    private void ArmProbe()
    {
        if (Interlocked.Exchange(ref _probeArmed, 1) == 1)
        {
            return;
        }

        lock (_probeLock)
        {
            _probe ??= _timeProvider.CreateTimer(
                static state => _ = ((RedisAvailability)state!).ProbeAsync(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
            _probe.Change(ReturnProbeInterval, ReturnProbeInterval);
        }

        // At once, too: a blip (one slow command) ends after a round trip, not an interval.
        _ = ProbeAsync();
    }

    private void DisarmProbe()
    {
        lock (_probeLock)
        {
            _probe?.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        }

        Volatile.Write(ref _probeArmed, 0);
    }

    private ValueTask OnCircuitOpened(OnCircuitOpenedArguments<object> args)
    {
        var breakTicks = (long)(args.BreakDuration.TotalSeconds * _timeProvider.TimestampFrequency);
        Volatile.Write(ref _probeAt, _timeProvider.GetTimestamp() + breakTicks);
        Log.RedisCircuitOpened(_logger, args.BreakDuration);
        ArmProbe();
        return ValueTask.CompletedTask;
    }
}
