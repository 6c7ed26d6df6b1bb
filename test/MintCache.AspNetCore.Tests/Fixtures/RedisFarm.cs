using Microsoft.Extensions.DependencyInjection;
using MintCache.AspNetCore.Backends.Redis;
using StackExchange.Redis;

namespace MintCache.AspNetCore.Tests.Fixtures;

/// <summary>
/// Hosts sharing one Redis server (or cluster) under a key prefix of their own, on real time: the server's clock
/// decides, and no test can fake it.
/// </summary>
internal sealed class RedisFarm : HostFarm
{
    /// <summary>
    /// Long enough that a page stale for less than it shows <c>Age: 0</c> (the header counts whole seconds), short
    /// enough to wait for.
    /// </summary>
    public static readonly TimeSpan DefaultFresh = TimeSpan.FromSeconds(1);

    private readonly IConnectionMultiplexer _multiplexer;

    private RedisFarm(TimeSpan fresh, IConnectionMultiplexer multiplexer, string prefix)
        : base(fresh)
    {
        _multiplexer = multiplexer;
        Prefix = prefix;
    }

    public override bool IsExact => false;

    /// <summary>The key prefix every host of this farm stores under.</summary>
    public string Prefix { get; }

    /// <param name="endpoint">The StackExchange.Redis configuration string of the server or cluster.</param>
    /// <param name="multiplexer">The fixture's own connection, to read the server's clock.</param>
    public static async Task<RedisFarm> StartAsync(string endpoint, IConnectionMultiplexer multiplexer, FarmSetup setup, string prefix)
    {
        var farm = new RedisFarm(setup.Fresh ?? DefaultFresh, multiplexer, prefix);
        var page = new GatedPage();
        await farm.StartHostsAsync(setup, _ => TestApp.StartAsync(
            RedisStoreHarness.TestOptions(endpoint, prefix, setup.ConfigureMint),
            setup.PagePolicy,
            services =>
            {
                services.AddSingleton(page);
                setup.ConfigureServices?.Invoke(services);
            },
            mapMore: app => setup.MapMore?.Invoke(app, farm.Fresh),
            clock: TimeProvider.System,
            fresh: farm.Fresh));

        // Each host hears of the others' evictions and stores from the moment the test starts.
        await farm.WaitUntilAsync(
            () => farm.Hosts.All(h => h.Services.GetRequiredService<RedisBackend>().Notifications.IsLive),
            "every host subscribed");
        return farm;
    }

    public override async Task PassAsync(TimeSpan duration)
    {
        var until = await ServerNowAsync() + (long)Math.Ceiling(duration.TotalMilliseconds) + 1;
        await Eventually.HoldsAsync(async () => await ServerNowAsync() >= until, duration + Deadline, $"{duration} pass on the server clock");
    }

    private async Task<long> ServerNowAsync()
    {
        var time = await _multiplexer.GetServer(_multiplexer.GetEndPoints()[0]).TimeAsync();
        return new DateTimeOffset(time, TimeSpan.Zero).ToUnixTimeMilliseconds();
    }
}
