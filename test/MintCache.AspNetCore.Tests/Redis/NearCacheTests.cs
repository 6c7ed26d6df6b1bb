using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Globalization;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using MintCache.AspNetCore.Diagnostics;
using MintCache.AspNetCore.Entries;
using MintCache.AspNetCore.Tests.Fixtures;
using StackExchange.Redis;
using Xunit.Abstractions;

namespace MintCache.AspNetCore.Tests.Redis;

/// <summary>design.md §2 invariants 3 and 7 (staleness bounded, tags seen on every host): the near cache of the Redis backend, across two hosts on one real Redis.</summary>
[Collection(RedisCollection.Name)]
public sealed class NearCacheTests(RedisServerFixture redis, ITestOutputHelper output)
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(15);
    private static readonly TimeSpan Lease = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task NearHit_ServedWithoutRedis()
    {
        const int reads = 100;
        await using var farm = await Farm.StartAsync(redis.Endpoint);
        var meters = farm.B.Harness.Services.GetRequiredService<IMeterFactory>();
        using var nearHits = new MetricCollector<long>(meters, MintCacheDiagnostics.MeterName, MintCacheDiagnostics.NearCacheHitsInstrument);
        using var entries = new MetricCollector<long>(meters, MintCacheDiagnostics.MeterName, MintCacheDiagnostics.EntriesInstrument);
        await farm.A.Store.SetAsync("k", Bytes("v1"), [], TimeSpan.FromMinutes(1), default);
        var lookupsBefore = farm.B.Backend.RedisLookups;
        var scriptsBefore = await ScriptCallsAsync();

        for (var i = 0; i < reads; i++)
        {
            Assert.Equal("v1", Text(await farm.B.Store.GetAsync("k", default)));
        }

        var lookups = farm.B.Backend.RedisLookups - lookupsBefore;
        var scripts = await ScriptCallsAsync() - scriptsBefore;
        output.WriteLine($"{reads} reads on B: {lookups} Redis lookups (server counted {scripts} script calls), {farm.B.Backend.NearHits} near hits");
        Assert.Equal(1, lookups);
        Assert.Equal(reads - 1, farm.B.Backend.NearHits);
        Assert.InRange(scripts, 1, 2);

        // The same counts as an exporter reads them: near hits apart, and the one near copy B holds.
        nearHits.RecordObservableInstruments();
        entries.RecordObservableInstruments();
        Assert.Equal(reads - 1, nearHits.LastMeasurement?.Value);
        Assert.Equal(1, entries.GetMeasurementSnapshot().Last(m => Equals(m.Tags[MintCacheDiagnostics.KindTag], "near")).Value);
    }

    [Fact]
    public async Task Store_OnA_InvalidatesNearCopyOnB()
    {
        await using var farm = await Farm.StartAsync(redis.Endpoint);
        await farm.A.Store.SetAsync("k", Bytes("v1"), [], TimeSpan.FromMinutes(1), default);
        await farm.B.ReadTwiceAsync("k", "v1");

        var clock = Stopwatch.StartNew();
        await farm.A.Store.SetAsync("k", Bytes("v2"), [], TimeSpan.FromMinutes(1), default);
        var stored = clock.Elapsed;
        await Eventually.HoldsAsync(() => farm.B.Backend.NearCache!.Count == 0, Deadline, "B drops its near copy");
        var invalidated = clock.Elapsed;
        Assert.Equal("v2", Text(await farm.B.Store.GetAsync("k", default)));
        output.WriteLine($"store on A took {stored.TotalMilliseconds:F1} ms; B's near copy gone {invalidated.TotalMilliseconds:F1} ms after the store began (10 ms polling)");

        // A's own copy went at once (read your writes), and B caches the new page near again.
        Assert.Equal("v2", Text(await farm.A.Store.GetAsync("k", default)));
        await farm.B.ReadTwiceAsync("k", "v2");
    }

    [Fact]
    public async Task EvictByTag_Hard_OnA_SeenOnB()
    {
        await using var farm = await Farm.StartAsync(redis.Endpoint);
        await farm.A.Store.SetAsync("k", Bytes("v1"), ["news"], TimeSpan.FromMinutes(1), default);
        await farm.A.Store.SetAsync("other", Bytes("o1"), ["sport"], TimeSpan.FromMinutes(1), default);
        await farm.B.ReadTwiceAsync("k", "v1");
        await farm.B.ReadTwiceAsync("other", "o1");
        await new Host(farm.A).ReadTwiceAsync("k", "v1");
        Assert.True(farm.A.Backend.NearCache!.TryGet("k", out _), "A keeps a near copy to lose");

        // The host that evicts drops its own copies before the call returns, not when its own notification comes back.
        await farm.A.Store.EvictByTagAsync("news", default);
        Assert.False(farm.A.Backend.NearCache.TryGet("k", out _), "A kept its near copy of the evicted page");
        Assert.Equal(0, farm.A.Backend.NearCache.Count);

        // B's miss takes the cold claim (A would wait for B's page).
        var seen = await Eventually.HoldsAsync(async () => await farm.B.Store.GetAsync("k", default) is null, Deadline, "B misses the evicted page");

        // Every near copy went (tags are not known near), the untagged page is read from Redis again and kept.
        var lookups = farm.B.Backend.RedisLookups;
        await farm.B.ReadTwiceAsync("other", "o1");
        Assert.True(farm.B.Backend.RedisLookups > lookups, "the untagged page was not read from Redis again");
        output.WriteLine($"hard eviction seen on B within {seen.TotalMilliseconds:F0} ms");
    }

    [Fact]
    public async Task EvictByTag_Soft_OnA_SeenOnB()
    {
        await using var farm = await Farm.StartAsync(redis.Endpoint);
        await farm.A.Store.SetAsync("k", Bytes("v1"), ["news"], TimeSpan.FromMinutes(1), default);
        await farm.B.ReadTwiceAsync("k", "v1");

        await farm.A.Store.MarkStaleByTagAsync("news", default);
        var seen = await Eventually.HoldsAsync(
            async () => (await farm.B.Backend.LookupAsync("k", Lease, default)).State == EntryState.Stale,
            Deadline,
            "B sees the page stale");
        output.WriteLine($"soft eviction seen on B within {seen.TotalMilliseconds:F0} ms");

        // Stale pages never come from the near cache: each lookup asks Redis, which hands out the claim once.
        var lookups = farm.B.Backend.RedisLookups;
        Assert.Equal("v1", Text(await farm.B.Store.GetAsync("k", default)));
        Assert.Equal("v1", Text(await farm.B.Store.GetAsync("k", default)));
        Assert.Equal(lookups + 2, farm.B.Backend.RedisLookups);
    }

    [Fact]
    public async Task LostMessage_SubscriptionKilled_ResynchronisesAfterReconnect()
    {
        await using var farm = await Farm.StartAsync(redis.Endpoint, clientNameB: "near-b-" + Guid.NewGuid().ToString("N")[..6]);
        await farm.A.Store.SetAsync("k", Bytes("v1"), [], TimeSpan.FromMinutes(1), default);
        await farm.B.ReadTwiceAsync("k", "v1");

        // Only B's subscription connection: A keeps publishing, B misses what is published until it resubscribes.
        var killed = await KillSubscriptionAsync(farm.ClientNameB);
        Assert.Equal(1, killed);
        var clock = Stopwatch.StartNew();
        await farm.A.Store.SetAsync("k", Bytes("v2"), [], TimeSpan.FromMinutes(1), default);

        var seen = await Eventually.HoldsAsync(async () => Text(await farm.B.Store.GetAsync("k", default)) == "v2", Deadline, "B serves the new page");
        await Eventually.HoldsAsync(() => farm.B.Backend.Notifications.IsLive, Deadline, "B resubscribes");
        var live = clock.Elapsed;
        Assert.Equal(1, farm.B.CountLogs(Log.IdNotificationsLost));
        Assert.True(farm.B.CountLogs(Log.IdNotificationsLive) >= 2, "subscribed again");

        // Back to normal: near hits, and invalidations arrive again.
        await farm.B.ReadTwiceAsync("k", "v2");
        await farm.A.Store.SetAsync("k", Bytes("v3"), [], TimeSpan.FromMinutes(1), default);
        await Eventually.HoldsAsync(async () => Text(await farm.B.Store.GetAsync("k", default)) == "v3", Deadline, "B serves v3");
        output.WriteLine($"B served the page stored during the gap {seen.TotalMilliseconds:F0} ms after the kill; subscription live again after {live.TotalMilliseconds:F0} ms");
    }

    [Fact]
    public async Task NearCache_RespectsSizeLimit()
    {
        const long limit = 4096;
        await using var farm = await Farm.StartAsync(redis.Endpoint, o => o.Redis.NearCacheSizeLimit = limit);
        var page = new string('x', 1000);
        var maxSize = 0L;
        var received = farm.B.Backend.Notifications.Received;
        for (var i = 0; i < 20; i++)
        {
            await farm.A.Store.SetAsync("k" + i, Bytes(page), [], TimeSpan.FromMinutes(1), default);
        }

        // The stores' own notifications, once arrived, no longer drop the copies B is about to take.
        await Eventually.HoldsAsync(() => farm.B.Backend.Notifications.Received >= received + 20, Deadline, "B heard of the 20 stores");
        for (var i = 0; i < 20; i++)
        {
            Assert.Equal(page, Text(await farm.B.Store.GetAsync("k" + i, default)));
            maxSize = Math.Max(maxSize, farm.B.Backend.NearCache!.Size);
        }

        // A page larger than the whole limit is never kept near.
        await farm.A.Store.SetAsync("big", Bytes(new string('y', 5000)), [], TimeSpan.FromMinutes(1), default);
        var lookups = farm.B.Backend.RedisLookups;
        await farm.B.Store.GetAsync("big", default);
        await farm.B.Store.GetAsync("big", default);
        output.WriteLine($"limit {limit} B: largest size seen {maxSize} B, {farm.B.Backend.NearCache!.Count} copies kept of 20");
        Assert.InRange(maxSize, 1, limit);
        Assert.InRange(farm.B.Backend.NearCache.Count, 1, 4);
        Assert.Equal(lookups + 2, farm.B.Backend.RedisLookups);
    }

    [Fact]
    public async Task NearCopy_NeverServedPastStaleAt()
    {
        await using var farm = await Farm.StartAsync(redis.Endpoint);
        var lifetime = new EntryLifetime(TimeSpan.FromMilliseconds(300), TimeSpan.FromMinutes(1));
        await farm.A.Backend.SetAsync("k", new(Bytes("v1")), [], lifetime, null, default);
        var raw = (byte[])(await redis.Database.StringGetAsync(farm.A.Backend.Keys.Entry("k")))!;
        RedisEntryFormatHeader(raw, out var staleAt);

        var fresh = 0;
        while (true)
        {
            var before = await redis.ServerNowAsync();
            var lookup = await farm.B.Backend.LookupAsync("k", Lease, default);
            if (lookup.State != EntryState.Fresh)
            {
                break;
            }

            fresh++;
            Assert.True(before < staleAt, $"a fresh answer at server time {before}, stale-at {staleAt}");
        }

        output.WriteLine($"{fresh} fresh answers on B ({farm.B.Backend.NearHits} near), none past stale-at");
        Assert.True(farm.B.Backend.NearHits > 0);
    }

    private static void RedisEntryFormatHeader(byte[] raw, out long staleAt)
        => Assert.Equal(EntryRejectReason.None, Backends.Redis.RedisEntryFormat.TryReadHeader(raw, out staleAt, out _, out _));

    /// <summary>EVAL and EVALSHA calls the server counted, every client included.</summary>
    private async Task<long> ScriptCallsAsync()
    {
        await using var admin = await AdminAsync();
        var server = admin.GetServer(admin.GetEndPoints()[0]);
        var info = await server.InfoAsync("commandstats");
        return info.SelectMany(g => g)
            .Where(p => p.Key is "cmdstat_eval" or "cmdstat_evalsha")
            .Sum(p => long.Parse(p.Value.Split(',')[0].Split('=')[1], CultureInfo.InvariantCulture));
    }

    private async Task<ConnectionMultiplexer> AdminAsync()
        => await ConnectionMultiplexer.ConnectAsync(redis.Endpoint + ",allowAdmin=true,abortConnect=false");

    private async Task<int> KillSubscriptionAsync(string clientName)
    {
        await using var admin = await AdminAsync();
        var server = admin.GetServer(admin.GetEndPoints()[0]);
        var killed = 0;
        foreach (var client in await server.ClientListAsync())
        {
            if (client.Name == clientName && client.ClientType == ClientType.PubSub)
            {
                await server.ClientKillAsync(client.Id, clientType: null, endpoint: null, skipMe: true);
                killed++;
            }
        }

        return killed;
    }

    private static byte[] Bytes(string text) => Encoding.UTF8.GetBytes(text);

    private static string? Text(byte[]? page) => page is null ? null : Encoding.UTF8.GetString(page);

    /// <summary>Two hosts with the near cache on, subscribed.</summary>
    private sealed class Farm : IAsyncDisposable
    {
        private Farm(RedisStoreHarness a, Host b, string clientNameB)
        {
            A = a;
            B = b;
            ClientNameB = clientNameB;
        }

        public RedisStoreHarness A { get; }

        public Host B { get; }

        public string ClientNameB { get; }

        public static async Task<Farm> StartAsync(string endpoint, Action<MintCacheOptions>? configure = null, string clientNameB = "MintCache", [System.Runtime.CompilerServices.CallerMemberName] string test = "")
        {
            var prefix = RedisStoreHarness.UniquePrefix(test);
            var a = new RedisStoreHarness(endpoint, prefix, configure);
            var b = new RedisStoreHarness(endpoint + ",name=" + clientNameB, prefix, configure);
            await Eventually.HoldsAsync(() => a.Backend.Notifications.IsLive && b.Backend.Notifications.IsLive, Deadline, "both hosts subscribed");
            return new Farm(a, new Host(b), clientNameB);
        }

        public async ValueTask DisposeAsync()
        {
            await A.DisposeAsync();
            await B.Harness.DisposeAsync();
        }
    }

    private sealed class Host(RedisStoreHarness harness)
    {
        public RedisStoreHarness Harness { get; } = harness;

        public AspNetCore.Store.MintOutputCacheStore Store => Harness.Store;

        public Backends.Redis.RedisBackend Backend => Harness.Backend;

        public int CountLogs(int eventId) => Harness.CountLogs(eventId);

        /// <summary>Reads a page twice: the first read from Redis, the second from the near cache.</summary>
        public async Task ReadTwiceAsync(string key, string expected)
        {
            Assert.Equal(expected, Text(await Store.GetAsync(key, default)));

            // A notification of an earlier store may still be on its way and drop the copy the first read made; the
            // page must then be kept again, and soon served from the near cache with no Redis lookup.
            await Eventually.HoldsAsync(
                async () =>
                {
                    var hits = Backend.NearHits;
                    var lookups = Backend.RedisLookups;
                    Assert.Equal(expected, Text(await Store.GetAsync(key, default)));
                    return Backend.NearHits == hits + 1 && Backend.RedisLookups == lookups;
                },
                TimeSpan.FromSeconds(15),
                "a read served from the near cache without a Redis lookup");
        }
    }
}
