using System.Globalization;
using StackExchange.Redis;

namespace MintCache.LoadTest;

/// <summary>
/// Redis's own account of the time it spent on each command (<c>INFO commandstats</c>), reset before a measured phase
/// and read after it: the server CPU a store costs, per request, next to the other stores of the same run.
/// </summary>
internal sealed class RedisCommandStats : IAsyncDisposable
{
    private readonly ConnectionMultiplexer _multiplexer;

    private RedisCommandStats(ConnectionMultiplexer multiplexer) => _multiplexer = multiplexer;

    public static async Task<RedisCommandStats> ConnectAsync(string endpoint)
        => new(await ConnectionMultiplexer.ConnectAsync($"{endpoint},allowAdmin=true,abortConnect=false"));

    private IServer Server => _multiplexer.GetServer(_multiplexer.GetEndPoints()[0]);

    public Task ResetAsync() => Server.ConfigResetStatisticsAsync();

    /// <summary>Per command: calls and microseconds, since the last reset.</summary>
    public async Task<Dictionary<string, (long Calls, long Usec)>> ReadAsync()
    {
        var stats = new Dictionary<string, (long Calls, long Usec)>(StringComparer.Ordinal);
        foreach (var group in await Server.InfoAsync("commandstats"))
        {
            foreach (var (name, value) in group)
            {
                // cmdstat_get: calls=12,usec=34,usec_per_call=2.83,...
                long calls = 0, usec = 0;
                foreach (var field in value.Split(','))
                {
                    var pair = field.Split('=');
                    if (pair.Length == 2 && pair[0] == "calls")
                    {
                        calls = long.Parse(pair[1], CultureInfo.InvariantCulture);
                    }
                    else if (pair.Length == 2 && pair[0] == "usec")
                    {
                        usec = long.Parse(pair[1], CultureInfo.InvariantCulture);
                    }
                }

                stats[name.Replace("cmdstat_", "", StringComparison.Ordinal)] = (calls, usec);
            }
        }

        return stats;
    }

    /// <summary>
    /// The CPU the server process has used since it started (<c>used_cpu_user</c> + <c>used_cpu_sys</c>, seconds):
    /// all of its work, networking included, and unlike <c>commandstats</c> never counting a script's own commands
    /// twice (Redis 7 counts each command a script calls under its own name too, inside the script's time).
    /// </summary>
    public async Task<double> CpuSecondsAsync()
    {
        var seconds = 0.0;
        foreach (var group in await Server.InfoAsync("cpu"))
        {
            foreach (var (name, value) in group)
            {
                if (name is "used_cpu_user" or "used_cpu_sys")
                {
                    seconds += double.Parse(value, CultureInfo.InvariantCulture);
                }
            }
        }

        return seconds;
    }

    /// <summary>How many keys match <paramref name="pattern"/> (a <c>SCAN</c>, after the measured phase).</summary>
    public async Task<long> CountKeysAsync(string pattern)
    {
        long count = 0;
        await foreach (var _ in Server.KeysAsync(pattern: pattern, pageSize: 1000))
        {
            count++;
        }

        return count;
    }

    /// <summary>What every client has sent the server since it started (<c>total_net_input_bytes</c>), in bytes.</summary>
    public Task<long> NetInputBytesAsync() => InfoFieldAsync(Server, "stats", "total_net_input_bytes");

    /// <summary>The largest value among the keys that match <paramref name="pattern"/> (<c>STRLEN</c>), in bytes.</summary>
    public async Task<long> LargestValueAsync(string pattern)
    {
        long largest = 0;
        var db = _multiplexer.GetDatabase();
        await foreach (var key in Server.KeysAsync(pattern: pattern, pageSize: 1000))
        {
            largest = Math.Max(largest, await db.StringLengthAsync(key));
        }

        return largest;
    }

    /// <summary>The server's <c>used_memory</c>, in bytes.</summary>
    public Task<long> UsedMemoryAsync() => InfoFieldAsync(Server, "memory", "used_memory");

    /// <summary>Where the server's memory goes, by kind of key (<see cref="RedisMemoryBreakdown"/>).</summary>
    public async Task<RedisMemoryBreakdown> MemoryBreakdownAsync(MintCache.Bench.Shared.StoreKind store, long usedAtEnd, long expiredAtEnd, long clientsAtEnd)
        => await RedisMemoryBreakdown.ReadAsync(_multiplexer, store, usedAtEnd, expiredAtEnd) with { ClientsAtEnd = clientsAtEnd };

    /// <summary>What the clients' buffers hold (<c>mem_clients_normal</c>), in bytes.</summary>
    public Task<long> ClientsMemoryAsync() => InfoFieldAsync(Server, "memory", "mem_clients_normal");

    /// <summary>How many keys the server has expired since it started (<c>expired_keys</c>).</summary>
    public Task<long> ExpiredKeysAsync() => RedisMemoryBreakdown.ExpiredKeysAsync(Server);

    /// <summary>One numeric field of one <c>INFO</c> section; 0 when the server does not report it.</summary>
    internal static async Task<long> InfoFieldAsync(IServer server, string section, string field)
    {
        foreach (var group in await server.InfoAsync(section))
        {
            foreach (var (name, value) in group)
            {
                if (name == field)
                {
                    return long.Parse(value, CultureInfo.InvariantCulture);
                }
            }
        }

        return 0;
    }

    public async ValueTask DisposeAsync() => await _multiplexer.DisposeAsync();
}
