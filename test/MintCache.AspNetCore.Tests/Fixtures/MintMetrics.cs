using Microsoft.Extensions.Diagnostics.Metrics.Testing;

namespace MintCache.AspNetCore.Tests.Fixtures;

/// <summary>Collects every MintCache instrument for the duration of a test.</summary>
internal sealed class MintMetrics : IDisposable
{
    public MetricCollector<long> Lookups { get; } = new(MintCacheDiagnostics.Meter, MintCacheDiagnostics.LookupsInstrument);

    public MetricCollector<long> Claims { get; } = new(MintCacheDiagnostics.Meter, MintCacheDiagnostics.ClaimsInstrument);

    public MetricCollector<long> Regenerations { get; } = new(MintCacheDiagnostics.Meter, MintCacheDiagnostics.RegenerationsInstrument);

    public MetricCollector<long> BackgroundRegenerations { get; } = new(MintCacheDiagnostics.Meter, MintCacheDiagnostics.BackgroundRegenerationsInstrument);

    public MetricCollector<long> BackendErrors { get; } = new(MintCacheDiagnostics.Meter, MintCacheDiagnostics.BackendErrorsInstrument);

    public MetricCollector<double> BackendDuration { get; } = new(MintCacheDiagnostics.Meter, MintCacheDiagnostics.BackendDurationInstrument);

    /// <summary>The sum of a counter's measurements whose <paramref name="tag"/> is <paramref name="value"/>.</summary>
    public static long Sum(MetricCollector<long> collector, string tag, string value)
        => collector.GetMeasurementSnapshot().Where(m => Equals(m.Tags[tag], value)).Sum(m => m.Value);

    public long Lookup(string result) => Sum(Lookups, MintCacheDiagnostics.ResultTag, result);

    public long Claim(string result) => Sum(Claims, MintCacheDiagnostics.ResultTag, result);

    public long Regeneration(string outcome) => Sum(Regenerations, MintCacheDiagnostics.OutcomeTag, outcome);

    /// <summary>Polls until the measurements satisfy <paramref name="condition"/>, or throws after <paramref name="timeout"/>.</summary>
    public async Task WaitUntilAsync(Func<MintMetrics, bool> condition, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!condition(this))
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"Metrics never met the condition; seen: {Describe()}");
            }

            await Task.Delay(5);
        }
    }

    public string Describe() =>
        $"lookups fresh={Lookup("fresh")} stale={Lookup("stale")} miss={Lookup("miss")} expired={Lookup("expired")}; " +
        $"claims won={Claim("won")} lost={Claim("lost")}; regenerations stored={Regeneration("stored")} failed={Regeneration("failed")} lapsed={Regeneration("lapsed")}; " +
        $"background={BackgroundRegenerations.GetMeasurementSnapshot().Sum(m => m.Value)}; backend errors={BackendErrors.GetMeasurementSnapshot().Sum(m => m.Value)}; backend calls timed={BackendDuration.GetMeasurementSnapshot().Count}";

    public void Dispose()
    {
        Lookups.Dispose();
        Claims.Dispose();
        Regenerations.Dispose();
        BackgroundRegenerations.Dispose();
        BackendErrors.Dispose();
        BackendDuration.Dispose();
    }
}
