using System.Diagnostics;
using System.Globalization;
using System.Text;
using Microsoft.AspNetCore.OutputCaching;
using Microsoft.Extensions.DependencyInjection;
using MintCache.Bench.Shared;

namespace MintCache.Benchmarks;

/// <summary>
/// A Redis fresh hit (near cache off) against the built-in Redis store's, in alternating rounds in one process: the
/// comparison <see cref="StoreBenchmarks.FreshHit"/> cannot settle on a small virtual machine.
/// </summary>
/// <remarks>
/// A loopback round trip of ~150 µs varies by a factor of two from one 200 ms iteration to the next on two shared
/// cores, and BenchmarkDotNet measures one store after the other, each in its own process, so a slow minute lands on
/// one of them only (its short job read the same code at 1.00× to 1.70× in five runs). Here both stores run side by
/// side, in alternating order, and the ratio is taken per round: what slows a round slows both. The lookup is awaited
/// as BenchmarkDotNet awaits it, the caller blocked until the reply's continuation completes it.
/// </remarks>
internal static class InterleavedFreshHit
{
    public const string Switch = "--interleaved-fresh-hit";

    private const int Rounds = 30;
    private const int LookupsPerRound = 2_000;

    public static async Task<string> RunAsync(string redisEndpoint)
    {
        StoreKind[] kinds = [StoreKind.BuiltInRedis, StoreKind.MintRedisNoNear];
        var page = new byte[StoreBenchmarks.PageSize];
        new Random(42).NextBytes(page);
        var providers = kinds.Select(k => StoreHost.BuildStoreOnly(k, redisEndpoint, static o =>
        {
            o.LeaseDuration = TimeSpan.FromMinutes(5);
            o.Grace = TimeSpan.FromDays(1);
        })).ToArray();
        try
        {
            var stores = providers.Select(static p => p.GetRequiredService<IOutputCacheStore>()).ToArray();
            var keys = kinds.Select(k => $"bench:{Environment.ProcessId}:interleaved:{k}").ToArray();
            using var done = new ManualResetEventSlim();
            for (var s = 0; s < stores.Length; s++)
            {
                await stores[s].SetAsync(keys[s], page, ["bench"], TimeSpan.FromHours(1), default);
                _ = Measure(stores[s], keys[s], 3_000, done); // warm-up: JIT, pools, the server clock
            }

            var micros = new List<double>[] { [], [] };
            var bytes = new List<double>[] { [], [] };
            for (var round = 0; round < Rounds; round++)
            {
                for (var i = 0; i < stores.Length; i++)
                {
                    var s = round % 2 == 0 ? i : stores.Length - 1 - i;
                    var (us, allocated) = Measure(stores[s], keys[s], LookupsPerRound, done);
                    micros[s].Add(us);
                    bytes[s].Add(allocated);
                }
            }

            var ratios = micros[1].Zip(micros[0], static (mint, builtIn) => mint / builtIn).Order().ToArray();
            var text = new StringBuilder();
            text.AppendLine(Invariant($"{Rounds} rounds of {LookupsPerRound} sequential lookups of a fresh 4 KiB entry per store, in alternating order; per-round means."));
            text.AppendLine();
            text.AppendLine("| Store | Median µs/lookup | Min | Max | Allocated B/lookup (median) |");
            text.AppendLine("|---|---:|---:|---:|---:|");
            for (var s = 0; s < kinds.Length; s++)
            {
                var t = micros[s].Order().ToArray();
                text.AppendLine(Invariant($"| {kinds[s]} | {Median(t):0.0} | {t[0]:0.0} | {t[^1]:0.0} | {Median([.. bytes[s].Order()]):0} |"));
            }

            text.AppendLine();
            text.AppendLine(Invariant($"MintCache ÷ built-in, per round: median **{Median(ratios):0.00}×**, min {ratios[0]:0.00}×, max {ratios[^1]:0.00}×."));
            return text.ToString();
        }
        finally
        {
            foreach (var provider in providers)
            {
                await provider.DisposeAsync();
            }
        }
    }

    private static (double MicrosPerLookup, double BytesPerLookup) Measure(IOutputCacheStore store, string key, int lookups, ManualResetEventSlim done)
    {
        Action signal = done.Set;
        var allocatedBefore = GC.GetTotalAllocatedBytes(precise: true);
        var started = Stopwatch.GetTimestamp();
        for (var i = 0; i < lookups; i++)
        {
            var lookup = store.GetAsync(key, default);
            if (!lookup.IsCompleted)
            {
                done.Reset();
                lookup.ConfigureAwait(false).GetAwaiter().UnsafeOnCompleted(signal);
                done.Wait();
            }

            if (lookup.Result is null)
            {
                throw new InvalidOperationException("A fresh entry was not served back.");
            }
        }

        var elapsed = Stopwatch.GetElapsedTime(started);
        var allocated = GC.GetTotalAllocatedBytes(precise: true) - allocatedBefore;
        return (elapsed.TotalMicroseconds / lookups, (double)allocated / lookups);
    }

    private static double Median(double[] sorted) => sorted[sorted.Length / 2];

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
