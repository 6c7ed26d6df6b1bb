using System.Diagnostics;
using System.Diagnostics.Metrics;
using static MintCache.AspNetCore.MintCacheDiagnostics;

namespace MintCache.AspNetCore.Diagnostics;

/// <summary>
/// MintCache's instruments and the one way to record on each. Every method checks <c>Enabled</c> first, so an
/// application that collects no metrics pays a field read per call and builds no tags.
/// </summary>
internal static class Metrics
{
    private static readonly Counter<long> Lookups = MintCacheDiagnostics.Meter.CreateCounter<long>(
        LookupsInstrument, "{lookup}", "Lookups answered by the MintCache store, by result.");

    private static readonly Counter<long> Claims = MintCacheDiagnostics.Meter.CreateCounter<long>(
        ClaimsInstrument, "{claim}", "Lookups of stale pages that won or lost the refresh claim.");

    private static readonly Counter<long> Regenerations = MintCacheDiagnostics.Meter.CreateCounter<long>(
        RegenerationsInstrument, "{regeneration}", "Regenerations under a won claim, by outcome.");

    private static readonly Counter<long> BackgroundRegenerations = MintCacheDiagnostics.Meter.CreateCounter<long>(
        BackgroundRegenerationsInstrument, "{regeneration}", "Background regenerations started.");

    private static readonly Counter<long> BackendErrors = MintCacheDiagnostics.Meter.CreateCounter<long>(
        BackendErrorsInstrument, "{error}", "Backend calls that failed and were absorbed, by operation.");

    private static readonly Counter<long> Fallbacks = MintCacheDiagnostics.Meter.CreateCounter<long>(
        FallbacksInstrument, "{fallback}", "Switches from a shared backend to the local in-memory fallback.");

    private static readonly Histogram<double> BackendDuration = MintCacheDiagnostics.Meter.CreateHistogram<double>(
        BackendDurationInstrument, "ms", "Duration of backend calls, by operation.");

    /// <summary>Whether anybody listens to backend durations: callers skip reading the clock otherwise.</summary>
    public static bool TimingBackend => BackendDuration.Enabled;

    public static void Lookup(string backend, string result)
    {
        if (Lookups.Enabled)
        {
            Lookups.Add(1, new(BackendTag, backend), new(ResultTag, result));
        }
    }

    public static void Claim(string backend, bool won)
    {
        if (Claims.Enabled)
        {
            Claims.Add(1, new(BackendTag, backend), new(ResultTag, won ? Tags.ClaimWon : Tags.ClaimLost));
        }
    }

    public static void Regeneration(string backend, string outcome)
    {
        if (Regenerations.Enabled)
        {
            Regenerations.Add(1, new(BackendTag, backend), new(OutcomeTag, outcome));
        }
    }

    public static void BackgroundRegenerationStarted(string backend)
    {
        if (BackgroundRegenerations.Enabled)
        {
            BackgroundRegenerations.Add(1, new KeyValuePair<string, object?>(BackendTag, backend));
        }
    }

    public static void BackendError(string backend, string operation)
    {
        if (BackendErrors.Enabled)
        {
            BackendErrors.Add(1, new(BackendTag, backend), new(OperationTag, operation));
        }
    }

    /// <summary>For a backend with a local fallback: call once per switch to it, never per request.</summary>
    public static void FallbackToLocal(string backend)
    {
        if (Fallbacks.Enabled)
        {
            Fallbacks.Add(1, new KeyValuePair<string, object?>(BackendTag, backend));
        }
    }

    /// <summary>Records a backend call that began at <paramref name="startedAt"/> (0: the clock was not read).</summary>
    public static void BackendCall(string backend, string operation, long startedAt)
    {
        if (startedAt != 0 && BackendDuration.Enabled)
        {
            BackendDuration.Record(Stopwatch.GetElapsedTime(startedAt).TotalMilliseconds, new(BackendTag, backend), new(OperationTag, operation));
        }
    }
}
