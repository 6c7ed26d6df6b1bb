using Microsoft.Extensions.Logging;
using MintCache.AspNetCore.Backends;
using MintCache.AspNetCore.Store;
using MintCache.AspNetCore.Tests.Fixtures;

namespace MintCache.AspNetCore.Tests.Behaviour;

/// <summary>
/// The shared promises on the Redis backend with its store transactions switched off: every store and release is the
/// script's. With <see cref="RedisBackendBehaviourTests"/>, where a standalone server's stores are transactions, this
/// shows the C# fence and the Lua fence agree.
/// </summary>
public sealed class RedisScriptStoreBackendBehaviourTests(RedisServerFixture redis) : BackendBehaviourTests, IClassFixture<RedisServerFixture>
{
    private RedisStoreHarness? _harness;

    private protected override Task<IMintBackend> CreateBackendAsync()
    {
        _harness = new RedisStoreHarness(redis.Endpoint, RedisStoreHarness.UniquePrefix(nameof(RedisScriptStoreBackendBehaviourTests)), o => o.Redis.StoreTransactions = false);
        return Task.FromResult<IMintBackend>(_harness.Backend);
    }

    private protected override MintOutputCacheStore Store => _harness!.Store;

    private protected override string Logged => _harness!.LogDigest(LogLevel.Debug);

    protected override async Task PassAsync(TimeSpan duration)
    {
        var until = await redis.ServerNowAsync() + (long)duration.TotalMilliseconds + 1;
        await redis.WaitUntilServerTimeAsync(until, duration + TimeSpan.FromSeconds(10), $"{duration} pass on the server clock");
    }

    public override async Task DisposeAsync()
    {
        if (_harness is not null)
        {
            await _harness.DisposeAsync();
        }
    }
}
