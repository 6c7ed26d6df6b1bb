using MintCache.AspNetCore.Store;
using MintCache.AspNetCore.Tests.Fixtures;

namespace MintCache.AspNetCore.Tests.Store;

/// <summary>Claim release on the memory backend, on a fake clock.</summary>
public sealed class MemoryClaimReleaseTests : ClaimReleaseTests
{
    private StoreHarness? _harness;

    protected override bool MissesAtOnce => true;

    private protected override Task<MintOutputCacheStore> StartStoreAsync(Action<MintCacheOptions> configure)
    {
        _harness = new StoreHarness(configure);
        return Task.FromResult(_harness.Store);
    }

    protected override Task PassAsync(TimeSpan duration)
    {
        _harness!.Time.Advance(duration);
        return Task.CompletedTask;
    }

    public override Task DisposeAsync()
    {
        _harness?.Dispose();
        return Task.CompletedTask;
    }
}
