using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Globalization;
using System.Text;
using MintCache.AspNetCore;

namespace MintCache.LoadTest;

/// <summary>
/// Counts what MintCache's meter reports in one app instance (counter sums, and histogram records by their attributes),
/// so a load run can say which lookup paths and backend calls its requests took.
/// </summary>
internal sealed class MeterTally : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly ConcurrentDictionary<string, long> _totals = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, long> _observed = new(StringComparer.Ordinal);
    private Dictionary<string, long> _baseline = new(StringComparer.Ordinal);

    public MeterTally()
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == MintCacheDiagnostics.MeterName)
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) => Add(instrument, tags, value));
        _listener.SetMeasurementEventCallback<double>((instrument, _, tags, _) => Add(instrument, tags, 1));
        _listener.Start();
    }

    /// <summary>Zeroes every count (after the warm-up).</summary>
    public void Reset()
    {
        _listener.RecordObservableInstruments();
        _baseline = new Dictionary<string, long>(_observed, StringComparer.Ordinal);
        _totals.Clear();
    }

    /// <summary>One line per instrument and attribute set: <c>name{attributes} count</c>.</summary>
    public string Snapshot()
    {
        _listener.RecordObservableInstruments();
        var text = new StringBuilder();
        foreach (var (name, value) in _observed.Where(static p => p.Key.StartsWith("mintcache.near_cache", StringComparison.Ordinal)))
        {
            text.Append(CultureInfo.InvariantCulture, $"{name} {value - _baseline.GetValueOrDefault(name)}\n");
        }

        foreach (var (name, count) in _totals.OrderBy(static p => p.Key, StringComparer.Ordinal))
        {
            text.Append(CultureInfo.InvariantCulture, $"{name} {count}\n");
        }

        return text.ToString();
    }

    public void Dispose() => _listener.Dispose();

    private void Add(Instrument instrument, ReadOnlySpan<KeyValuePair<string, object?>> tags, long value)
    {
        var name = new StringBuilder(instrument.Name).Append('{');
        foreach (var tag in tags)
        {
            if (tag.Key != MintCacheDiagnostics.BackendTag)
            {
                name.Append(CultureInfo.InvariantCulture, $"{tag.Key.Replace("mintcache.", "", StringComparison.Ordinal)}={tag.Value},");
            }
        }

        if (instrument is ObservableInstrument<long>)
        {
            _observed[name.Append('}').ToString()] = value;
            return;
        }

        _totals.AddOrUpdate(name.Append('}').ToString(), value, (_, total) => total + value);
    }
}
