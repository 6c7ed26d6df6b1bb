using System.Buffers;
using System.Text;
using MintCache.AspNetCore.Entries;
using MintCache.AspNetCore.Store;
using MintCache.AspNetCore.Tests.Fixtures;
using StackExchange.Redis;

namespace MintCache.AspNetCore.Tests.Redis;

/// <summary>
/// Stores and releases by <c>WATCH</c>/<c>MULTI</c>/<c>EXEC</c> on MintCache's own connections: used on a standalone
/// server, fenced as the script is across their two round trips, and left to the script wherever they cannot decide.
/// The fence's every decision is covered by the behaviour suite, which runs with them on and off.
/// </summary>
public sealed class RedisStoreTransactionsTests(RedisServerFixture redis) : IClassFixture<RedisServerFixture>
{
    private static readonly TimeSpan Lease = TimeSpan.FromMinutes(1);
    private static readonly EntryLifetime Lifetime = new(TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(1));

    [Fact]
    public async Task Store_OnStandaloneServer_IsATransaction_AndItsTagsEvictIt()
    {
        await using var host = new RedisStoreHarness(redis.Endpoint, RedisStoreHarness.UniquePrefix());
        var transactions = host.Backend.Transactions!;

        var won = await host.Backend.LookupAsync("k", Lease, default);
        Assert.Equal(StoreOutcome.Stored, await host.Backend.SetAsync("k", Page("v1"), ["news"], Lifetime, won.Claim, default));

        Assert.True(transactions.Decided == 1, $"decided {transactions.Decided}, undecided {transactions.Undecided}, open {transactions.Pool.Open}; {host.LogDigest(Microsoft.Extensions.Logging.LogLevel.Debug)}");
        Assert.Equal(0, transactions.Undecided);
        Assert.False(await redis.Database.KeyExistsAsync(host.Backend.Keys.Claim("k")));
        Assert.Equal("v1", Text((await host.Backend.LookupAsync("k", Lease, default)).Page));

        await host.Store.EvictByTagAsync("news", default);
        Assert.Null(await host.Store.GetAsync("k", default));
    }

    [Fact]
    public async Task Store_SwitchedOff_IsTheScript()
    {
        await using var host = new RedisStoreHarness(redis.Endpoint, RedisStoreHarness.UniquePrefix(), o => o.Redis.StoreTransactions = false);

        await host.Store.SetAsync("k", Encoding.UTF8.GetBytes("v1"), ["news"], Lease, default);

        Assert.Null(host.Backend.Transactions);
        Assert.Equal("v1", Text(await host.Store.GetAsync("k", default)));
    }

    [Fact]
    public async Task EvictionBetweenReadsAndWrite_AbortsTheTransaction_ScriptRefusesTheStore()
    {
        // A tag eviction on another host revokes the claim key after the store read it: the WATCH sees the change, and
        // the script, deciding in one step, refuses the page (invariant 8: evictions win).
        var prefix = RedisStoreHarness.UniquePrefix();
        await using var host = new RedisStoreHarness(redis.Endpoint, prefix);
        await using var other = new RedisStoreHarness(redis.Endpoint, prefix);
        await host.Store.SetAsync("k", Encoding.UTF8.GetBytes("v0"), ["news"], TimeSpan.FromMilliseconds(1), default);
        var transactions = host.Backend.Transactions!;
        var won = await host.Backend.LookupAsync("k", Lease, default);
        Assert.NotNull(won.Claim);

        var evictions = 0;
        transactions.BetweenReadsAndWrite = async () =>
        {
            if (Interlocked.Increment(ref evictions) == 1)
            {
                await other.Store.EvictByTagAsync("news", default);
            }
        };
        var outcome = await host.Backend.SetAsync("k", Page("v1"), ["news"], Lifetime, won.Claim, default);

        Assert.Equal(1, evictions);
        Assert.Equal(StoreOutcome.Revoked, outcome);
        Assert.Equal(1, transactions.Undecided);
        Assert.False(await redis.Database.KeyExistsAsync(host.Backend.Keys.Entry("k")));
    }

