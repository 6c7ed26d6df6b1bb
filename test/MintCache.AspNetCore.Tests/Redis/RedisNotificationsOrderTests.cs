using System.Net;
using Microsoft.Extensions.Logging.Testing;
using MintCache.AspNetCore.Backends.Redis;
using MintCache.AspNetCore.Diagnostics;
using MintCache.AspNetCore.Tests.Fixtures;
using StackExchange.Redis;

namespace MintCache.AspNetCore.Tests.Redis;

/// <summary>
/// The multiplexer raises its connection events each on the thread pool on its own, so they may be handled out of
/// order: the subscription must not stay not live because its loss was handled after its return.
/// </summary>
public sealed class RedisNotificationsOrderTests(RedisServerFixture redis) : IClassFixture<RedisServerFixture>
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(15);
    private readonly FakeLogger _logger = new();

    [Fact]
    public async Task SubscriptionLossHandledAfterItsReturn_LiveAgainWithoutALookup()
    {
        await using var multiplexer = await ConnectionMultiplexer.ConnectAsync(redis.Endpoint);
        using var notifications = new RedisNotifications(RedisHost.UniquePrefix(), near: null, Availability(), _logger);
        await notifications.StartAsync(multiplexer);
        Assert.True(notifications.IsLive);

        // The subscription's connection is up (its return was handled first); its loss arrives now.
        var endpoint = Assert.IsAssignableFrom<EndPoint>(multiplexer.GetSubscriber().SubscribedEndpoint(notifications.Channel));
        notifications.OnConnectionFailed(multiplexer, new ConnectionFailedEventArgs(
            multiplexer, endpoint, ConnectionType.Subscription, ConnectionFailureType.SocketClosed, new RedisConnectionException(ConnectionFailureType.SocketClosed, "closed"), "subscription"));
        Assert.Single(_logger.Collector.GetSnapshot(), r => r.Id.Id == Log.IdNotificationsLost);

        await Eventually.HoldsAsync(() => notifications.IsLive, Deadline, "the notifications are live again, with no lookup to send an echo");
    }

    private RedisAvailability Availability()
        => new(new MintCacheOptions(), TimeProvider.System, _logger, static (_, _) => Task.FromResult(false), static () => { }, static () => { });
}
