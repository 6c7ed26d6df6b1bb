using Microsoft.Extensions.Logging;
using MintCache.AspNetCore.Backends;
using MintCache.AspNetCore.Store;
using MintCache.AspNetCore.Tests.Fixtures;

namespace MintCache.AspNetCore.Tests.Behaviour;

/// <summary>
/// The shared promises on the Redis backend with its plain reads switched off: every lookup is the script's. With
/// <see cref="RedisBackendBehaviourTests"/>, where plain reads decide what they can, this shows the C# and the Lua
/// decisions agree (design.md §4: turning the fast reads off changes no answer).
/// </summary>
public sealed class RedisScriptOnlyBackendBehaviourTests(RedisServerFixture redis) : BackendBehaviourTests, IClassFixture<RedisServerFixture>
{
    private RedisStoreHarness? _harness;

    private protected override Task<IMintBackend> CreateBackendAsync()
    {
        _harness = new RedisStoreHarness(redis.Endpoint, RedisStoreHarness.UniquePrefix(nameof(RedisScriptOnlyBackendBehaviourTests)));
        _harness.Backend.FastReads.Enabled = false;
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
