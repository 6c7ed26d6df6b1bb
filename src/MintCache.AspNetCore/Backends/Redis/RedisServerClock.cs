using System.Diagnostics;
using StackExchange.Redis;

namespace MintCache.AspNetCore.Backends.Redis;

/// <summary>
/// The Redis server's clock as this process measured it with <c>TIME</c>: lets a lookup decide that an entry is still
/// fresh from a plain <c>GET</c>, so only stale entries, claims and stores run a script.
/// </summary>
/// <remarks>
/// <para>
/// The offset is taken at the middle of the <c>TIME</c> round trip; half that round trip bounds its error, and
/// <see cref="Margin"/> covers the drift until the next measurement and the skew between the nodes of a cluster (each
/// master stamps its own entries). An entry within that uncertainty of its stale-at (or eager-at) is decided by the
/// script, on the server's own clock: the plain read only ever answers "fresh" for entries that certainly are.
/// </para>
/// <para>Measured once connected, then again every <see cref="Resync"/>, in the background, by the next lookup.</para>
/// </remarks>
internal sealed class RedisServerClock
{
    /// <summary>How far from its stale-at an entry must be for a plain read to call it fresh, beyond the round trip.</summary>
    internal static readonly TimeSpan Margin = TimeSpan.FromMilliseconds(10);

    internal static readonly TimeSpan Resync = TimeSpan.FromSeconds(30);

    // Stopwatch ticks at the measurement, and the server's milliseconds minus this process's at that moment.
    private Measurement? _measurement;
    private int _measuring;

    /// <summary>Whether the clock was measured: until then every lookup runs the script.</summary>
    public bool IsKnown => Volatile.Read(ref _measurement) is not null;

    /// <summary>
    /// The earliest and the latest the server's clock may read now, in milliseconds since the epoch (the estimate, less
    /// or plus the uncertainty and <see cref="Margin"/>); starts a new measurement when the last one is old.
    /// </summary>
    public bool TryNow(IDatabase db, out long earliestMs, out long latestMs)
    {
        var measurement = Volatile.Read(ref _measurement);
        var now = Stopwatch.GetTimestamp();
        if (measurement is null || Stopwatch.GetElapsedTime(measurement.At, now) > Resync)
        {
            _ = MeasureAsync(db);
        }

        if (measurement is null)
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

    public async Task MeasureAsync(IDatabase db)
    {
        if (Interlocked.Exchange(ref _measuring, 1) == 1)
        {
            return;
        }

        try
        {
            var sent = Stopwatch.GetTimestamp();
            var time = await db.ExecuteAsync("TIME").ConfigureAwait(false);
            var received = Stopwatch.GetTimestamp();
            var parts = (RedisResult[])time!;
            var serverMs = ((long)parts[0] * 1000) + ((long)parts[1] / 1000);
            var middle = sent + ((received - sent) / 2);
            var uncertainty = (long)Math.Ceiling(Stopwatch.GetElapsedTime(sent, received).TotalMilliseconds / 2) + 1;
            Volatile.Write(ref _measurement, new Measurement(received, serverMs - LocalMs(middle), uncertainty));
        }
#pragma warning disable CA1031 // A failed measurement keeps the previous one, or none: lookups then run the script.
        catch (Exception)
#pragma warning restore CA1031
        {
        }
        finally
        {
            Volatile.Write(ref _measuring, 0);
        }
    }

    private static long LocalMs(long timestamp) => (long)(timestamp * 1000.0 / Stopwatch.Frequency);

    private sealed record Measurement(long At, long OffsetMs, long UncertaintyMs);
}
