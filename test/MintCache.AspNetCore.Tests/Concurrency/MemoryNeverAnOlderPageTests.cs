using MintCache.AspNetCore.Tests.Fixtures;

namespace MintCache.AspNetCore.Tests.Concurrency;

/// <summary>The older-page scenarios with hosts of this process sharing one memory backend, on a fake clock.</summary>
public sealed class MemoryNeverAnOlderPageTests : NeverAnOlderPageTests
{
    private protected override async Task<HostFarm> StartFarmAsync(FarmSetup setup, string test) => await MemoryFarm.StartAsync(setup);
}
