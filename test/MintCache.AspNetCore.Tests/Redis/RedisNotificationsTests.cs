using System.Net;
using System.Reflection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using MintCache.AspNetCore.Backends.Redis;
using MintCache.AspNetCore.Diagnostics;
using StackExchange.Redis;

namespace MintCache.AspNetCore.Tests.Redis;

/// <summary>
/// Every way the subscription can fail is logged and none throws: on a multiplexer whose subscriber fails on demand,
/// so no server is needed to make it fail.
/// </summary>
public sealed class RedisNotificationsTests
{
    private readonly FakeLogger _logger = new();

    [Fact]
    public async Task StartAsync_SubscriberFailsUnexpectedly_WarningNotThrown()
    {
        var multiplexer = FailingMultiplexer.Create(new InvalidOperationException("broken"));
        using var notifications = new RedisNotifications("test:", near: null, Availability(), _logger);

        await notifications.StartAsync(multiplexer);

        Assert.False(notifications.IsLive);
        var record = Assert.Single(Records(Log.IdNotificationsFailed));
        Assert.Equal(LogLevel.Warning, record.Level);
        Assert.IsType<InvalidOperationException>(record.Exception);
    }

    [Fact]
    public void EnsureStarted_SubscriberFails_Logged()
    {
        // The failure comes before the first await, so it is logged by the time EnsureStarted returns.
        var multiplexer = FailingMultiplexer.Create(new InvalidOperationException("broken"));
        using var notifications = new RedisNotifications("test:", near: null, Availability(), _logger);

        notifications.EnsureStarted(multiplexer);

        Assert.Single(Records(Log.IdNotificationsFailed));
    }

    [Fact]
    public async Task ConnectionRestored_ResubscribeFails_EachFailureLogged()
    {
        var multiplexer = FailingMultiplexer.Create(new RedisConnectionException(ConnectionFailureType.SocketFailure, "down"));
        using var notifications = new RedisNotifications("test:", near: null, Availability(), _logger);
        await notifications.StartAsync(multiplexer);
        Assert.Single(Records(Log.IdNotificationsSubscribeFailed));

        // Redis is back but subscribing fails otherwise: the restored event's subscription is not left unobserved.
        FailingMultiplexer.Of(multiplexer).Failure = new InvalidOperationException("broken");
        FailingMultiplexer.Of(multiplexer).RaiseConnectionRestored();

        Assert.False(notifications.IsLive);
        var record = Assert.Single(Records(Log.IdNotificationsFailed));
        Assert.Equal(LogLevel.Warning, record.Level);
    }

    private RedisAvailability Availability()
        => new(new MintCacheOptions(), TimeProvider.System, _logger, static (_, _) => Task.FromResult(false), static () => { }, static () => { });

    private IReadOnlyList<FakeLogRecord> Records(int eventId)
        => [.. _logger.Collector.GetSnapshot().Where(r => r.Id.Id == eventId)];

    /// <summary>A multiplexer whose <c>GetSubscriber</c> throws <see cref="Failure"/>; it remembers its event handlers.</summary>
    public class FailingMultiplexer : DispatchProxy
    {
        private EventHandler<ConnectionFailedEventArgs>? _restored;

        public Exception Failure { get; set; } = new InvalidOperationException();

        public static IConnectionMultiplexer Create(Exception failure)
        {
            var multiplexer = Create<IConnectionMultiplexer, FailingMultiplexer>();
            Of(multiplexer).Failure = failure;
            return multiplexer;
        }

        public static FailingMultiplexer Of(IConnectionMultiplexer multiplexer) => (FailingMultiplexer)(object)multiplexer;

        public void RaiseConnectionRestored()
            => _restored?.Invoke(this, new ConnectionFailedEventArgs(this, new DnsEndPoint("localhost", 6379), ConnectionType.Subscription, ConnectionFailureType.None, null!, "test"));

        protected override object? Invoke(MethodInfo? targetMethod, object?[]? args)
        {
            switch (targetMethod?.Name)
            {
                case nameof(IConnectionMultiplexer.GetSubscriber):
                    throw Failure;
                case "add_" + nameof(IConnectionMultiplexer.ConnectionRestored):
                    _restored += (EventHandler<ConnectionFailedEventArgs>)args![0]!;
                    return null;
                case { } name when name.StartsWith("add_", StringComparison.Ordinal) || name.StartsWith("remove_", StringComparison.Ordinal):
                    return null;
                default:
                    throw new NotSupportedException(targetMethod?.Name);
            }
        }
    }
}
