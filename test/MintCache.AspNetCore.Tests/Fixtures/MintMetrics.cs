using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;

namespace MintCache.AspNetCore.Tests.Fixtures;

/// <summary>Collects every MintCache instrument of one host (its <see cref="IMeterFactory"/>) for the duration of a test.</summary>
internal sealed class MintMetrics : IDisposable
{
    public MintMetrics(IServiceProvider services)
    {
        // The host's factory is the meter's scope: another host in this process (a parallel test) is not seen.
        var scope = services.GetRequiredService<IMeterFactory>();
        Lookups = new(scope, MintCacheDiagnostics.MeterName, MintCacheDiagnostics.LookupsInstrument);
        Claims = new(scope, MintCacheDiagnostics.MeterName, MintCacheDiagnostics.ClaimsInstrument);
        RegenerationsStarted = new(scope, MintCacheDiagnostics.MeterName, MintCacheDiagnostics.RegenerationsStartedInstrument);
        Regenerations = new(scope, MintCacheDiagnostics.MeterName, MintCacheDiagnostics.RegenerationsEndedInstrument);
        BackendErrors = new(scope, MintCacheDiagnostics.MeterName, MintCacheDiagnostics.BackendErrorsInstrument);
        BackendDuration = new(scope, MintCacheDiagnostics.MeterName, MintCacheDiagnostics.BackendDurationInstrument);
        Entries = new(scope, MintCacheDiagnostics.MeterName, MintCacheDiagnostics.EntriesInstrument);
        Size = new(scope, MintCacheDiagnostics.MeterName, MintCacheDiagnostics.SizeInstrument);
    }

    public MetricCollector<long> Lookups { get; }

    public MetricCollector<long> Claims { get; }

    public MetricCollector<long> RegenerationsStarted { get; }

    /// <summary>Regenerations that ended, by outcome.</summary>
    public MetricCollector<long> Regenerations { get; }

    public MetricCollector<long> BackendErrors { get; }

    public MetricCollector<double> BackendDuration { get; }

    public MetricCollector<long> Entries { get; }

    public MetricCollector<long> Size { get; }

    public long Started(string mode) => Sum(RegenerationsStarted, MintCacheDiagnostics.RefreshModeTag, mode);

    /// <summary>The sum of a counter's measurements whose <paramref name="tag"/> is <paramref name="value"/>.</summary>
    public static long Sum(MetricCollector<long> collector, string tag, string value)
        => collector.GetMeasurementSnapshot().Where(m => Equals(m.Tags[tag], value)).Sum(m => m.Value);

    /// <summary>Lookups answered <paramref name="result"/> (<c>hit</c>, <c>miss</c>) on an entry in <paramref name="state"/> (<c>fresh</c>, <c>stale</c>, <c>absent</c>).</summary>
    public long Lookup(string result, string state) => Lookups.GetMeasurementSnapshot()
        .Where(m => Equals(m.Tags[MintCacheDiagnostics.ResultTag], result) && Equals(m.Tags[MintCacheDiagnostics.EntryStateTag], state))
        .Sum(m => m.Value);

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
        $"lookups hit fresh={Lookup("hit", "fresh")} hit stale={Lookup("hit", "stale")} miss stale={Lookup("miss", "stale")} miss absent={Lookup("miss", "absent")}; " +
        $"claims won={Claim("won")} lost={Claim("lost")}; regenerations stored={Regeneration("stored")} failed={Regeneration("failed")} lapsed={Regeneration("lapsed")}; " +
        $"started foreground={Started("foreground")} background={Started("background")}; backend errors={BackendErrors.GetMeasurementSnapshot().Sum(m => m.Value)}; backend calls timed={BackendDuration.GetMeasurementSnapshot().Count}";

    public void Dispose()
    {
        Lookups.Dispose();
        Claims.Dispose();
        RegenerationsStarted.Dispose();
        Regenerations.Dispose();
        BackendErrors.Dispose();
        BackendDuration.Dispose();
        Entries.Dispose();
        Size.Dispose();
    }
}
