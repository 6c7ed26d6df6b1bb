using MintCache.AspNetCore.Tests.Fixtures;
using Xunit.Abstractions;

namespace MintCache.AspNetCore.Tests.Concurrency;

/// <summary>The storm with hosts of this process sharing one memory backend, on a fake clock.</summary>
[Collection(SerialCollection.Name)]
public sealed class MemoryStaleStormTests(ITestOutputHelper output) : StaleStormTests(output)
{
    // In the foreground mode, how many requests arrive while the lookup answered "miss" runs depends on scheduling
    // alone: a memory lookup completes synchronously, with no hand-off to bound it.
    protected override int? MaxHeld => null;

    private protected override async Task<HostFarm> StartFarmAsync(FarmSetup setup, string test) => await MemoryFarm.StartAsync(setup);
}
