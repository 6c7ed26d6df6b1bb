using StackExchange.Redis;

namespace MintCache.AspNetCore.Backends.Redis;

/// <summary>
/// The one long-lived multiplexer the Redis backend uses, connected on first use, and whether MintCache owns it.
/// </summary>
/// <remarks>
/// A multiplexer MintCache created from <see cref="MintRedisOptions.Configuration"/> is disposed with the backend; one the
/// application supplied (a factory, or its own registration) is the application's and is never disposed here.
/// </remarks>
internal sealed class RedisConnection : IAsyncDisposable, IDisposable
{
    private readonly Func<Task<IConnectionMultiplexer>> _connect;
    private readonly Lock _lock = new();
    private Task<IConnectionMultiplexer>? _connecting;
    private bool _disposed;

    public RedisConnection(Func<Task<IConnectionMultiplexer>> connect, bool owned)
    {
        _connect = connect;
        Owned = owned;
    }

    /// <summary>Whether MintCache created the multiplexer and so disposes it.</summary>
    public bool Owned { get; }

    /// <summary>
    /// Builds MintCache's own connection settings from a StackExchange.Redis configuration string.
    /// </summary>
    /// <remarks>
    /// <c>AbortOnConnectFail = false</c> so the application starts (and serves from the local fallback) while Redis
    /// is down, and reconnects in the background. <c>BacklogPolicy.FailFast</c>: while disconnected, a command fails
    /// at once instead of queueing until its timeout, so requests fall back to local memory without waiting.
    /// Exceptions carry no command details, which could hold cache keys.
    /// </remarks>
    public static ConfigurationOptions ParseOwnedOptions(string configuration)
    {
        var options = ConfigurationOptions.Parse(configuration);
        options.AbortOnConnectFail = false;
        options.BacklogPolicy = BacklogPolicy.FailFast;
        options.IncludeDetailInExceptions = false;

        // The default backs off exponentially up to a minute between attempts; after an outage MintCache wants Redis
        // back within a couple of seconds, and a connect attempt on a small farm costs next to nothing.
        options.ReconnectRetryPolicy = new LinearRetry(500);
        if (string.IsNullOrEmpty(options.ClientName))
        {
            options.ClientName = "MintCache";
        }

        return options;
    }

    /// <summary>Whether the multiplexer was made: it reconnects on its own from then on.</summary>
    public bool IsConnected => Volatile.Read(ref _connecting) is { IsCompletedSuccessfully: true };

    /// <summary>The multiplexer, once connected. The first caller starts the connection; a failed one is retried.</summary>
    public ValueTask<IConnectionMultiplexer> GetAsync(CancellationToken cancellationToken)
    {
        var connecting = Volatile.Read(ref _connecting);
        if (connecting is { IsCompletedSuccessfully: true })
        {
            return ValueTask.FromResult(connecting.Result);
        }

        return new ValueTask<IConnectionMultiplexer>(Connecting().WaitAsync(cancellationToken));
    }

    private Task<IConnectionMultiplexer> Connecting()
    {
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_connecting is null || _connecting.IsFaulted || _connecting.IsCanceled)
            {
                // Started outside the caller's cancellation: one caller timing out must not abort everyone's connection.
                _connecting = Task.Run(_connect);
            }

            return _connecting;
        }
    }

    /// <summary>Disposes the multiplexer if MintCache owns it (a container disposed synchronously calls this).</summary>
    public void Dispose()
    {
        if (TakeOwnedConnection() is not { } connecting)
        {
            return;
        }

        if (connecting.IsCompletedSuccessfully)
        {
            connecting.Result.Dispose();
        }
        else
        {
            // Still connecting: dispose it when it is done, without blocking the caller on a network round trip.
            _ = connecting.ContinueWith(static t => t.Result.Dispose(), CancellationToken.None, TaskContinuationOptions.OnlyOnRanToCompletion, TaskScheduler.Default);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (TakeOwnedConnection() is not { } connecting)
        {
            return;
        }

        if (!connecting.IsCompleted)
        {
            // Still connecting (a server that accepts and never answers holds a connect for its whole timeout): the
            // host's shutdown does not wait for it; the multiplexer is disposed when the attempt ends.
            _ = connecting.ContinueWith(static t => t.Result.Dispose(), CancellationToken.None, TaskContinuationOptions.OnlyOnRanToCompletion, TaskScheduler.Default);
            return;
        }

        try
        {
            var multiplexer = await connecting.ConfigureAwait(false);
            await multiplexer.DisposeAsync().ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is RedisException or ArgumentException or InvalidOperationException)
        {
            // It never connected: nothing to dispose.
        }
    }

    private Task<IConnectionMultiplexer>? TakeOwnedConnection()
    {
        lock (_lock)
        {
            if (_disposed)
            {
                return null;
            }

            _disposed = true;
            return Owned ? _connecting : null;
        }
    }
}
