using System.Buffers;
using System.Text;
using MintCache.AspNetCore.Backends;
using MintCache.AspNetCore.Entries;
using MintCache.AspNetCore.Store;

namespace MintCache.AspNetCore.Tests.Behaviour;

/// <summary>
/// The promises every backend keeps (design.md §2), one suite run against each backend by a small subclass.
/// </summary>
/// <remarks>
/// Time moves through <see cref="PassAsync"/>: the memory backend advances its fake clock, the Redis backend waits
/// for the server's clock, which no test can fake, so durations here stay short.
/// </remarks>
public abstract class BackendBehaviourTests : IAsyncLifetime
{
    private protected static readonly TimeSpan Lease = TimeSpan.FromSeconds(10);
    private protected static readonly TimeSpan Fresh = TimeSpan.FromMilliseconds(200);
    private protected static readonly TimeSpan Grace = TimeSpan.FromMilliseconds(1500);

    // For a page a test looks up as fresh without letting time pass: on Redis time passes for real, and a stall of
    // the machine longer than Fresh between the store and the lookup must not turn the page stale.
    private protected static readonly EntryLifetime Kept = new(TimeSpan.FromMinutes(1), Grace);

    // For a page a test looks up many times once stale: a stall longer than Grace while the lookups run must not
    // expire it.
    private protected static readonly EntryLifetime StaleKept = new(Fresh, TimeSpan.FromMinutes(1));

    // For a page a test looks up as fresh and then waits out: fresh long enough for a stalled machine, yet soon gone.
    private protected static readonly EntryLifetime FreshAWhile = new(TimeSpan.FromSeconds(3), Grace);

    private protected IMintBackend Backend { get; private set; } = null!;

    private protected abstract Task<IMintBackend> CreateBackendAsync();

    /// <summary>The store in front of <see cref="Backend"/>, as the middleware sees it.</summary>
    private protected abstract MintOutputCacheStore Store { get; }

    /// <summary>
    /// What the backend logged, for the message of an assertion that counts claims: on Redis, a call that failed and was
    /// answered from local memory explains a second claim.
    /// </summary>
    private protected virtual string Logged => "";

    /// <summary>Lets at least <paramref name="duration"/> pass on the backend's own clock.</summary>
    protected abstract Task PassAsync(TimeSpan duration);

    public virtual async Task InitializeAsync() => Backend = await CreateBackendAsync();

    public virtual Task DisposeAsync() => Task.CompletedTask;

    [Fact]
    public async Task Lookup_AfterSet_Fresh()
    {
        await SetAsync("k", "v1", Kept);
        var lookup = await Backend.LookupAsync("k", Lease, default);
        Assert.Equal(EntryState.Fresh, lookup.State);
        Assert.Equal("v1", Text(lookup.Page));
        Assert.Null(lookup.Claim);
    }

    [Fact]
    public async Task Lookup_Unknown_Missing()
        => Assert.Equal(EntryState.Missing, (await Backend.LookupAsync("nothing", Lease, default)).State);

    [Fact]
    public async Task Lookup_StaleUnderConcurrency_ExactlyOneWinsTheClaim()
    {
        await SetAsync("k", "v1", StaleKept);
        await PassAsync(Fresh);

        var lookups = await Task.WhenAll(Enumerable.Range(0, 100).Select(_ => Task.Run(async () => await Backend.LookupAsync("k", Lease, default))));

        Assert.All(lookups, l => Assert.Equal(EntryState.Stale, l.State));
        Assert.All(lookups, l => Assert.Equal("v1", Text(l.Page)));
        AssertOneClaim(lookups);
    }

    [Fact]
    public async Task Lookup_PastExpiry_Missing()
    {
        await SetAsync("k", "v1");
        await PassAsync(Fresh + Grace);
        Assert.Equal(EntryState.Missing, (await Backend.LookupAsync("k", Lease, default)).State);
    }

    [Fact]
    public async Task Set_UnderClaim_StoresAndReleases()
    {
        await SetAsync("k", "v1");
        await PassAsync(Fresh);
        var claim = (await Backend.LookupAsync("k", Lease, default)).Claim!.Value;

        Assert.Equal(StoreOutcome.Stored, await Backend.SetAsync("k", Page("v2"), [], Kept, claim, default));
        var lookup = await Backend.LookupAsync("k", Lease, default);
        Assert.Equal(EntryState.Fresh, lookup.State);
        Assert.Equal("v2", Text(lookup.Page));
    }

