using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using MintCache.AspNetCore.Diagnostics;

namespace MintCache.AspNetCore.Backends.Redis.Transactions;

/// <summary>
/// MintCache's own connections to the primary, at most <c>capacity</c> open, each lent to one store at a time and
/// given back when it is done with it in a known state.
/// </summary>
/// <remarks>
/// Never a reason to wait or fail: with every connection lent, or while a connection cannot be opened (refused,
/// TLS or credentials the configuration string does not carry), a rent answers null and the store runs as a script on
/// the multiplexer instead. A failed open is tried again after <c>retryAfter</c>, and logged once per failing spell.
/// </remarks>
internal sealed class RespConnectionPool(int capacity, TimeSpan retryAfter, TimeProvider timeProvider, ILogger logger) : IDisposable
{
    private readonly ConcurrentQueue<RespConnection> _idle = new();
    private int _open;
    private long _closedUntil;
    private int _failing;
    private volatile bool _disposed;

    /// <summary>For tests: how many connections are open, lent or idle.</summary>
    internal int Open => Volatile.Read(ref _open);

    /// <summary>An idle connection to <paramref name="endpoint"/>, or a new one; null when none can be had now.</summary>
    public async ValueTask<RespConnection?> TryRentAsync(RespEndpoint endpoint, CancellationToken cancellationToken)
    {
        while (_idle.TryDequeue(out var idle))
        {
            if (idle.Endpoint == endpoint)
            {
                return idle;
            }

            // The primary moved (a failover) or the settings changed: the old server's connections go.
            Discard(idle);
        }

        if (_disposed || timeProvider.GetTimestamp() < Volatile.Read(ref _closedUntil))
        {
            return null;
        }

        if (Interlocked.Increment(ref _open) > capacity)
        {
            Interlocked.Decrement(ref _open);
            return null;
        }

        try
        {
            var connection = await RespConnection.OpenAsync(endpoint, cancellationToken).ConfigureAwait(false);
            if (Interlocked.Exchange(ref _failing, 0) == 1)
            {
                Log.RedisTransactionsRestored(logger, endpoint.ToString());
            }

            return connection;
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
        {
            Interlocked.Decrement(ref _open);
            Volatile.Write(ref _closedUntil, timeProvider.GetTimestamp() + (long)(retryAfter.TotalSeconds * timeProvider.TimestampFrequency));
            if (Interlocked.Exchange(ref _failing, 1) == 0)
            {
                Log.RedisTransactionsUnavailable(logger, endpoint.ToString(), retryAfter, ex);
            }

            return null;
        }
        catch
        {
            Interlocked.Decrement(ref _open);
            throw;
        }
    }

    /// <summary>Takes back a connection whose every reply was read.</summary>
    public void Return(RespConnection connection)
    {
        if (_disposed)
        {
            Discard(connection);
            return;
        }

        _idle.Enqueue(connection);
    }

    /// <summary>Closes a connection whose state is not known (a failure, a timeout, a reply not read).</summary>
    public void Discard(RespConnection connection)
    {
        connection.Dispose();
        Interlocked.Decrement(ref _open);
    }

    public void Dispose()
    {
        _disposed = true;
        while (_idle.TryDequeue(out var idle))
        {
            Discard(idle);
        }
    }
}
