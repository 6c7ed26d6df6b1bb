using MintCache.AspNetCore.Diagnostics;
using Polly.CircuitBreaker;
using StackExchange.Redis;

namespace MintCache.AspNetCore.Backends.Redis;

/// <summary>
/// The way back from local memory: while this process answers locally, it pings Redis every
/// <see cref="ReturnProbeInterval"/> (and at once when the multiplexer reports its connection restored), and closes the
/// circuit as soon as Redis answers, so the next call goes to Redis and switches the process back.
/// </summary>
/// <remarks>
/// Without it, an open circuit sends nothing to Redis until its break runs out, and each process comes back on its own
/// schedule, up to a break later: until then each one regenerates its pages itself, and a farm renders a page once per
/// process instead of once.
/// </remarks>
internal sealed partial class RedisBackend
{
    internal static readonly TimeSpan ReturnProbeInterval = TimeSpan.FromMilliseconds(500);

    private readonly CircuitBreakerManualControl _manualControl = new();
    private readonly Lock _returnProbeLock = new();
    private ITimer? _returnProbe;
    private int _returnProbeArmed;
    private int _returnProbeRunning;
    private IConnectionMultiplexer? _watched;

    /// <summary>Starts pinging Redis on the way back; once per outage.</summary>
    private void ArmReturnProbe()
    {
        if (Interlocked.Exchange(ref _returnProbeArmed, 1) == 1)
        {
            return;
        }

        lock (_returnProbeLock)
        {
            _returnProbe ??= _timeProvider.CreateTimer(
                static state => _ = ((RedisBackend)state!).ProbeReturnAsync(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
            _returnProbe.Change(ReturnProbeInterval, ReturnProbeInterval);
        }
    }

    private void DisarmReturnProbe()
    {
        lock (_returnProbeLock)
        {
            _returnProbe?.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        }

        Volatile.Write(ref _returnProbeArmed, 0);
    }

    /// <summary>Watches a multiplexer's reconnections, once per multiplexer: a restored connection is a reason to look at once.</summary>
    private void WatchConnection(IConnectionMultiplexer multiplexer)
    {
        if (ReferenceEquals(Volatile.Read(ref _watched), multiplexer) || Interlocked.Exchange(ref _watched, multiplexer) == multiplexer)
        {
            return;
        }

        _ = RememberEpochAsync();

        multiplexer.ConnectionRestored += (_, _) =>
        {
            if (IsDegraded || IsCircuitOpen)
            {
                _ = ProbeReturnAsync();
            }
        };
    }

    /// <summary>One ping at a time; when Redis answers, the circuit closes and the next call goes to Redis.</summary>
    internal async Task ProbeReturnAsync()
    {
        if (!IsDegraded && _breaker.CircuitState == CircuitState.Closed)
        {
            DisarmReturnProbe();
            return;
        }

        if (Interlocked.Exchange(ref _returnProbeRunning, 1) == 1)
        {
            return;
        }

        try
        {
            if (!await PingAsync().ConfigureAwait(false))
            {
                return;
            }

            if (_breaker.CircuitState is CircuitState.Open or CircuitState.HalfOpen)
            {
                await _manualControl.CloseAsync().ConfigureAwait(false);
            }

            // The break is over: calls go to Redis again, and the first to succeed switches this process back.
            Volatile.Write(ref _probeAt, 0);
        }
#pragma warning disable CA1031 // A probe that fails changes nothing; the next one tries again.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            Log.RedisCallFailed(_logger, ex);
        }
        finally
        {
            Volatile.Write(ref _returnProbeRunning, 0);
        }
    }
}