    [Fact]
    public async Task Set_UnderClaimOfAnOlderGeneration_Refused()
    {
        await SetAsync("k", "v1");
        await PassAsync(Fresh);
        var claim = (await Backend.LookupAsync("k", Lease, default)).Claim!.Value;
        await SetAsync("k", "v2 stored by someone else");

        Assert.Equal(StoreOutcome.Superseded, await Backend.SetAsync("k", Page("late"), [], new EntryLifetime(Fresh, Grace), claim, default));
        Assert.Equal("v2 stored by someone else", Text((await Backend.LookupAsync("k", Lease, default)).Page));
    }

    [Fact]
    public async Task ReleaseClaim_AtOnce_NextLookupWins()
    {
        await SetAsync("k", "v1");
        await PassAsync(Fresh);
        var claim = (await Backend.LookupAsync("k", Lease, default)).Claim!.Value;
        Assert.Null((await Backend.LookupAsync("k", Lease, default)).Claim);

        await Backend.ReleaseClaimAsync("k", claim, TimeSpan.Zero, failed: false, default);
        Assert.NotNull((await Backend.LookupAsync("k", Lease, default)).Claim);
    }

    [Fact]
    public async Task EvictByTag_Hard_RemovesOnlyTaggedEntries()
    {
        await SetAsync("k1", "v1", Kept, "news");
        await SetAsync("k2", "v2", Kept, "news", "sport");
        await SetAsync("k3", "v3", Kept, "sport");

        // Seen fresh first: nothing this process remembers of an entry outlives its eviction.
        Assert.Equal(EntryState.Fresh, (await Backend.LookupAsync("k1", Lease, default)).State);
        await Backend.EvictByTagAsync("news", soft: false, default);

        Assert.Equal(EntryState.Missing, (await Backend.LookupAsync("k1", Lease, default)).State);
        Assert.Equal(EntryState.Missing, (await Backend.LookupAsync("k2", Lease, default)).State);
        Assert.Equal(EntryState.Fresh, (await Backend.LookupAsync("k3", Lease, default)).State);
    }

    [Fact]
    public async Task EvictByTag_Soft_MarksStaleAndKeepsExpiry()
    {
        await SetAsync("k", "v1", FreshAWhile, "news");

        // Seen fresh first: nothing this process remembers of an entry outlives its eviction.
        Assert.Equal(EntryState.Fresh, (await Backend.LookupAsync("k", Lease, default)).State);
        await Backend.EvictByTagAsync("news", soft: true, default);

        var first = await Backend.LookupAsync("k", Lease, default);
        Assert.Equal(EntryState.Stale, first.State);
        Assert.NotNull(first.Claim);
        Assert.Equal("v1", Text((await Backend.LookupAsync("k", Lease, default)).Page));

        // Still gone at the original expiry: marking stale never extends the grace.
        await PassAsync(FreshAWhile.Fresh + FreshAWhile.Grace);
        Assert.Equal(EntryState.Missing, (await Backend.LookupAsync("k", Lease, default)).State);
    }

    [Fact]
    public async Task Clear_Hard_EveryEntryStoredBeforeIsMissing_LaterStoresServed()
    {
        await SetAsync("k1", "v1", Kept, "news");
        await SetAsync("k2", "v2", Kept);
        await SetAsync("k3", "v3");
        await PassAsync(Fresh);

        // Seen first (fresh, and stale with its claim held): nothing this process remembers outlives the clear.
        Assert.Equal(EntryState.Fresh, (await Backend.LookupAsync("k1", Lease, default)).State);
        Assert.NotNull((await Backend.LookupAsync("k3", Lease, default)).Claim);
        await Backend.ClearAsync(soft: false, default);

        foreach (var key in new[] { "k1", "k2", "k3" })
        {
            Assert.Null((await Backend.LookupAsync(key, Lease, default)).Page);
        }

        await SetAsync("k4", "v4", Kept);
        var after = await Backend.LookupAsync("k4", Lease, default);
        Assert.Equal(EntryState.Fresh, after.State);
        Assert.Equal("v4", Text(after.Page));
    }

