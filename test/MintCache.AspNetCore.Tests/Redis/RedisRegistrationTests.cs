using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using MintCache.AspNetCore.Backends;
using MintCache.AspNetCore.Backends.Memory;
using MintCache.AspNetCore.Backends.Redis;
using MintCache.AspNetCore.Tests.Fixtures;
using StackExchange.Redis;

namespace MintCache.AspNetCore.Tests.Redis;

/// <summary>How AddMintStore picks the backend, and who owns the multiplexer.</summary>
[Collection(RedisCollection.Name)]
public sealed class RedisRegistrationTests(RedisServerFixture redis)
{
    [Fact]
    public void AddMintStore_NoRedis_UsesMemory()
    {
        using var provider = Build(static _ => { });
        Assert.IsType<MemoryBackend>(provider.GetRequiredService<IMintBackend>());
    }

    [Fact]
    public async Task AddMintStore_RedisString_UsesRedisAndDisposesItsOwnMultiplexer()
    {
        var provider = Build(o => o.Redis.Configuration = redis.Endpoint);
        var backend = Assert.IsType<RedisBackend>(provider.GetRequiredService<IMintBackend>());
        Assert.True(backend.Connection.Owned);
        var multiplexer = await backend.Connection.GetAsync(default);
        Assert.True(multiplexer.IsConnected);

        await provider.DisposeAsync();
        Assert.False(multiplexer.IsConnected);
    }

    [Fact]
    public async Task AddMintStore_RedisString_DisposedSynchronously_DisposesItsOwnMultiplexer()
    {
        var provider = Build(o => o.Redis.Configuration = redis.Endpoint);
        var backend = Assert.IsType<RedisBackend>(provider.GetRequiredService<IMintBackend>());
        var multiplexer = await backend.Connection.GetAsync(default);

        provider.Dispose();
        Assert.False(multiplexer.IsConnected);
    }

    [Fact]
    public async Task AddMintStore_Factory_NeverDisposesTheApplicationsMultiplexer()
    {
        await using var own = await ConnectionMultiplexer.ConnectAsync(redis.Endpoint);
        var provider = Build(o => o.Redis.ConnectionMultiplexerFactory = _ => Task.FromResult<IConnectionMultiplexer>(own));
        var backend = Assert.IsType<RedisBackend>(provider.GetRequiredService<IMintBackend>());
        Assert.Same(own, await backend.Connection.GetAsync(default));

        await provider.DisposeAsync();
        Assert.True(own.IsConnected);
        await own.GetDatabase().PingAsync();
    }

    [Fact]
    public async Task AddMintStore_RegisteredMultiplexer_IsUsedAndNeverDisposed()
    {
        await using var own = await ConnectionMultiplexer.ConnectAsync(redis.Endpoint);
        var services = new ServiceCollection();
        services.AddSingleton<IConnectionMultiplexer>(own);
        var provider = Build(static o => o.Redis.ConnectionMultiplexerFactory = static sp => Task.FromResult(sp.GetRequiredService<IConnectionMultiplexer>()), services);
        var backend = Assert.IsType<RedisBackend>(provider.GetRequiredService<IMintBackend>());
        Assert.Same(own, await backend.Connection.GetAsync(default));
        Assert.False(backend.Connection.Owned);

        // Registered as an instance, which DI never disposes: neither may MintCache.
        await provider.DisposeAsync();
        await own.GetDatabase().PingAsync();
    }

    [Fact]
    public void AddMintStore_ConfigurationSection_BindsRedisSettings()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["MintCache:Redis:Configuration"] = redis.Endpoint,
            ["MintCache:Redis:KeyPrefix"] = "fromconfig:",
            ["MintCache:Redis:OperationTimeout"] = "00:00:00.250",
            ["MintCache:Redis:BreakDuration"] = "00:00:03",
        }).Build();
        var services = new ServiceCollection();
        services.AddSingleton<IConfiguration>(configuration);
        using var provider = Build(static _ => { }, services);

        var options = provider.GetRequiredService<IOptions<MintCacheOptions>>().Value;
        Assert.Equal(TimeSpan.FromMilliseconds(250), options.Redis.OperationTimeout);
        Assert.Equal(TimeSpan.FromSeconds(3), options.Redis.BreakDuration);
        var backend = Assert.IsType<RedisBackend>(provider.GetRequiredService<IMintBackend>());
        Assert.Equal("fromconfig:", backend.Keys.Prefix);
    }

    [Theory]
    [InlineData("app{1}:")]
    [InlineData("app}:")]
    public void AddMintStore_RedisWithBraceInPrefix_FailsValidation(string prefix)
    {
        using var provider = Build(o => { o.Redis.Configuration = redis.Endpoint; o.Redis.KeyPrefix = prefix; });
        var error = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IOptions<MintCacheOptions>>().Value);
        Assert.Contains("KeyPrefix", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AddMintStore_RedisOptionsOutOfRange_FailValidationNamingTheirPath()
    {
        using var provider = Build(o =>
        {
            o.Redis.Configuration = redis.Endpoint;
            o.Redis.OperationTimeout = TimeSpan.Zero;
            o.Redis.BreakDuration = TimeSpan.FromMilliseconds(10);
        });
        var error = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IOptions<MintCacheOptions>>().Value);
        Assert.Contains("Redis.OperationTimeout", error.Message, StringComparison.Ordinal);
        Assert.Contains("Redis.BreakDuration", error.Message, StringComparison.Ordinal);
    }

    private static ServiceProvider Build(Action<MintCacheOptions> configure, ServiceCollection? services = null)
    {
        services ??= new ServiceCollection();
        services.AddLogging();
        services.AddOutputCache().AddMintStore(configure);
        return services.BuildServiceProvider(validateScopes: true);
    }
}
