using Microsoft.Extensions.Logging;
using MintCache.AspNetCore.Diagnostics;
using StackExchange.Redis;

namespace MintCache.AspNetCore.Backends.Redis;

/// <summary>
/// The one pub/sub subscription of a process: Redis tells every process when an entry changed (a store, a released
/// claim: the message is the cache key) or when a tag eviction ran (an empty message). Each message is counted by the
/// <see cref="RedisChangeStamps"/> (which drop the near copies it makes wrong) and wakes the
/// <see cref="RedisColdMissWaiters"/> of its key. This type owns the subscription; whether it <see cref="IsLive"/> is
/// <see cref="RedisAvailability"/>'s to say, told here what the subscription learns.
/// </summary>
/// <remarks>
/// <para>
/// The scripts publish inside the write, so a message is sent only after the change is visible. Its reply and the
/// message travel on two connections, so they may arrive in either order: <see cref="Mark"/> taken before a lookup
/// and compared after it (see <see cref="RedisNearCache"/>) detects that a change arrived in between.
/// </para>
/// <para>
/// A message published while the subscription is down is lost, so a lost connection makes the notifications not
/// <see cref="IsLive"/> (nobody waits on them, the near cache is cleared and not used) until the subscription is
/// back and a round trip on it proved the resubscription done.
/// </para>
/// <para>
/// A lost connection may never be restored: on a Redis Cluster, the master that died in a failover stays dead, and
/// its replica serves its slots instead. So while Redis answers and the notifications are not live, <see cref="Resume"/>
/// publishes an echo of this process's own, as often as <see cref="RedisAvailability.TryBeginEcho"/> allows, and the
/// notifications are live again once it comes back through the subscription: proof that changes published from now on
/// reach this process.
/// </para>
/// </remarks>
internal sealed class RedisNotifications : IDisposable
{
    private readonly RedisChannel _channel;
    private readonly Action _connectionLost;
    private readonly Action _wentLive;
    private readonly RedisChangeStamps _stamps;
    private readonly RedisColdMissWaiters _waiters;
    private readonly ILogger _logger;
    private readonly Action _tagsEvicted;
    private readonly Action<RedisTouchNotice>? _touched;
    private readonly RedisAvailability _availability;
    private readonly RedisClearStamps? _clears;
    private readonly Action<bool, bool> _cleared;
    private IConnectionMultiplexer? _multiplexer;
    private ChannelMessageQueue? _queue;
    private long _received;
    private int _disposed;
    private Echo? _echo;

    public RedisNotifications(
        string prefix, RedisNearCache? near, RedisAvailability availability, ILogger logger, Action? tagsEvicted = null, Action? connectionLost = null,
        Action? wentLive = null, RedisClearStamps? clears = null, Action<bool, bool>? cleared = null, Action<RedisTouchNotice>? touched = null)
    {
        _touched = touched;
        _availability = availability;
        _clears = clears;
        _cleared = cleared ?? (static (_, _) => { });
        _wentLive = wentLive ?? (static () => { });
        _tagsEvicted = tagsEvicted ?? (static () => { });
        _connectionLost = connectionLost ?? (static () => { });
        _channel = RedisChannel.Literal(prefix + "changed");
        _stamps = new RedisChangeStamps(near);
        _waiters = new RedisColdMissWaiters(_stamps, () => IsLive);
        _logger = logger;
    }

    /// <summary>The channel every process of the farm publishes its changes on and listens to.</summary>
    public RedisChannel Channel => _channel;

    /// <inheritdoc cref="RedisAvailability.SubscriptionLive"/>
    public bool IsLive => _availability.SubscriptionLive;

    /// <summary>For tests: how many keys have lookups waiting in this process.</summary>
    internal int WaiterCount => _waiters.Count;

    /// <summary>For tests: messages received.</summary>
    internal long Received => Interlocked.Read(ref _received);

    /// <inheritdoc cref="RedisChangeStamps.Mark"/>
    public long Mark(string key) => _stamps.Mark(key);

    /// <summary>
    /// Starts the subscription in the background if it was not started yet: called with every multiplexer the backend
    /// obtains, so a first connection that failed (Redis down at start-up) still subscribes once one succeeds.
    /// </summary>
    public void EnsureStarted(IConnectionMultiplexer multiplexer)
    {
        if (Volatile.Read(ref _multiplexer) is null)
        {
            // StartAsync logs its own failures; this only observes what it could not (a fault of the logger itself).
            _ = StartAsync(multiplexer).ContinueWith(
                static (t, state) => ((RedisNotifications)state!).OnBackgroundFault(t, "start"),
                this,
                CancellationToken.None,
                TaskContinuationOptions.OnlyOnFaulted,
                TaskScheduler.Default);
        }
    }

