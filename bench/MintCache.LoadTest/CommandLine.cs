using System.Globalization;

namespace MintCache.LoadTest;

/// <summary>
/// <c>[--scenarios ab] [--clients 64] [--warmup 3] [--hit-seconds 10] [--storm-seconds 18] [--max-requests 2000000]
/// [--render-ms 300] [--rounds 3] [--quiet-wait 180] [--no-write] [--compressed-only] [--redis-realtime]</c>.
/// </summary>
internal sealed record CommandLine(string Scenarios, RunSettings Settings, int Rounds, bool Write, TimeSpan QuietWait, string Arguments)
{
    public static CommandLine Parse(string[] args)
    {
        var scenarios = "ab";
        int clients = 64, renderMs = 300, rounds = 3;
        double warmup = 3, hitSeconds = 10, stormSeconds = 18;
        long maxRequests = 2_000_000;
        var write = true;
        var compressedOnly = false;
        var redisRealTime = false;
        double quietWait = 180;
        for (var i = 0; i < args.Length; i++)
        {
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value.");
            switch (args[i])
            {
                case "--scenarios": scenarios = Next(); break;
                case "--clients": clients = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--warmup": warmup = double.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--hit-seconds": hitSeconds = double.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--storm-seconds": stormSeconds = double.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--max-requests": maxRequests = long.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--render-ms": renderMs = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--rounds": rounds = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--quiet-wait": quietWait = double.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--no-write": write = false; break;
                case "--compressed-only": compressedOnly = true; break;
                case "--redis-realtime": redisRealTime = true; break;
                default: throw new ArgumentException($"Unknown argument {args[i]}.");
            }
        }

        // Bounds: a run never loads the machine for long, whatever is asked.
        clients = Math.Clamp(clients, 1, 512);
        rounds = Math.Clamp(rounds, 1, 10);
        hitSeconds = Math.Clamp(hitSeconds, 1, 120);
        stormSeconds = Math.Clamp(stormSeconds, 1, 120);
        warmup = Math.Clamp(warmup, 0, 30);
        maxRequests = Math.Clamp(maxRequests, 1, 20_000_000);
        var settings = new RunSettings(clients, TimeSpan.FromSeconds(warmup), TimeSpan.FromSeconds(hitSeconds), TimeSpan.FromSeconds(stormSeconds), maxRequests, renderMs);
        return new CommandLine(scenarios, settings, rounds, write, TimeSpan.FromSeconds(Math.Clamp(quietWait, 0, 600)), string.Join(' ', args))
        {
            CompressedOnly = compressedOnly,
            RedisRealTime = redisRealTime,
        };
    }

    /// <summary>The long tail (f) without MintCache's compression-off runs: the built-in store and MintCache's defaults only.</summary>
    public bool CompressedOnly { get; init; }

    /// <summary>Runs the benchmark's redis-servers at real-time priority (<see cref="RedisPriority"/>).</summary>
    public bool RedisRealTime { get; init; }
}