    [Fact]
    public async Task ClearBetweenReadsAndWrite_IsNotWatched_PageNeverServed()
    {
        // The clear record is read, not watched: a clear after the read stamps a later time than the store's
        // generation, so the page the transaction writes is answered as cleared (invariant 8 for clears).
        var prefix = RedisStoreHarness.UniquePrefix();
        await using var host = new RedisStoreHarness(redis.Endpoint, prefix);
        await using var other = new RedisStoreHarness(redis.Endpoint, prefix);
        var transactions = host.Backend.Transactions!;
        var won = await host.Backend.LookupAsync("k", Lease, default);
        Assert.NotNull(won.Claim);

        transactions.BetweenReadsAndWrite = async () => await other.Store.ClearAsync(default);
        var outcome = await host.Backend.SetAsync("k", Page("v1"), [], Lifetime, won.Claim, default);

        // Refused when the clear's notice reached this host before its fence was decided (its copy of the stamps),
        // else stored with an earlier generation than the clear's: either way never served.
        Assert.True(outcome is StoreOutcome.Stored or StoreOutcome.Revoked, outcome.ToString());
        Assert.Equal(1, transactions.Decided);
        Assert.Null(await other.Store.GetAsync("k", default));
        Assert.Null(await host.Store.GetAsync("k", default));
    }

    [Fact]
    public async Task Release_IsATransaction_AndBacksOff()
    {
        await using var host = new RedisStoreHarness(redis.Endpoint, RedisStoreHarness.UniquePrefix());
        var won = await host.Backend.LookupAsync("k", Lease, default);
        var token = won.Claim!.Value.Token;

        await host.Backend.ReleaseClaimAsync("k", won.Claim.Value, TimeSpan.FromSeconds(30), failed: false, default);

        Assert.Equal(1, host.Backend.Transactions!.Decided);
        var claimKey = host.Backend.Keys.Claim("k");
        Assert.Equal("-" + token, (string?)await redis.Database.StringGetAsync(claimKey));
        var ttl = await redis.Database.KeyTimeToLiveAsync(claimKey);
        Assert.InRange(ttl!.Value, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(30));
    }

    [Fact]
    public async Task PasswordProtectedServer_TransactionsAuthenticateAsTheMultiplexer()
    {
        using var server = await RedisServerFixture.StartDedicatedAsync(password: "s3cret");
        await using var host = new RedisStoreHarness(server.Endpoint + ",password=s3cret", RedisStoreHarness.UniquePrefix());

        await host.Store.SetAsync("k", Encoding.UTF8.GetBytes("v1"), ["news"], Lease, default);

        Assert.Equal(1, host.Backend.Transactions!.Decided);
        Assert.Equal(0, host.Backend.Transactions.Undecided);
        Assert.Equal("v1", Text(await host.Store.GetAsync("k", default)));
    }

    [Fact]
    public async Task UserWithoutTransactionCommands_StoresByScript_NothingFails()
    {
        using var server = await RedisServerFixture.StartDedicatedAsync();

        // The rules are Redis 6's ACLs; Garnet's differ, so there only the outcome is checked (CI runs redis-server).
        var acl = server.Kind == "redis-server";
        await using (var admin = await ConnectionMultiplexer.ConnectAsync(server.Endpoint))
        {
            if (acl)
            {
                await admin.GetDatabase().ExecuteAsync("ACL", "SETUSER", "mint", "on", ">pw", "~*", "&*", "+@all", "-watch", "-multi", "-exec");
            }
        }

        await using var host = new RedisStoreHarness(acl ? server.Endpoint + ",user=mint,password=pw" : server.Endpoint, RedisStoreHarness.UniquePrefix());

        await host.Store.SetAsync("k", Encoding.UTF8.GetBytes("v1"), ["news"], Lease, default);

        if (acl)
        {
            Assert.Equal(0, host.Backend.Transactions!.Decided);
            Assert.Equal(1, host.Backend.Transactions.Undecided);
        }

        Assert.False(host.Backend.IsDegraded);
        Assert.Equal("v1", Text(await host.Store.GetAsync("k", default)));
    }

    private static ReadOnlySequence<byte> Page(string text) => new(Encoding.UTF8.GetBytes(text));

    private static string? Text(byte[]? page) => page is null ? null : Encoding.UTF8.GetString(page);
}
