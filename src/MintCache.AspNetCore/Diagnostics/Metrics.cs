using System.Diagnostics;
using System.Diagnostics.Metrics;
using MintCache.AspNetCore.Backends;
using static MintCache.AspNetCore.MintCacheDiagnostics;

namespace MintCache.AspNetCore.Diagnostics;

/// <summary>
/// MintCache's instruments and the one way to record on each. Every method checks <c>Enabled</c> first, so an
/// application that collects no metrics pays a field read per call and builds no tags.
/// </summary>
/// <remarks>
/// One per host, on a meter from the host's <see cref="IMeterFactory"/> (which disposes it): two hosts in a process
/// report apart. The observable instruments read the backend the store uses, attached by <see cref="Observe"/>.
/// </remarks>
internal sealed class Metrics
{
    // OpenTelemetry's default buckets (0 to 10,000) suit milliseconds; in seconds they would put every call in the
    // first one. Backend calls take from tens of microseconds (memory) to the Redis timeout (500 ms by default).
    private static readonly InstrumentAdvice<double> DurationAdvice = new()
    {
        HistogramBucketBoundaries = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    };

    private readonly Counter<long> _lookups;
    private readonly Counter<long> _claims;
    private readonly Counter<long> _regenerationsStarted;
    private readonly Counter<long> _regenerationsEnded;
    private readonly Counter<long> _backendErrors;
    private readonly Counter<long> _fallbacks;
    private readonly Histogram<double> _backendDuration;
    private IBackendInventory? _inventory;

    public Metrics(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(new MeterOptions(MeterName) { Version = MintCacheDiagnostics.Version });
        _lookups = meter.CreateCounter<long>(LookupsInstrument, "{lookup}", "Lookups answered by the MintCache store, by result (hit or miss) and the state of the entry found.");
        _claims = meter.CreateCounter<long>(ClaimsInstrument, "{claim}", "Lookups of stale pages that won or lost the refresh claim, or left it free for a process that can refresh now.");
        _regenerationsStarted = meter.CreateCounter<long>(
            RegenerationsStartedInstrument, "{regeneration}", "Regenerations started under a won claim, by refresh mode.");
        _regenerationsEnded = meter.CreateCounter<long>(
            RegenerationsEndedInstrument, "{regeneration}", "Regenerations under a won claim that ended, by outcome.");
        _backendErrors = meter.CreateCounter<long>(BackendErrorsInstrument, "{error}", "Backend calls that failed and were absorbed, by operation.");
        _fallbacks = meter.CreateCounter<long>(FallbacksInstrument, "{fallback}", "Switches from a shared backend to the local in-memory fallback.");
        _backendDuration = meter.CreateHistogram<double>(
            BackendDurationInstrument, "s", "Duration of backend calls, by operation.", tags: null, DurationAdvice);

        // Read on collection only: nothing on the request path keeps these numbers for the meter's sake.
        meter.CreateObservableUpDownCounter(EntriesInstrument, () => Inventory(bytes: false), "{entry}", "Entries held in this process, by kind.");
        meter.CreateObservableUpDownCounter(SizeInstrument, () => Inventory(bytes: true), "By", "Bytes of the entries held in this process, by kind.");
        meter.CreateObservableCounter(NearCacheHitsInstrument, NearHits, "{hit}", "Lookups answered from the Redis backend's near cache.");
    }

    /// <summary>Whether anybody listens to backend durations: callers skip reading the clock otherwise.</summary>
    public bool TimingBackend => _backendDuration.Enabled;

    /// <summary>Attaches the backend whose holdings the observable instruments report (the store's, once).</summary>
    public void Observe(IMintBackend backend) => Volatile.Write(ref _inventory, backend as IBackendInventory);

    public void Lookup(string backend, string result, string state)
    {
        if (_lookups.Enabled)
        {
            _lookups.Add(1, new(BackendTag, backend), new(ResultTag, result), new(EntryStateTag, state));
        }
    }

    public void Claim(string backend, string result)
    {
        if (_claims.Enabled)
        {
            _claims.Add(1, new(BackendTag, backend), new(ResultTag, result));
        }
    }

    public void RegenerationStarted(string backend, string mode)
    {
        if (_regenerationsStarted.Enabled)
        {
            _regenerationsStarted.Add(1, new(BackendTag, backend), new(RefreshModeTag, mode));
        }
    }

    public void RegenerationEnded(string backend, string outcome)
    {
        if (_regenerationsEnded.Enabled)
        {
            _regenerationsEnded.Add(1, new(BackendTag, backend), new(OutcomeTag, outcome));
        }
    }

    public void BackendError(string backend, string operation)
    {
        if (_backendErrors.Enabled)
        {
            _backendErrors.Add(1, new(BackendTag, backend), new(OperationTag, operation));
        }
    }

    /// <summary>For a backend with a local fallback: call once per switch to it, never per request.</summary>
    public void FallbackToLocal(string backend)
    {
        if (_fallbacks.Enabled)
        {
            _fallbacks.Add(1, new KeyValuePair<string, object?>(BackendTag, backend));
        }
    }

    /// <summary>Records a backend call that began at <paramref name="startedAt"/> (0: the clock was not read).</summary>
    public void BackendCall(string backend, string operation, long startedAt)
    {
        if (startedAt != 0 && _backendDuration.Enabled)
        {
            _backendDuration.Record(Stopwatch.GetElapsedTime(startedAt).TotalSeconds, new(BackendTag, backend), new(OperationTag, operation));
        }
    }

    private List<Measurement<long>> Inventory(bool bytes)
    {
        var measurements = new List<Measurement<long>>(2);
        if (Volatile.Read(ref _inventory) is { } inventory)
        {
            foreach (var holding in inventory.Holdings())
            {
                measurements.Add(new(
                    bytes ? holding.Bytes : holding.Entries,
                    new KeyValuePair<string, object?>(BackendTag, inventory.Name),
                    new KeyValuePair<string, object?>(KindTag, holding.Kind)));
            }
        }

        return measurements;
    }

    private IEnumerable<Measurement<long>> NearHits()
        => Volatile.Read(ref _inventory) is { NearCacheHits: { } hits } inventory
            ? [new Measurement<long>(hits, new KeyValuePair<string, object?>(BackendTag, inventory.Name))]
            : [];
}