    /// <summary>
    /// Subscribes once the multiplexer is connected; watched connections make it resubscribe on its own. Never throws:
    /// a failure is logged and leaves the notifications not live until the next restored connection.
    /// </summary>
    public async Task StartAsync(IConnectionMultiplexer multiplexer)
    {
        if (Volatile.Read(ref _disposed) == 1 || Interlocked.CompareExchange(ref _multiplexer, multiplexer, null) is not null)
        {
            return;
        }

        try
        {
            multiplexer.ConnectionFailed += OnConnectionFailed;
            multiplexer.ConnectionRestored += OnConnectionRestored;
        }
        catch (Exception ex)
        {
            // Without the events nothing would resubscribe after a lost connection: stay not live, said once.
            Log.NotificationsFailed(_logger, "watch the connection", ex);
            return;
        }

        await SubscribeAsync().ConfigureAwait(false);
    }

    // Never throws: it runs from the multiplexer's events and in the background, where nobody would observe it.
    private async Task SubscribeAsync()
    {
        if (_multiplexer is not { } multiplexer || Volatile.Read(ref _disposed) == 1)
        {
            return;
        }

        var resubscribing = Volatile.Read(ref _queue) is not null;
        try
        {
            if (Volatile.Read(ref _queue) is null)
            {
                var queue = await multiplexer.GetSubscriber().SubscribeAsync(_channel).ConfigureAwait(false);

                // One message after the other, in the order Redis sent them.
                queue.OnMessage(OnMessage);
                Volatile.Write(ref _queue, queue);
            }
            else
            {
                // StackExchange.Redis resubscribes on reconnect; a round trip on the subscription connection, which
                // runs its commands in order, completes only after that resubscription did.
                await multiplexer.GetSubscriber().PingAsync().ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException or ObjectDisposedException)
        {
            // Redis is down or going away, which the backend reports itself: not live yet, the next
            // ConnectionRestored tries again.
            Log.NotificationsSubscribeFailed(_logger, ex);
            return;
        }
        catch (Exception ex)
        {
            // Anything else is not an outage and may not heal by reconnecting: said at Warning. Not live either.
            Log.NotificationsFailed(_logger, resubscribing ? "resubscribe" : "subscribe", ex);
            return;
        }

        GoLive();
    }

    /// <summary>The subscription is proven to deliver: live from now on.</summary>
    private void GoLive()
    {
        // Whatever changed while nobody listened is unknown: forget every near copy taken before, and the clears heard
        // (the backend reads the record again).
        Invalidate();
        _clears?.Distrust();
        _wentLive();
        _availability.SubscriptionProven();
        _waiters.WakeAll();
    }

    /// <summary>
    /// Called while Redis answers: when the notifications are not live, proves the subscription delivers with an echo
    /// (in the background, as often as <see cref="RedisAvailability.TryBeginEcho"/> allows), then makes them live
    /// again. Cheap when they are live.
    /// </summary>
    public void Resume(TimeSpan timeout)
    {
        if (IsLive || Volatile.Read(ref _queue) is null || Volatile.Read(ref _disposed) == 1 || !_availability.TryBeginEcho())
        {
            return;
        }

        _ = ResumeAsync(timeout);
    }

    // Never throws: it runs in the background, where nobody would observe it.
    private async Task ResumeAsync(TimeSpan timeout)
    {
        try
        {
            if (_multiplexer is not { } multiplexer)
            {
                return;
            }

            // A message no cache key can be (the middleware's keys start with the method): to other processes, a
            // change of a key nobody holds.
            var echo = new Echo(RedisWire.ChannelMark.Echo + "echo:" + Guid.NewGuid().ToString("N"));
            Volatile.Write(ref _echo, echo);
            await multiplexer.GetSubscriber().PublishAsync(_channel, echo.Message).WaitAsync(timeout).ConfigureAwait(false);
            await echo.Received.Task.WaitAsync(timeout).ConfigureAwait(false);
            if (IsLive || Volatile.Read(ref _disposed) == 1)
            {
                return;
            }

            GoLive();
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException or ObjectDisposedException)
        {
            // Not delivering yet: the next call that reaches Redis tries again, a second later.
            Log.NotificationsSubscribeFailed(_logger, ex);
        }
        finally
        {
            Volatile.Write(ref _echo, null);
            _availability.EndEcho();
        }
    }

    private void OnConnectionFailed(object? sender, ConnectionFailedEventArgs args)
    {
        // Any connection: with RESP3 the subscription shares the interactive one, and clearing costs little.
        _availability.SubscriptionLost(args.ConnectionType.ToString());
        _clears?.Distrust();

        // Before the copies are dropped: the backend keeps them as last-known pages, should Redis be gone.
        _connectionLost();
        Invalidate();
        _waiters.WakeAll();
    }

    private void OnConnectionRestored(object? sender, ConnectionFailedEventArgs args)
    {
        Invalidate();
        _ = SubscribeAsync().ContinueWith(
            static (t, state) => ((RedisNotifications)state!).OnBackgroundFault(t, "resubscribe"),
            this,
            CancellationToken.None,
            TaskContinuationOptions.OnlyOnFaulted,
            TaskScheduler.Default);
    }

    // SubscribeAsync catches and logs everything itself; a fault seen here came from the logging, and is logged
    // once more rather than left unobserved.
    private void OnBackgroundFault(Task task, string operation)
    {
        try
        {
            Log.NotificationsFailed(_logger, operation, task.Exception!.GetBaseException());
        }
        catch (Exception)
        {
            // The logger itself throws: there is nowhere left to report it, and it must not reach the thread pool.
        }
    }

    private void OnMessage(ChannelMessage message)
    {
        Interlocked.Increment(ref _received);
        if (RedisTouchNotice.IsNotice(((ReadOnlyMemory<byte>)message.Message).Span))
        {
            OnTouchNotice((byte[])message.Message!);
            return;
        }

        var key = (string?)message.Message;
        if (Volatile.Read(ref _echo) is { } echo && key == echo.Message)
        {
            echo.Received.TrySetResult();
            return;
        }

        if (_clears is not null && RedisClearStamps.TryParse(key ?? "", out var hard, out var soft))
        {
            // A clear: every near copy may be older than it.
            var (hardGrew, softGrew) = _clears.Heard(hard, soft);
            Invalidate();
            _cleared(hardGrew, softGrew);
            return;
        }

        if (string.IsNullOrEmpty(key))
        {
            // A tag eviction: which near copies carry the tag is not known here, so all of them go.
            Invalidate();
            _tagsEvicted();
            return;
        }

        Changed(key);
        _waiters.Wake(key);
    }

    /// <summary>
    /// An entry's page was regenerated the same: counted as a change (a reply read before it is not kept near), then
    /// its near copy moved on to the new times rather than dropped. A notice that does not read is a change.
    /// </summary>
    private void OnTouchNotice(byte[] message)
    {
        if (!RedisTouchNotice.TryParse(message, out var notice))
        {
            // Which key it names is unknown: every copy goes.
            Invalidate();
            return;
        }

        _stamps.Touched(notice.Key);
        if (_touched is { } touched)
        {
            touched(notice);
        }
        else
        {
            _stamps.Changed(notice.Key);
        }

        _waiters.Wake(notice.Key);
    }

    /// <inheritdoc cref="RedisChangeStamps.Changed"/>
    public void Changed(string key) => _stamps.Changed(key);

    /// <inheritdoc cref="RedisChangeStamps.Invalidate"/>
    public void Invalidate() => _stamps.Invalidate();

    /// <inheritdoc cref="RedisColdMissWaiters.WaitAsync"/>
    public ValueTask<bool> WaitAsync(string key, long mark, TimeSpan timeout, CancellationToken cancellationToken)
        => _waiters.WaitAsync(key, mark, timeout, cancellationToken);

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        _availability.SubscriptionLost(connectionType: null);
        if (_multiplexer is { } multiplexer)
        {
            multiplexer.ConnectionFailed -= OnConnectionFailed;
            multiplexer.ConnectionRestored -= OnConnectionRestored;
        }

        // Only this subscription: a multiplexer the application shares keeps its own.
        try
        {
            Volatile.Read(ref _queue)?.Unsubscribe(CommandFlags.FireAndForget);
        }
        catch (Exception ex) when (ex is RedisException or ObjectDisposedException)
        {
            // Shutting down: the server drops the subscription with the connection anyway.
            Log.NotificationsUnsubscribeFailed(_logger, ex);
        }

        _waiters.WakeAll();
    }

    // An echo this process published, and whether it came back through the subscription.
    private sealed class Echo(string message)
    {
        public string Message { get; } = message;

        public TaskCompletionSource Received { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
