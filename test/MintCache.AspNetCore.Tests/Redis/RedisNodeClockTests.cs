using System.Buffers;
using System.Net;
using System.Text;
using MintCache.AspNetCore.Backends.Redis;
using MintCache.AspNetCore.Entries;
using MintCache.AspNetCore.Store;
using MintCache.AspNetCore.Tests.Fixtures;
using StackExchange.Redis;

namespace MintCache.AspNetCore.Tests.Redis;

/// <summary>
/// Invariant 5 on a real three-master Redis Cluster: a plain read is decided against the clock of the node that serves
/// the key's slot, never against another master's; and a tag's membership, kept on another slot, covers the skew
/// between masters.
/// </summary>
public sealed class RedisNodeClockTests(RedisClusterFixture cluster) : IClassFixture<RedisClusterFixture>
{
    private static readonly TimeSpan Lease = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task PlainRead_ClockMeasuredOnOneMaster_NotAppliedToAnotherMastersKeys()
    {
        await using var host = new RedisStoreHarness(cluster.Endpoint, RedisStoreHarness.UniquePrefix(), static o => o.Redis.NearCache = false);
        var backend = host.Backend;
        var multiplexer = await backend.Connection.GetAsync(default);
        var here = "k-0";
        var there = Enumerable.Range(1, 200).Select(i => "k-" + i).First(k => !Equals(NodeOf(multiplexer, backend.Keys.Entry(k)), NodeOf(multiplexer, backend.Keys.Entry(here))));
        var lifetime = new EntryLifetime(TimeSpan.FromMinutes(5), TimeSpan.FromMinutes(1));
        Assert.Equal(StoreOutcome.Stored, await backend.SetAsync(here, Page("here"), [], lifetime, null, default));
        Assert.Equal(StoreOutcome.Stored, await backend.SetAsync(there, Page("there"), [], lifetime, null, default));

        // Looked up until plain reads decide it: the clock of the node serving its slot is measured by then.
        await Eventually.HoldsAsync(
            async () => (await RedisCommandLog.CommandsAsync(multiplexer, async () => Assert.Equal(EntryState.Fresh, (await backend.LookupAsync(here, Lease, default)).State))).All(c => c == "GET"),
            TimeSpan.FromSeconds(30),
            "a plain read decides the first key");

        // The other master's clock was never measured: its key goes to the script, which decides on that node's clock.
        var commands = await RedisCommandLog.CommandsAsync(multiplexer, async () => Assert.Equal("there", Text((await backend.LookupAsync(there, Lease, default)).Page)));
        Assert.True(commands.Any(c => c.StartsWith("EVAL", StringComparison.Ordinal)) && !commands.Contains("GET"), string.Join(",", commands));
    }

    [Fact]
    public async Task Tags_SetOnItsOwnSlot_MembershipOutlivesItsEntryByTheSkewMargin()
    {
        await using var host = new RedisStoreHarness(cluster.Endpoint, RedisStoreHarness.UniquePrefix());
        var lifetime = new EntryLifetime(TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(1));
        Assert.Equal(StoreOutcome.Stored, await host.Backend.SetAsync("k", Page("v"), ["t"], lifetime, null, default));

        // A tag's set lives on its own slot, maybe on another master than its entries: a membership pruned at its
        // entry's expiry on a clock running ahead would let a purge miss a live entry, so it outlives the entry by a
        // minute of skew (on one node, where one clock stamps both, by a second).
        var db = cluster.Multiplexer.GetDatabase();
        var raw = (byte[])(await db.StringGetAsync(host.Backend.Keys.Entry("k")))!;
        Assert.Equal(EntryRejectReason.None, RedisEntryFormat.TryReadHeader(raw, out _, out var expiresAt, out _));
        var score = await db.SortedSetScoreAsync(host.Backend.Keys.Tag("t"), "k");
        Assert.NotNull(score);
        // The tag is written on its own master just before the entry, each stamped by its own node's clock.
        Assert.True(score.Value - expiresAt >= 55_000, $"membership scored {score.Value - expiresAt} ms past its entry's expiry");
        Assert.True(await db.KeyTimeToLiveAsync(host.Backend.Keys.Tag("t")) >= TimeSpan.FromMilliseconds(score.Value - expiresAt) + lifetime.Total - TimeSpan.FromSeconds(5));
    }

    private static EndPoint? NodeOf(IConnectionMultiplexer multiplexer, RedisKey key)
    {
        var slot = multiplexer.HashSlot(key);
        return multiplexer.GetServers().First(s => s.IsConnected && !s.IsReplica).ClusterConfiguration!.GetBySlot(slot)!.EndPoint;
    }

    private static ReadOnlySequence<byte> Page(string text) => new(Encoding.UTF8.GetBytes(text));

    private static string? Text(byte[]? page) => page is null ? null : Encoding.UTF8.GetString(page);
}
