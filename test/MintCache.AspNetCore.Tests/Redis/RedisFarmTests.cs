using System.Diagnostics;
using System.Text;
using Microsoft.Extensions.Time.Testing;
using MintCache.AspNetCore.Entries;
using MintCache.AspNetCore.Tests.Fixtures;
using Xunit.Abstractions;

namespace MintCache.AspNetCore.Tests.Redis;

/// <summary>
/// design.md §2 invariants 2, 5 and 7 (claims lapse, one clock, tags): several independent hosts (as
/// separate processes would be) sharing one Redis.
/// </summary>
public sealed class RedisFarmTests(RedisServerFixture redis) : IClassFixture<RedisServerFixture>
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(15);

    [Fact]
    public async Task Claim_HolderNeverStores_LapsesAndOtherHostRegenerates()
    {
        var prefix = RedisStoreHarness.UniquePrefix();
        // Long enough that a claim honoured for less than its lease shows above any stall of the test machine.
        var lease = TimeSpan.FromSeconds(2);
        await using var a = new RedisStoreHarness(redis.Endpoint, prefix, o => { o.LeaseDuration = lease; o.FailureBackoff = TimeSpan.Zero; });
        await using var b = new RedisStoreHarness(redis.Endpoint, prefix, o => { o.LeaseDuration = lease; o.FailureBackoff = TimeSpan.Zero; });
        await a.Store.SetAsync("k", Bytes("v1"), [], TimeSpan.FromMilliseconds(1), default);
        await WaitUntilStaleAsync(prefix);

        // A wins the claim (served stale, the miss handed to its next lookup), then A never stores. The clock starts
        // before the claim is taken, so a stall anywhere only lengthens what it measures, never shortens it.
        var sinceBeforeClaim = Stopwatch.StartNew();
        // A lookup whose reply was in before its await completed synchronously: nobody shared it, and it answers the
        // miss itself (seen once under the full suite). Either way A's request is the one that got the miss.
        var first = Text(await a.Store.GetAsync("k", default));
        if (first is not null)
        {
            Assert.Equal("v1", first);
            Assert.Null(await a.Store.GetAsync("k", default));
        }

        // B is served stale while A's claim lives, and wins it once it lapses.
        Assert.Equal("v1", Text(await b.Store.GetAsync("k", default)));
        await Eventually.HoldsAsync(
            async () =>
            {
                if (b.Store.LocalClaimCount == 1)
                {
                    return true;
                }

                // Until then every lookup on B is served the stale page, never a miss.
                Assert.Equal("v1", Text(await b.Store.GetAsync("k", default)));
                return false;
            },
            Deadline,
            "B takes the lapsed claim");
        Assert.Null(await b.Store.GetAsync("k", default));
        Assert.True(sinceBeforeClaim.Elapsed >= lease, $"B took the claim {sinceBeforeClaim.Elapsed} after A's, within its {lease} lease");
        await b.Store.SetAsync("k", Bytes("v2"), [], TimeSpan.FromMinutes(1), default);
        Assert.Equal("v2", Text(await a.Store.GetAsync("k", default)));
    }

    [Fact]
    public async Task EvictByTag_Hard_SeenByOtherHostAtOnce()
    {
        // "At once" is Redis's own consistency: a near copy on B goes only when A's notification arrives, which
        // NearCacheTests measures.
        var prefix = RedisStoreHarness.UniquePrefix();
        await using var a = new RedisStoreHarness(redis.Endpoint, prefix, o => o.Redis.NearCache = false);
        await using var b = new RedisStoreHarness(redis.Endpoint, prefix, o => o.Redis.NearCache = false);
        await a.Store.SetAsync("k1", Bytes("v1"), ["news"], TimeSpan.FromMinutes(1), default);
        await a.Store.SetAsync("k2", Bytes("v2"), ["news", "sport"], TimeSpan.FromMinutes(1), default);
        await a.Store.SetAsync("k3", Bytes("v3"), ["sport"], TimeSpan.FromMinutes(1), default);
        Assert.Equal("v1", Text(await b.Store.GetAsync("k1", default)));

        await a.Store.EvictByTagAsync("news", default);

        var logs = string.Join("\n", a.Logs.GetSnapshot().Concat(b.Logs.GetSnapshot()).Select(r => r.ToString() + r.Exception));
        Assert.True(await b.Store.GetAsync("k1", default) is null, logs);
        Assert.Null(await b.Store.GetAsync("k2", default));
        Assert.Equal("v3", Text(await b.Store.GetAsync("k3", default)));
    }

    [Fact]
    public async Task MarkStaleByTag_SeenByOtherHostAtOnce_KeepsExpiry()
    {
        var prefix = RedisStoreHarness.UniquePrefix();
        await using var a = new RedisStoreHarness(redis.Endpoint, prefix);
        await using var b = new RedisStoreHarness(redis.Endpoint, prefix);
        await a.Store.SetAsync("k", Bytes("v1"), ["news"], TimeSpan.FromMinutes(1), default);
        var entryKey = a.Backend.Keys.Entry("k");
        var ttlBefore = (await redis.Database.KeyTimeToLiveAsync(entryKey))!.Value;

        await a.Store.MarkStaleByTagAsync("news", default);

        // On B: stale at once, so one lookup wins the claim (and the next misses), every other is served the old page.
        var lookup = await b.Backend.LookupAsync("k", TimeSpan.FromSeconds(10), default);
        Assert.Equal(EntryState.Stale, lookup.State);
        Assert.NotNull(lookup.Claim);
        Assert.Equal("v1", Text(await a.Store.GetAsync("k", default)));
        var ttlAfter = (await redis.Database.KeyTimeToLiveAsync(entryKey))!.Value;
        Assert.InRange(ttlAfter, ttlBefore - TimeSpan.FromSeconds(5), ttlBefore);
        var raw = (byte[])(await redis.Database.StringGetAsync(entryKey))!;
        Assert.Equal(EntryRejectReason.None, Backends.Redis.RedisEntryFormat.TryReadHeader(raw, out var staleAt, out var expiresAt, out _));
        Assert.True(staleAt <= await redis.ServerNowAsync());
        Assert.True(expiresAt - staleAt > 80_000, "expires-at is kept: the fresh minute and the grace are still ahead");
    }

    [Fact]
    public async Task ClockSkew_HostsThirtySecondsApart_AgreeOnServerClock()
    {
        var prefix = RedisStoreHarness.UniquePrefix();
        var now = DateTimeOffset.UtcNow;
        await using var ahead = new RedisStoreHarness(redis.Endpoint, prefix, timeProvider: new FakeTimeProvider(now + TimeSpan.FromSeconds(30)));
        await using var behind = new RedisStoreHarness(redis.Endpoint, prefix, timeProvider: new FakeTimeProvider(now - TimeSpan.FromSeconds(30)));
        // Windows far below the 30 s skew, yet wide enough that a stalled machine does not step over one.
        var lifetime = new EntryLifetime(TimeSpan.FromSeconds(3), TimeSpan.FromSeconds(5));
        var lease = TimeSpan.FromSeconds(10);

        await ahead.Backend.SetAsync("k", new(Bytes("v1")), [], lifetime, null, default);

        // A local clock 30 s ahead would call it expired, one 30 s behind fresh for 30 s more: neither decides.
        Assert.Equal(EntryState.Fresh, (await ahead.Backend.LookupAsync("k", lease, default)).State);
        Assert.Equal(EntryState.Fresh, (await behind.Backend.LookupAsync("k", lease, default)).State);

        await Eventually.HoldsAsync(async () => (await behind.Backend.LookupAsync("k", lease, default)).State != EntryState.Fresh, Deadline, "the entry goes stale");

        // Plain reads may call a page stale up to 2 x RedisFastReads.EarlyStaleSlack before its stale-at, never fresh
        // after it: the other host may still see it fresh for those milliseconds, then stale, and never missing.
        var aheadState = EntryState.Fresh;
        await Eventually.HoldsAsync(
            async () => (aheadState = (await ahead.Backend.LookupAsync("k", lease, default)).State) != EntryState.Fresh, Deadline, "the other host sees it stale too");
        Assert.Equal(EntryState.Stale, aheadState);

        await Eventually.HoldsAsync(async () => (await ahead.Backend.LookupAsync("k", lease, default)).State == EntryState.Missing, Deadline, "the entry expires");
        Assert.Equal(EntryState.Missing, (await behind.Backend.LookupAsync("k", lease, default)).State);
    }

    /// <summary>Waits, on the server clock, until every entry under the prefix is past its stale-at.</summary>
    private Task WaitUntilStaleAsync(string prefix) => redis.WaitUntilEntriesStaleAsync(prefix, Deadline);

    private static byte[] Bytes(string text) => Encoding.UTF8.GetBytes(text);

    private static string? Text(byte[]? page) => page is null ? null : Encoding.UTF8.GetString(page);
}
