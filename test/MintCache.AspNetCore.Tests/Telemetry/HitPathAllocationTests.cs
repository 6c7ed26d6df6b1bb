using System.Diagnostics.Metrics;
using Microsoft.AspNetCore.OutputCaching;
using Microsoft.Extensions.DependencyInjection;
using MintCache.AspNetCore.Tests.Fixtures;

namespace MintCache.AspNetCore.Tests.Telemetry;

/// <summary>The memory backend's fresh hit stays free of allocations while every MintCache instrument is listened to.</summary>
[Collection(SerialCollection.Name)]
public sealed class HitPathAllocationTests
{
    [Fact]
    public async Task MemoryFreshHit_Listened_AllocatesNothing()
    {
        var services = new ServiceCollection().AddLogging();
        services.AddOutputCache().AddMintStore();
        await using var provider = services.BuildServiceProvider();
        var store = provider.GetRequiredService<IOutputCacheStore>();
        var scope = provider.GetRequiredService<IMeterFactory>();

        using var listener = new MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Meter.Name == MintCacheDiagnostics.MeterName && ReferenceEquals(instrument.Meter.Scope, scope))
                {
                    l.EnableMeasurementEvents(instrument);
                }
            },
        };
        var lookups = 0L;
        listener.SetMeasurementEventCallback<long>((instrument, value, _, _) =>
        {
            if (instrument.Name == MintCacheDiagnostics.LookupsInstrument)
            {
                lookups += value;
            }
        });
        listener.Start();

        await store.SetAsync("key", [1, 2, 3], null, TimeSpan.FromMinutes(1), default);
        Assert.NotNull(await store.GetAsync("key", default)); // warm: JIT and first-call state

        const int hits = 1000;
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < hits; i++)
        {
            var hit = store.GetAsync("key", default);
            Assert.True(hit.IsCompletedSuccessfully);
        }

        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        // Measured, not skipped: the counter saw every hit, with its tags built on the stack.
        Assert.Equal(hits + 1, lookups);
        Assert.Equal(0, allocated);
    }
}
