using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging.Testing;
using Microsoft.Extensions.Time.Testing;
using MintCache.AspNetCore.Backends.Redis.Transactions;
using MintCache.AspNetCore.Diagnostics;
using MintCache.AspNetCore.Tests.Fixtures;

namespace MintCache.AspNetCore.Tests.Redis;

/// <summary>
/// MintCache's own connections for store transactions: never a reason to wait or fail. A connection that cannot be
/// opened leaves stores to the script until the retry, logged once; a full pool does too; a connection given back is
/// lent again.
/// </summary>
public sealed class RespConnectionPoolTests(RedisServerFixture redis) : IClassFixture<RedisServerFixture>
{
    private static readonly TimeSpan Retry = TimeSpan.FromSeconds(5);

    [Fact]
    public async Task FailedOpen_NoConnectionUntilTheRetry_LoggedOnce_ThenRestored()
    {
        var time = new FakeTimeProvider();
        var logger = new FakeLogger();
        using var pool = new RespConnectionPool(capacity: 4, Retry, time, logger);
        var refused = Endpoint(new IPEndPoint(IPAddress.Loopback, ClosedPort()));
        var server = Endpoint(RedisAddress());

        Assert.Null(await pool.TryRentAsync(refused, default));
        Assert.Null(await pool.TryRentAsync(server, default));
        Assert.Null(await pool.TryRentAsync(refused, default));
        Assert.Equal(0, pool.Open);

        time.Advance(Retry);
        var connection = await pool.TryRentAsync(server, default);

        Assert.NotNull(connection);
        Assert.Equal(1, Count(logger, Log.IdRedisTransactionsUnavailable));
        Assert.Equal(1, Count(logger, Log.IdRedisTransactionsRestored));
        pool.Return(connection);
    }

    [Fact]
    public async Task FullPool_LendsNothingMore_GivenBackIsLentAgain()
    {
        using var pool = new RespConnectionPool(capacity: 1, Retry, TimeProvider.System, new FakeLogger());
        var server = Endpoint(RedisAddress());

        var first = await pool.TryRentAsync(server, default);
        Assert.NotNull(first);
        Assert.Null(await pool.TryRentAsync(server, default));

        pool.Return(first);
        Assert.Same(first, await pool.TryRentAsync(server, default));
        Assert.Equal(1, pool.Open);

        pool.Discard(first);
        Assert.Equal(0, pool.Open);
        var next = await pool.TryRentAsync(server, default);
        Assert.NotNull(next);
        Assert.NotSame(first, next);
        pool.Return(next);
    }

    private static RespEndpoint Endpoint(EndPoint address) => new(address, null, null, false, null, null, 0, "MintCache-tests:tx");

    private EndPoint RedisAddress()
    {
        if (IPEndPoint.TryParse(redis.Endpoint, out var address))
        {
            return address;
        }

        var colon = redis.Endpoint.LastIndexOf(':');
        return new DnsEndPoint(redis.Endpoint[..colon], int.Parse(redis.Endpoint[(colon + 1)..], System.Globalization.CultureInfo.InvariantCulture));
    }

    private static int Count(FakeLogger logger, int eventId) => logger.Collector.GetSnapshot().Count(r => r.Id.Id == eventId);

    // A loopback port nothing listens on: connecting to it is refused at once.
    private static int ClosedPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
