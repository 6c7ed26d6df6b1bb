using System.Globalization;
using System.Text;
using MintCache.Bench.Shared;
using StackExchange.Redis;

namespace MintCache.LoadTest;

/// <summary>
/// Where a long tail's Redis memory goes, read after the measured phase: every key by kind (entry, claim, the shared
/// tag set, per-item tag sets, the rest) with its count, <c>MEMORY USAGE key SAMPLES 0</c>, length and time to live,
/// what <c>used_memory</c> holds beyond the keys (<c>MEMORY STATS</c>: dictionaries, expires, clients, scripts), and how
/// the pages' stored lengths fall into jemalloc's size classes.
/// </summary>
/// <remarks>
/// One <c>SCAN</c> and a handful of pipelined commands per key, after the load has stopped: it takes a few seconds and
/// changes none of the run's figures. Keys expire while it reads, so its own <c>used_memory</c> is read first.
/// </remarks>
internal sealed record RedisMemoryBreakdown(
    long UsedMemory, long Pages, IReadOnlyList<KeyKindUsage> Kinds, IReadOnlyDictionary<string, string> Stats, IReadOnlyList<(long Bin, long Count)> PageBins)
{
    /// <summary><c>used_memory</c> at the end of the measured phase, before the <c>SCAN</c>s (the run's figure).</summary>
    public long UsedAtEnd { get; init; }

    /// <summary>
    /// Keys Redis expired between the end of the measured phase and this breakdown (<c>expired_keys</c>): mostly keys
    /// already past their TTL that active expiry had not yet reclaimed, which a <c>SCAN</c> frees as it meets them.
    /// </summary>
    public long ExpiredSinceEnd { get; init; }

    /// <summary>The clients' buffers at the end of the measured phase (<c>mem_clients_normal</c>), part of <see cref="UsedAtEnd"/>.</summary>
    public long ClientsAtEnd { get; init; }

    private const int Batch = 500;

    /// <summary>The page keys' kind: the one memory per page is counted by.</summary>
    public const string PageKind = "page";

    public static async Task<RedisMemoryBreakdown> ReadAsync(IConnectionMultiplexer multiplexer, StoreKind store, long usedAtEnd, long expiredAtEnd)
    {
        var server = multiplexer.GetServer(multiplexer.GetEndPoints()[0]);
        var db = multiplexer.GetDatabase();
        var expired = await ExpiredKeysAsync(server);
        var stats = Flatten(await server.ExecuteAsync("MEMORY", "STATS"), "");
        var used = long.Parse(stats.GetValueOrDefault("total.allocated", "0"), CultureInfo.InvariantCulture);

        var kinds = new Dictionary<string, KeyKindUsage>(StringComparer.Ordinal);
        var bins = new SortedDictionary<long, long>();
        var keys = new List<RedisKey>(Batch);
        await foreach (var key in server.KeysAsync(pattern: "*", pageSize: 1000))
        {
            keys.Add(key);
            if (keys.Count == Batch)
            {
                await MeasureAsync(db, store, keys, kinds, bins);
                keys.Clear();
            }
        }

        await MeasureAsync(db, store, keys, kinds, bins);
        var ordered = kinds.Values.OrderByDescending(static k => k.Bytes).ToList();
        var pages = kinds.TryGetValue(PageKind, out var page) ? page.Count : 0;
        return new RedisMemoryBreakdown(used, pages, ordered, stats, [.. bins.Select(static b => (b.Key, b.Value))])
        {
            UsedAtEnd = usedAtEnd,
            ExpiredSinceEnd = expired - expiredAtEnd,
        };
    }

    /// <summary>How many keys the server has expired since it started (<c>expired_keys</c>).</summary>
    public static Task<long> ExpiredKeysAsync(IServer server) => RedisCommandStats.InfoFieldAsync(server, "stats", "expired_keys");

    /// <summary>The key's kind, from its name: the two stores name their keys differently.</summary>
    internal static string KindOf(StoreKind store, string key)
    {
        if (store == StoreKind.BuiltInRedis)
        {
            // Microsoft.AspNetCore.OutputCaching.StackExchangeRedis: __MSOCV_{key} values, __MSOCT_{tag} tag sets,
            // __MSOCT the set of tags.
            return key switch
            {
                _ when key.StartsWith("__MSOCV_", StringComparison.Ordinal) => PageKind,
                "__MSOCT_items" => "tag set: items",
                _ when key.StartsWith("__MSOCT_item-", StringComparison.Ordinal) => "tag sets: item-N",
                "__MSOCT" => "tag index",
                _ => "other",
            };
        }

        return key switch
        {
            _ when key.EndsWith("}:e", StringComparison.Ordinal) => PageKind,
            _ when key.EndsWith("}:c", StringComparison.Ordinal) => "claim",
            _ when key.EndsWith("tag:items", StringComparison.Ordinal) => "tag set: items",
            _ when key.Contains("tag:item-", StringComparison.Ordinal) => "tag sets: item-N",
            _ => "other (epoch, clear, …)",
        };
    }

    private static async Task MeasureAsync(IDatabase db, StoreKind store, List<RedisKey> keys, Dictionary<string, KeyKindUsage> kinds, SortedDictionary<long, long> bins)
    {
        var usage = new Task<RedisResult>[keys.Count];
        var length = new Task<long>[keys.Count];
        var ttl = new Task<TimeSpan?>[keys.Count];
        var claim = new Task<RedisValue>?[keys.Count];
        var kindOf = new string[keys.Count];
        for (var i = 0; i < keys.Count; i++)
        {
            var kind = kindOf[i] = KindOf(store, keys[i].ToString());
            usage[i] = db.ExecuteAsync("MEMORY", "USAGE", keys[i], "SAMPLES", "0");
            length[i] = kind.StartsWith("tag", StringComparison.Ordinal) ? db.SortedSetLengthAsync(keys[i]) : kind == "other (epoch, clear, …)" ? Task.FromResult(0L) : db.StringLengthAsync(keys[i]);
            ttl[i] = db.KeyTimeToLiveAsync(keys[i]);
            claim[i] = kind == "claim" ? db.StringGetAsync(keys[i]) : null;
        }

        for (var i = 0; i < keys.Count; i++)
        {
            var kind = kindOf[i];
            if (claim[i] is { } value)
            {
                // A live claim holds its owner's token; a released one '-token', a revoked one '!token@time'.
                var text = (string?)await value ?? "";
                kind = text.StartsWith('-') ? "claim (released)" : text.StartsWith('!') ? "claim (revoked)" : "claim (live)";
            }

            var bytes = (long?)await usage[i] ?? 0;
            if (bytes == 0)
            {
                // Expired between the SCAN and the read.
                continue;
            }

            var len = await length[i];
            var left = await ttl[i];
            kinds[kind] = kinds.TryGetValue(kind, out var sum)
                ? sum with { Count = sum.Count + 1, Bytes = sum.Bytes + bytes, Length = sum.Length + len, TtlSeconds = sum.TtlSeconds + (left?.TotalSeconds ?? 0) }
                : new KeyKindUsage(kind, 1, bytes, len, left?.TotalSeconds ?? 0) { Example = keys[i].ToString().Replace('\u001e', '|') };
            if (kind == PageKind)
            {
                var bin = JemallocBin(StringAllocation(len));
                bins[bin] = bins.GetValueOrDefault(bin) + 1;
            }
        }
    }

    /// <summary>What Redis allocates for a raw string of <paramref name="length"/> bytes: the sds header, the bytes, a terminator.</summary>
    internal static long StringAllocation(long length) => length + (length < 256 ? 3 : length < 65536 ? 5 : 9) + 1;

    /// <summary>jemalloc's size class for <paramref name="size"/>: four classes per doubling above 64 bytes.</summary>
    internal static long JemallocBin(long size)
    {
        if (size <= 64)
        {
            return (size + 15) / 16 * 16;
        }

        var group = 1L << (63 - (int)long.LeadingZeroCount(size - 1));
        var step = group / 4;
        return (size + step - 1) / step * step;
    }

    private static Dictionary<string, string> Flatten(RedisResult result, string prefix)
    {
        var flat = new Dictionary<string, string>(StringComparer.Ordinal);
        if (result.Resp2Type != ResultType.Array)
        {
            return flat;
        }

        var items = (RedisResult[])result!;
        for (var i = 0; i + 1 < items.Length; i += 2)
        {
            var name = prefix + (string?)items[i];
            if (items[i + 1].Resp2Type == ResultType.Array)
            {
                foreach (var (k, v) in Flatten(items[i + 1], name + "."))
                {
                    flat[k] = v;
                }
            }
            else
            {
                flat[name] = (string?)items[i + 1] ?? "";
            }
        }

        return flat;
    }

    /// <summary>The breakdown as Markdown: a table by kind, then the server's own accounts.</summary>
    public string Report(string title)
    {
        var text = new StringBuilder();
        var perPage = (double)Math.Max(1, Pages);
        text.AppendLine(CultureInfo.InvariantCulture, $"**{title}**: `used_memory` {UsedAtEnd / 1048576.0:0.0} MB at the end of the measured phase (clients' buffers {ClientsAtEnd / 1048576.0:0.0} MB); {ExpiredSinceEnd} keys expired since (most of them already past their TTL, freed as the `SCAN`s met them); then `MEMORY STATS` total.allocated {UsedMemory / 1048576.0:0.0} MB over {Pages} pages = {UsedMemory / perPage:0} bytes per page.");
        text.AppendLine();
        text.AppendLine("| Keys | Count | Per page | MEMORY USAGE MB | Bytes per page | Bytes per key | Mean length (bytes or members) | Mean TTL s |");
        text.AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|");
        long attributed = 0;
        foreach (var kind in Kinds)
        {
            attributed += kind.Bytes;
            text.AppendLine(FormattableString.Invariant(
                $"| {kind.Kind} (`{kind.Example}`) | {kind.Count} | {kind.Count / perPage:0.00} | {kind.Bytes / 1048576.0:0.00} | {kind.Bytes / perPage:0} | {(double)kind.Bytes / kind.Count:0} | {(double)kind.Length / kind.Count:0} | {kind.TtlSeconds / kind.Count:0.0} |"));
        }

        var rest = UsedMemory - attributed;
        text.AppendLine(FormattableString.Invariant($"| *rest of used memory* | | | {rest / 1048576.0:0.00} | {rest / perPage:0} | | | |"));
        text.AppendLine();
        string Stat(string name) => Stats.GetValueOrDefault(name, "?");
        text.AppendLine(FormattableString.Invariant(
            $"Rest: main dict {Stat("db.0.overhead.hashtable.main")} B, expires dict {Stat("db.0.overhead.hashtable.expires")} B, normal clients {Stat("clients.normal")} B, Lua caches {Stat("lua.caches")} B, startup {Stat("startup.allocated")} B; dataset {Stat("dataset.bytes")} B ({Stat("dataset.percentage")} %), keys {Stat("keys.count")}, bytes per key {Stat("keys.bytes-per-key")}; allocator allocated/active/resident {Stat("allocator.allocated")}/{Stat("allocator.active")}/{Stat("allocator.resident")}, allocator fragmentation {Stat("allocator-fragmentation.ratio")}, fragmentation (RSS) {Stat("fragmentation")}."));
        if (PageBins.Count > 0)
        {
            var count = PageBins.Sum(static b => b.Count);
            text.AppendLine();
            text.AppendLine("Page values by jemalloc size class (sds header + value + 1): " + string.Join(", ", PageBins
                .OrderByDescending(static b => b.Count).Take(6)
                .Select(b => FormattableString.Invariant($"{b.Bin} B {100.0 * b.Count / count:0} %"))) + ".");
        }

        return text.ToString();
    }
}

/// <summary>The keys of one kind: how many, their <c>MEMORY USAGE</c>, length (string bytes or set members) and TTL, summed.</summary>
internal sealed record KeyKindUsage(string Kind, long Count, long Bytes, long Length, double TtlSeconds)
{
    /// <summary>One key of the kind, as its name shows.</summary>
    public string Example { get; init; } = "";
}
