using System.Diagnostics;
using System.Net;
using StackExchange.Redis;

namespace MintCache.AspNetCore.Backends.Redis;

/// <summary>
/// One Redis node's clock as this process measured it with <c>TIME</c>: lets a plain <c>GET</c> of an entry that node
/// stamped be decided fresh without the script (design.md §2 invariant 5).
/// </summary>
/// <remarks>
/// <para>
/// The offset is taken at the middle of the <c>TIME</c> round trip; half that round trip bounds its error, and
/// <see cref="Margin"/> covers the drift until the next measurement. An entry within that uncertainty of its stale-at
/// (or eager-at) is decided by the script, on the node's own clock: a plain read only ever answers for entries that
/// certainly are fresh, or certainly stale.
/// </para>
/// <para>
/// Measured again every <see cref="Resync"/>, in the background, by the next lookup. An estimate older than
/// <see cref="MaxAge"/> (the node stopped answering <c>TIME</c>), or one whose offset moved further from the previous one
/// than both uncertainties and the margin allow (the node's clock was stepped), decides nothing: lookups go to the
/// script until a measurement agrees with the one before it.
/// </para>
/// </remarks>
internal sealed class RedisServerClock
{
    /// <summary>How far from its stale-at an entry must be for a plain read to call it fresh, beyond the round trip.</summary>
    internal static readonly TimeSpan Margin = TimeSpan.FromMilliseconds(10);

    internal static readonly TimeSpan Resync = TimeSpan.FromSeconds(5);

    internal static readonly TimeSpan MaxAge = TimeSpan.FromSeconds(15);

    private readonly EndPoint? _node;
    private readonly Lock _starting = new();
    private Measurement? _measurement;
    private Task _measuring = Task.CompletedTask;

    /// <param name="node">The node measured; null for the one server a non-cluster connection writes to.</param>
    public RedisServerClock(EndPoint? node) => _node = node;

    /// <summary>Whether a measurement stands that decides lookups.</summary>
    public bool IsKnown => Volatile.Read(ref _measurement) is { Doubtful: false } measurement && Stopwatch.GetElapsedTime(measurement.At) <= MaxAge;

    /// <summary>
    /// The earliest and the latest the node's clock may read now, in milliseconds since the epoch (the estimate, less
    /// or plus the uncertainty and <see cref="Margin"/>); starts a new measurement when the last one is old or in doubt.
    /// </summary>
    public bool TryNow(IConnectionMultiplexer multiplexer, out long earliestMs, out long latestMs)
    {
        var measurement = Volatile.Read(ref _measurement);
        var now = Stopwatch.GetTimestamp();
        var age = measurement is null ? TimeSpan.MaxValue : Stopwatch.GetElapsedTime(measurement.At, now);
        if (measurement is null || measurement.Doubtful || age > Resync)
        {
            _ = MeasureAsync(multiplexer);
        }

        if (measurement is null || measurement.Doubtful || age > MaxAge)
        {
            earliestMs = latestMs = 0;
            return false;
        }

        var estimate = LocalMs(now) + measurement.OffsetMs;
        var slack = measurement.UncertaintyMs + (long)Margin.TotalMilliseconds;
        earliestMs = estimate - slack;
        latestMs = estimate + slack;
        return true;
    }

    /// <summary>Measures the clock, or joins the measurement in flight: one at a time, and the caller sees it done.</summary>
    public Task MeasureAsync(IConnectionMultiplexer multiplexer)
    {
        var measuring = Volatile.Read(ref _measuring);
        if (!measuring.IsCompleted)
        {
            return measuring;
        }

        lock (_starting)
        {
            if (_measuring.IsCompleted)
            {
                _measuring = MeasureOnceAsync(multiplexer);
            }

            return _measuring;
        }
    }

    private async Task MeasureOnceAsync(IConnectionMultiplexer multiplexer)
    {
        try
        {
            var sent = Stopwatch.GetTimestamp();
            var time = _node is null
                ? await multiplexer.GetDatabase().ExecuteAsync("TIME").ConfigureAwait(false)
                : await multiplexer.GetServer(_node).ExecuteAsync("TIME").ConfigureAwait(false);
            var received = Stopwatch.GetTimestamp();
            var parts = (RedisResult[])time!;
            var serverMs = ((long)parts[0] * 1000) + ((long)parts[1] / 1000);
            var middle = sent + ((received - sent) / 2);
            var uncertainty = (long)Math.Ceiling(Stopwatch.GetElapsedTime(sent, received).TotalMilliseconds / 2) + 1;
            Record(received, serverMs - LocalMs(middle), uncertainty);
        }
#pragma warning disable CA1031 // A failed measurement keeps the previous one, until it is too old: lookups then run the script.
        catch (Exception)
#pragma warning restore CA1031
        {
        }
    }

    /// <summary>
    /// For tests: takes <paramref name="offsetMs"/> (the node's milliseconds minus this process's) as measured
    /// <paramref name="age"/> ago, as if by <c>TIME</c>: a step from the previous measurement, or an old one.
    /// </summary>
    internal void Record(long offsetMs, long uncertaintyMs, TimeSpan age)
        => Record(Stopwatch.GetTimestamp() - (long)(age.TotalSeconds * Stopwatch.Frequency), offsetMs, uncertaintyMs);

    private void Record(long at, long offsetMs, long uncertaintyMs)
    {
        // A clock that moved by more than both measurements' uncertainty and the margin was stepped (or the estimate was
        // wrong): decide nothing on it until the next measurement agrees with this one. One too old to decide anything
        // is not compared: drift over a quiet hour is no step.
        var previous = Volatile.Read(ref _measurement);
        var stepped = previous is not null && Stopwatch.GetElapsedTime(previous.At, at) <= MaxAge && Math.Abs(offsetMs - previous.OffsetMs) > previous.UncertaintyMs + uncertaintyMs + (long)Margin.TotalMilliseconds;
        Volatile.Write(ref _measurement, new Measurement(at, offsetMs, uncertaintyMs, stepped));
    }

    private static long LocalMs(long timestamp) => (long)(timestamp * 1000.0 / Stopwatch.Frequency);

    // Stopwatch ticks at the measurement, and the node's milliseconds minus this process's at that moment.
    private sealed record Measurement(long At, long OffsetMs, long UncertaintyMs, bool Doubtful);
}