    [Fact]
    public async Task Clear_Soft_FreshEntriesStaleOnce_OneClaimEach_ExpiryKept()
    {
        // k1 fresh long enough that the 40 lookups below end before it would turn stale on its own on a real clock (a
        // loaded machine once took longer than Fresh + Grace), and short enough to see it gone at its first expiry.
        var soonGone = new EntryLifetime(TimeSpan.FromSeconds(5), Grace);
        await SetAsync("k1", "v1", soonGone);
        await SetAsync("k2", "v2", Kept);

        // Seen fresh first: nothing this process remembers of an entry outlives the clear.
        Assert.Equal(EntryState.Fresh, (await Backend.LookupAsync("k2", Lease, default)).State);

        await Backend.ClearAsync(soft: true, default);

        var lookups = await Task.WhenAll(Enumerable.Range(0, 40).Select(_ => Task.Run(async () => await Backend.LookupAsync("k2", Lease, default))));
        Assert.All(lookups, l => Assert.Equal(EntryState.Stale, l.State));
        Assert.All(lookups, l => Assert.Equal("v2", Text(l.Page)));
        var claim = AssertOneClaim(lookups);
        Assert.Equal(EntryState.Stale, (await Backend.LookupAsync("k1", Lease, default)).State);

        // The claim taken after the clear stores; the page is fresh again, and a second lookup wins no claim.
        Assert.Equal(StoreOutcome.Stored, await Backend.SetAsync("k2", Page("v2 again"), [], Kept, claim, default));
        var refreshed = await Backend.LookupAsync("k2", Lease, default);
        Assert.Equal(EntryState.Fresh, refreshed.State);
        Assert.Equal("v2 again", Text(refreshed.Page));

        // Marked stale, never extended: gone at its first expiry.
        await PassAsync(soonGone.Fresh + soonGone.Grace);
        Assert.Equal(EntryState.Missing, (await Backend.LookupAsync("k1", Lease, default)).State);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Clear_StoreUnderAClaimTakenBefore_Refused(bool soft)
    {
        await SetAsync("k", "v1");
        await PassAsync(Fresh);
        var mark = Backend.EvictionMark;
        var claim = (await Backend.LookupAsync("k", Lease, default)).Claim!.Value;

        // Evictions win: the page rendered before the clear must not be stored as fresh.
        await Backend.ClearAsync(soft, default);

        Assert.Equal(StoreOutcome.Revoked, await Backend.SetAsync("k", Page("late"), [], Kept, new StoreFence(claim, mark), default));
        Assert.NotEqual("late", Text((await Backend.LookupAsync("k", Lease, default)).Page));
    }

    [Fact]
    public async Task Store_ValidForMaxValue_ClampedAndServedFresh()
    {
        // The middleware hands over whatever a policy's Expire(...) says: the store must not overflow on it.
        await Store.SetAsync("max", Encoding.UTF8.GetBytes("v1"), [], TimeSpan.MaxValue, default);

        Assert.Equal("v1", Text(await Store.GetAsync("max", default)));
        var lookup = await Backend.LookupAsync("max", Lease, default);
        Assert.Equal(EntryState.Fresh, lookup.State);
        Assert.Equal("v1", Text(lookup.Page));
    }

    [Fact]
    public async Task Set_EveryDurationMaxValue_ClampedAndServedFresh()
    {
        var lifetime = new EntryLifetime(TimeSpan.MaxValue, TimeSpan.MaxValue, TimeSpan.MaxValue);
        Assert.Equal(EntryLifetime.MaxFresh, lifetime.Fresh);
        Assert.Equal(EntryLifetime.MaxGrace, lifetime.Grace);
        Assert.Equal(EntryLifetime.MaxFailSafe, lifetime.FailSafe);

        Assert.Equal(StoreOutcome.Stored, await Backend.SetAsync("max", Page("v1"), ["news"], lifetime, null, default));
        await PassAsync(Fresh);

        var lookup = await Backend.LookupAsync("max", Lease, default);
        Assert.Equal(EntryState.Fresh, lookup.State);
        Assert.Equal("v1", Text(lookup.Page));
    }

    private Task SetAsync(string key, string page, params string[] tags)
        => SetAsync(key, page, new EntryLifetime(Fresh, Grace), tags);

    private Task SetAsync(string key, string page, EntryLifetime lifetime, params string[] tags)
        => Backend.SetAsync(key, Page(page), tags, lifetime, null, default).AsTask();

    private static ReadOnlySequence<byte> Page(string text) => new(Encoding.UTF8.GetBytes(text));

    private static string? Text(byte[]? page) => page is null ? null : Encoding.UTF8.GetString(page);

    private ClaimTicket AssertOneClaim(BackendLookup[] lookups)
    {
        var claims = lookups.Where(l => l.Claim is not null).Select(l => l.Claim!.Value).ToArray();
        Assert.True(claims.Length == 1, $"{claims.Length} of {lookups.Length} lookups won the claim. Logged:{Environment.NewLine}{Logged}");
        return claims[0];
    }
}
