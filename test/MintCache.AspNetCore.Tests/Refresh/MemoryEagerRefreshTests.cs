using MintCache.AspNetCore.Tests.Fixtures;

namespace MintCache.AspNetCore.Tests.Refresh;

/// <summary>Eager refresh with hosts of this process sharing one memory backend, on a fake clock.</summary>
public sealed class MemoryEagerRefreshTests : EagerRefreshTests
{
    private protected override async Task<HostFarm> StartFarmAsync(FarmSetup setup, string test) => await MemoryFarm.StartAsync(setup);
}
