using System.Runtime.CompilerServices;
using Microsoft.AspNetCore.OutputCaching;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using MintCache.AspNetCore.Backends;
using MintCache.AspNetCore.Backends.Redis;
using MintCache.AspNetCore.Store;

namespace MintCache.AspNetCore.Tests.Fixtures;

/// <summary>
/// A MintCache store on the Redis backend, built through DI as an app would, without an HTTP host: one "process".
/// Two harnesses with the same prefix share the Redis as two processes would.
/// </summary>
internal sealed class RedisStoreHarness : IAsyncDisposable
{
    private readonly ServiceProvider _services;

    public RedisStoreHarness(string redis, string prefix, Action<MintCacheOptions>? configure = null, TimeProvider? timeProvider = null)
    {
        var services = new ServiceCollection();
        if (timeProvider is not null)
        {
            services.AddSingleton(timeProvider);
        }

        services.AddLogging(b => b.AddFakeLogging().SetMinimumLevel(LogLevel.Debug));
        services.AddOutputCache();
        services.AddMintStore(TestOptions(redis, prefix, configure));
        _services = services.BuildServiceProvider(validateScopes: true);
        Store = (MintOutputCacheStore)_services.GetRequiredService<IOutputCacheStore>();
        Backend = (RedisBackend)_services.GetRequiredService<IMintBackend>();
        Logs = _services.GetRequiredService<FakeLogCollector>();
    }

    public IServiceProvider Services => _services;

    public MintOutputCacheStore Store { get; }

    public RedisBackend Backend { get; }

    public FakeLogCollector Logs { get; }

    /// <summary>What every test store on Redis is configured with, before the test's own <paramref name="configure"/>.</summary>
    public static Action<MintCacheOptions> TestOptions(string redis, string prefix, Action<MintCacheOptions>? configure) => o =>
    {
        o.Redis.Configuration = redis;
        o.Redis.KeyPrefix = prefix;

        // Generous by default so a busy test machine does not look like an outage; outage tests set their own. A reply
        // that waits for a thread-pool thread past the timeout is a failure, answered from local memory, whose claims are
        // its own: a suite that counts claims would see two.
        o.Redis.OperationTimeout = TimeSpan.FromSeconds(15);

        // As in TestApp: the tests of the background path (the default) ask for it.
        o.RefreshMode = RefreshMode.Foreground;
        configure?.Invoke(o);
    };

    public static string UniquePrefix([CallerMemberName] string test = "") => RedisHost.UniquePrefix(test);

    public int CountLogs(int eventId) => Logs.GetSnapshot().Count(r => r.Id.Id == eventId);

    /// <summary>Every record logged at <paramref name="minimum"/> or above, one a line, for an assertion's message.</summary>
    public string LogDigest(LogLevel minimum = LogLevel.Information) => Fixtures.LogDigest.Of(Logs, minimum);

    public ValueTask DisposeAsync() => _services.DisposeAsync();
}
