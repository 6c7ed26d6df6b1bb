using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Reflection;
using Microsoft.Extensions.DependencyInjection;
using MintCache.AspNetCore.Tests.Fixtures;

namespace MintCache.AspNetCore.Tests.Telemetry;

/// <summary>
/// MintCache's instruments as an OpenTelemetry exporter sees them: read with a plain <see cref="MeterListener"/> on
/// meter <c>MintCache.AspNetCore</c> through a real host.
/// </summary>
[Collection(SerialCollection.Name)]
public sealed class InstrumentConventionsTests
{
    [Fact]
    public async Task Instruments_SecondsNoPrefixNamesNamedConstants_EntriesCountedOnceStored()
    {
        await using var app = await TestApp.StartAsync();
        using var listener = new HostListener(app.Services);

        app.Page.OpenGate();
        Assert.Equal("v1", await app.Client.GetStringAsync("/page"));
        await app.Logs.WaitUntilAsync(l => l["EntryStored"] >= 1, TimeSpan.FromSeconds(30));
        listener.Collect();

        var instruments = listener.Instruments;
        Assert.NotEmpty(instruments);
        Assert.All(instruments.Where(i => i.GetType().Name.StartsWith("Histogram", StringComparison.Ordinal)), i => Assert.Equal("s", i.Unit));
        Assert.Contains(instruments, i => i.Name == MintCacheDiagnostics.BackendDurationInstrument);

        // OpenTelemetry: a name is either an instrument or a namespace, never both.
        var names = instruments.Select(i => i.Name).ToArray();
        Assert.All(names, name => Assert.DoesNotContain(names, other => other.StartsWith(name + ".", StringComparison.Ordinal)));

        // Every instrument is named in the public constants, and every named instrument exists.
        var constants = typeof(MintCacheDiagnostics).GetFields(BindingFlags.Public | BindingFlags.Static)
            .Where(f => f.Name.EndsWith("Instrument", StringComparison.Ordinal))
            .Select(f => (string)f.GetValue(null)!);
        Assert.Equal(constants.Order(), names.Order());
        Assert.All(instruments, i => Assert.False(string.IsNullOrEmpty(i.Unit), i.Name));

        Assert.True(listener.Latest(MintCacheDiagnostics.EntriesInstrument, "page") >= 1, listener.Describe());
        Assert.True(listener.Latest(MintCacheDiagnostics.SizeInstrument, "page") > 0, listener.Describe());
        Assert.True(listener.DurationsRecorded > 0, listener.Describe());
    }

    [Fact]
    public async Task TwoHosts_InOneProcess_ReportApart()
    {
        await using var used = await TestApp.StartAsync();
        await using var idle = await TestApp.StartAsync();
        using var usedListener = new HostListener(used.Services);
        using var idleListener = new HostListener(idle.Services);

        used.Page.OpenGate();
        await used.Client.GetStringAsync("/page");
        await used.Logs.WaitUntilAsync(l => l["EntryStored"] >= 1, TimeSpan.FromSeconds(30));
        usedListener.Collect();
        idleListener.Collect();

        Assert.Equal(1, usedListener.Latest(MintCacheDiagnostics.EntriesInstrument, "page"));
        Assert.Equal(0, idleListener.Latest(MintCacheDiagnostics.EntriesInstrument, "page"));
        Assert.Equal(1, usedListener.Lookups);
        Assert.Equal(0, idleListener.Lookups);
    }

    [Fact]
    public async Task MemoryBackend_Activities_AreInternal()
    {
        var stores = new List<Activity>();
        using var activities = new ActivityListener
        {
            ShouldListenTo = source => source.Name == MintCacheDiagnostics.ActivitySourceName,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = activity =>
            {
                if (activity.OperationName == MintCacheDiagnostics.BackendStoreActivity && Equals(activity.GetTagItem(MintCacheDiagnostics.BackendTag), "memory"))
                {
                    lock (stores)
                    {
                        stores.Add(activity);
                    }
                }
            },
        };
        ActivitySource.AddActivityListener(activities);
        await using var app = await TestApp.StartAsync();

        app.Page.OpenGate();
        await app.Client.GetStringAsync("/page");
        await app.Logs.WaitUntilAsync(l => l["EntryStored"] >= 1, TimeSpan.FromSeconds(30));

        lock (stores)
        {
            Assert.NotEmpty(stores);
            Assert.All(stores, a => Assert.Equal(ActivityKind.Internal, a.Kind));
        }
    }

    /// <summary>A <see cref="MeterListener"/> on one host's MintCache meter, keeping the latest observation per instrument and kind.</summary>
    private sealed class HostListener : IDisposable
    {
        private readonly MeterListener _listener = new();
        private readonly Dictionary<string, long> _latest = new(StringComparer.Ordinal);
        private readonly List<Instrument> _instruments = [];
        private long _lookups;
        private long _durations;

        public HostListener(IServiceProvider services)
        {
            var scope = services.GetRequiredService<IMeterFactory>();
            _listener.InstrumentPublished = (instrument, listener) =>
            {
                if (instrument.Meter.Name == MintCacheDiagnostics.MeterName && ReferenceEquals(instrument.Meter.Scope, scope))
                {
                    lock (_instruments)
                    {
                        _instruments.Add(instrument);
                    }

                    listener.EnableMeasurementEvents(instrument);
                }
            };
            _listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
            {
                lock (_latest)
                {
                    if (instrument.Name == MintCacheDiagnostics.LookupsInstrument)
                    {
                        _lookups += value;
                    }

                    var kind = "";
                    foreach (var tag in tags)
                    {
                        if (tag.Key == MintCacheDiagnostics.KindTag)
                        {
                            kind = (string)tag.Value!;
                        }
                    }

                    _latest[instrument.Name + "/" + kind] = value;
                }
            });
            _listener.SetMeasurementEventCallback<double>((_, _, _, _) => Interlocked.Increment(ref _durations));
            _listener.Start();
        }

        public IReadOnlyList<Instrument> Instruments
        {
            get
            {
                lock (_instruments)
                {
                    return [.. _instruments];
                }
            }
        }

        public long Lookups
        {
            get
            {
                lock (_latest)
                {
                    return _lookups;
                }
            }
        }

        public long DurationsRecorded => Interlocked.Read(ref _durations);

        public void Collect() => _listener.RecordObservableInstruments();

        /// <summary>The last value observed for an instrument of one kind, or -1 when none was.</summary>
        public long Latest(string instrument, string kind)
        {
            lock (_latest)
            {
                return _latest.TryGetValue(instrument + "/" + kind, out var value) ? value : -1;
            }
        }

        public string Describe()
        {
            lock (_latest)
            {
                return string.Join(", ", _latest.Select(p => $"{p.Key}={p.Value}"));
            }
        }

        public void Dispose() => _listener.Dispose();
    }
}
