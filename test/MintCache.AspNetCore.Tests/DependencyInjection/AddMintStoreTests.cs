using Microsoft.AspNetCore.OutputCaching;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using MintCache.AspNetCore.Store;

namespace MintCache.AspNetCore.Tests.DependencyInjection;

public sealed class AddMintStoreTests
{
    [Fact]
    public void AddMintStore_AfterAddOutputCache_ReplacesTheBuiltInStore()
    {
        var services = new ServiceCollection().AddLogging();
        services.AddOutputCache().AddMintStore();

        using var provider = services.BuildServiceProvider();

        Assert.IsType<MintOutputCacheStore>(provider.GetRequiredService<IOutputCacheStore>());
        Assert.Single(services, d => d.ServiceType == typeof(IOutputCacheStore));
    }

    [Fact]
    public void AddMintStore_BeforeAddOutputCache_StillWins()
    {
        var services = new ServiceCollection().AddLogging();
        services.AddMintStore();
        services.AddOutputCache();

        using var provider = services.BuildServiceProvider();

        Assert.IsType<MintOutputCacheStore>(provider.GetRequiredService<IOutputCacheStore>());
        Assert.Same(provider.GetRequiredService<IOutputCacheStore>(), provider.GetRequiredService<IMintCache>());
    }

    [Fact]
    public void AddMintStore_BindsTheMintCacheSection_ThenAppliesCode()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["MintCache:Grace"] = "00:02:00",
            ["MintCache:LeaseDuration"] = "00:00:20",
            ["MintCache:Redis:KeyPrefix"] = "shop:",
            ["MintCache:Redis:ColdMissWait"] = "00:00:03",
            ["MintCache:Redis:NearCache"] = "false",
            ["MintCache:Redis:NearCacheSizeLimit"] = "1048576",
            ["MintCache:Redis:CompressionDictionary"] = "false",
            ["MintCache:ResponseTagHeader"] = "Cache-Tag",
            ["MintCache:StripResponseTagHeader"] = "true",
            ["MintCache:TrackPaths"] = "true",
            ["MintCache:RefreshMode"] = "Foreground",
        }).Build();
        var services = new ServiceCollection().AddLogging().AddSingleton<IConfiguration>(configuration);
        services.AddOutputCache().AddMintStore(o => o.Redis.KeyPrefix = "code:");

        using var provider = services.BuildServiceProvider();
        var options = provider.GetRequiredService<IOptions<MintCacheOptions>>().Value;

        Assert.Equal(TimeSpan.FromMinutes(2), options.Grace);
        Assert.Equal(TimeSpan.FromSeconds(20), options.LeaseDuration);
        Assert.Equal("code:", options.Redis.KeyPrefix);
        Assert.Equal(TimeSpan.FromSeconds(3), options.Redis.ColdMissWait);
        Assert.False(options.Redis.NearCache);
        Assert.Equal(1_048_576, options.Redis.NearCacheSizeLimit);
        Assert.False(options.Redis.CompressionDictionary);
        Assert.Equal("Cache-Tag", options.ResponseTagHeader);
        Assert.True(options.StripResponseTagHeader);
        Assert.True(options.TrackPaths);
        Assert.Equal(RefreshMode.Foreground, options.RefreshMode);
    }

    [Theory]
    [InlineData("Grace", "00:00:00")]
    [InlineData("Grace", "-00:00:01")]
    [InlineData("LeaseDuration", "00:00:00")]
    [InlineData("LeaseDuration", "01:00:00")]
    [InlineData("FailureBackoff", "00:00:30")]
    [InlineData("FailSafe", "00:00:10")]
    [InlineData("Redis:KeyPrefix", "")]
    [InlineData("Redis:ColdMissWait", "-00:00:01")]
    [InlineData("Redis:ColdMissWait", "00:10:00")]
    [InlineData("Redis:NearCacheSizeLimit", "100")]
    [InlineData("Redis:CompressionThreshold", "-1")]
    [InlineData("EagerRefreshThreshold", "0")]
    [InlineData("EagerRefreshThreshold", "1")]
    [InlineData("EagerRefreshThreshold", "1.5")]
    [InlineData("EagerRefreshThreshold", "-0.2")]
    [InlineData("ResponseTagHeader", "Surrogate Key")]
    [InlineData("Redis:OperationTimeout", "00:00:00")]
    [InlineData("Redis:BreakDuration", "00:00:00.010")]
    public async Task InvalidOption_FailsAtStartup_NamingTheOption(string option, string value)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?> { [$"MintCache:{option}"] = value });
        builder.Services.AddOutputCache().AddMintStore();
        using var host = builder.Build();

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());

        // A nested option is named by its path: "MintCache:Redis:KeyPrefix" is reported as "Redis.KeyPrefix".
        Assert.Contains(option.Replace(':', '.'), error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RedisSectionHoldingAValue_FailsAtStartup_NamingTheConfigurationKey()
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?> { ["MintCache:Redis"] = "127.0.0.1:6379,password=hunter2" });
        builder.Services.AddOutputCache().AddMintStore();
        using var host = builder.Build();

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());

        Assert.Contains("MintCache:Redis:Configuration", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("hunter2", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void RedisSection_BindsTheNestedOptions()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["MintCache:Redis:Configuration"] = "127.0.0.1:1",
            ["MintCache:Redis:OperationTimeout"] = "00:00:02",
            ["MintCache:Redis:BreakDuration"] = "00:00:07",
        }).Build();
        var services = new ServiceCollection().AddLogging().AddSingleton<IConfiguration>(configuration);
        services.AddOutputCache().AddMintStore();

        using var provider = services.BuildServiceProvider();
        var options = provider.GetRequiredService<IOptions<MintCacheOptions>>().Value;

        Assert.Equal("127.0.0.1:1", options.Redis.Configuration);
        Assert.Equal(TimeSpan.FromSeconds(2), options.Redis.OperationTimeout);
        Assert.Equal(TimeSpan.FromSeconds(7), options.Redis.BreakDuration);
        Assert.True(options.UsesRedis);
    }

    [Fact]
    public void RefreshMode_DefaultValue_IsTheDefaultMode()
    {
        Assert.Equal(default(RefreshMode), new MintCacheOptions().RefreshMode);
        Assert.Equal(RefreshMode.Background, default(RefreshMode));
    }

    [Fact]
    public void Defaults_BackgroundRefresh_NoEagerRefresh()
    {
        var options = new MintCacheOptions();
        Assert.Equal(RefreshMode.Background, options.RefreshMode);
        Assert.Null(options.EagerRefreshThreshold);
        Assert.Equal("Surrogate-Key", options.ResponseTagHeader);
        Assert.False(options.StripResponseTagHeader);
        Assert.False(options.TrackPaths);
    }

    [Fact]
    public async Task SeveralInvalidOptions_AreReportedTogether()
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Services.AddOutputCache().AddMintStore(o =>
        {
            o.Grace = TimeSpan.Zero;
            o.LeaseDuration = TimeSpan.FromHours(1);
        });
        using var host = builder.Build();

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());

        Assert.Contains("Grace", error.Message, StringComparison.Ordinal);
        Assert.Contains("LeaseDuration", error.Message, StringComparison.Ordinal);
    }
}
