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

    /// <summary>
    /// Whether <paramref name="command"/> is the connections' own housekeeping or the benchmark's reading of the server,
    /// not a store's work: left out of the reports' commands.
    /// </summary>
    public static bool IsHousekeeping(string command)
        => Family(command) is "info" or "config" or "ping" or "client" or "cluster" or "subscribe" or "echo";

    /// <summary>Whether <paramref name="command"/> is the benchmark's own reading or resetting of the server's figures.</summary>
    public static bool IsMeasurement(string command) => Family(command) is "info" or "config";

    // Redis 7 names a subcommand after its command (config|resetstat, client|setname).
    private static string Family(string command) => command.IndexOf('|', StringComparison.Ordinal) is var bar and >= 0 ? command[..bar] : command;

    /// <summary>Logs every command from now on (<c>SLOWLOG</c> at 0 µs, its last 250,000 kept), for <see cref="ScriptShareAsync"/>.</summary>
    public async Task StartCommandLogAsync()
    {
        await Server.ExecuteAsync("CONFIG", "SET", "slowlog-log-slower-than", "0");
        await Server.ExecuteAsync("CONFIG", "SET", "slowlog-max-len", "250000");
        await Server.ExecuteAsync("SLOWLOG", "RESET");
    }

    /// <summary>
    /// Of the time the commands logged since <see cref="StartCommandLogAsync"/> took, the share that commands called by
    /// scripts took: <c>commandstats</c> counts each of them twice (under its own name, and inside its script's time),
    /// <c>SLOWLOG</c> names their client <c>?:0</c>. Stops the logging.
    /// </summary>
    public async Task<double> ScriptShareAsync()
    {
        var entries = (RedisResult[])(await Server.ExecuteAsync("SLOWLOG", "GET", "-1"))!;
        await Server.ExecuteAsync("CONFIG", "SET", "slowlog-log-slower-than", "10000");
        await Server.ExecuteAsync("CONFIG", "SET", "slowlog-max-len", "128");
        await Server.ExecuteAsync("SLOWLOG", "RESET");
        double all = 0, byScripts = 0;
        var byCommand = new Dictionary<string, (long Calls, long Usec)>(StringComparer.Ordinal);
        foreach (var entry in entries)
        {
            // [id, timestamp, microseconds, [command, arguments...], client address, client name]
            var fields = (RedisResult[])entry!;
            var arguments = (RedisResult[])fields[3]!;
            var command = ((string?)arguments[0] ?? "").ToLowerInvariant();
            if (command == "slowlog" || IsHousekeeping(command))
            {
                continue;
            }

            var microseconds = (long)fields[2];
            all += microseconds;
            var inScript = (string?)fields[4] == "?:0";
            if (inScript)
            {
                byScripts += microseconds;
            }

            // A script by its SHA's first characters and its key count; a script's own commands apart from the same sent alone.
            var name = command == "evalsha" && arguments.Length > 2 ? $"evalsha {((string?)arguments[1])?[..8]} keys={(string?)arguments[2]}" : inScript ? "  (script) " + command : command;
            var (calls, usec) = byCommand.GetValueOrDefault(name);
            byCommand[name] = (calls + 1, usec + microseconds);
        }

        LastSample = byCommand;
        return all == 0 ? 0 : byScripts / all;
    }

    /// <summary>The last <see cref="ScriptShareAsync"/> sample by command (scripts by SHA and key count, their own commands apart).</summary>
    public Dictionary<string, (long Calls, long Usec)> LastSample { get; private set; } = [];

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
