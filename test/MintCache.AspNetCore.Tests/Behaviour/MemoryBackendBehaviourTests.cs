using MintCache.AspNetCore.Backends;
using MintCache.AspNetCore.Store;
using MintCache.AspNetCore.Tests.Fixtures;

namespace MintCache.AspNetCore.Tests.Behaviour;

/// <summary>The shared promises on the memory backend, on a fake clock.</summary>
public sealed class MemoryBackendBehaviourTests : BackendBehaviourTests
{
    private readonly StoreHarness _harness = new();

    private protected override Task<IMintBackend> CreateBackendAsync() => Task.FromResult<IMintBackend>(_harness.Backend);

    private protected override MintOutputCacheStore Store => _harness.Store;

    protected override Task PassAsync(TimeSpan duration)
    {
        _harness.Time.Advance(duration);
        return Task.CompletedTask;
    }

    public override Task DisposeAsync()
    {
        _harness.Dispose();
        return Task.CompletedTask;
    }
}
