using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using MintCache.AspNetCore;

namespace WebDemo;

/// <summary>
/// Listens to MintCache's own metrics, as an OpenTelemetry exporter would, and keeps running totals for the demo
/// page: lookups by result and entry state, claims, regenerations by outcome.
/// </summary>
/// <remarks>
/// MintCache creates its meter through the host's <see cref="IMeterFactory"/>, so this listens to this host's meter
/// only (its scope is the factory): a process that hosts several apps (tests) keeps their counts apart.
/// </remarks>
public sealed class DemoMetrics : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly ConcurrentDictionary<string, long> _totals = new(StringComparer.Ordinal);

    /// <summary>Starts listening to every MintCache counter of the host whose meters <paramref name="meterFactory"/> makes.</summary>
    public DemoMetrics(IMeterFactory meterFactory)
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == MintCacheDiagnostics.MeterName
                && ReferenceEquals(instrument.Meter.Scope, meterFactory)
                && instrument is Counter<long>)
            {
                listener.EnableMeasurementEvents(instrument, this);
            }
        };
        _listener.SetMeasurementEventCallback<long>(static (instrument, value, tags, state) =>
            ((DemoMetrics)state!).Record(instrument.Name, value, tags));
        _listener.Start();
    }

    /// <summary>
    /// The totals so far, keyed <c>instrument/tag value[/tag value]</c>, e.g. <c>mintcache.lookups/hit/stale</c> or
    /// <c>mintcache.regenerations.ended/stored</c>.
    /// </summary>
    public IReadOnlyDictionary<string, long> Snapshot() => new SortedDictionary<string, long>(_totals, StringComparer.Ordinal);

    /// <summary>Forgets every total.</summary>
    public void Reset() => _totals.Clear();

    /// <inheritdoc/>
    public void Dispose() => _listener.Dispose();

    private void Record(string instrument, long value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        var detail = string.Empty;
        foreach (var tag in tags)
        {
            if (tag.Key is MintCacheDiagnostics.ResultTag or MintCacheDiagnostics.EntryStateTag or MintCacheDiagnostics.OutcomeTag
                or MintCacheDiagnostics.OperationTag or MintCacheDiagnostics.RefreshModeTag)
            {
                detail += "/" + tag.Value;
            }
        }

        _totals.AddOrUpdate(instrument + detail, value, (_, total) => total + value);
    }
}
