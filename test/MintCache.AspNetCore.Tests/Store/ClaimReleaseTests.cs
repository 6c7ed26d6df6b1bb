using System.Text;
using MintCache.AspNetCore.Store;
using MintCache.AspNetCore.Tests.Fixtures;

namespace MintCache.AspNetCore.Tests.Store;

/// <summary>
/// design.md §2 invariant 2 on every backend: a claim whose store will not happen passes on, at once when nothing was
/// due (no regeneration failed, so no backoff holds it).
/// </summary>
public abstract class ClaimReleaseTests : IAsyncLifetime
{
    private protected static readonly TimeSpan Fresh = TimeSpan.FromSeconds(1);
    private protected static readonly byte[] PageV1 = Encoding.UTF8.GetBytes("v1");

    // Far longer than the test: a claim held by a backoff would be seen.
    private protected static readonly TimeSpan Backoff = TimeSpan.FromSeconds(30);

    private protected MintOutputCacheStore Store { get; private set; } = null!;

    /// <summary>Whether a lookup that wins a claim is answered "miss" at once (the memory backend), rather than served the stale page and handing its miss to the next lookup.</summary>
    protected abstract bool MissesAtOnce { get; }

    /// <summary>Starts the store under test with <paramref name="configure"/> applied.</summary>
    private protected abstract Task<MintOutputCacheStore> StartStoreAsync(Action<MintCacheOptions> configure);

    /// <summary>Lets at least <paramref name="duration"/> pass on the backend's own clock.</summary>
    protected abstract Task PassAsync(TimeSpan duration);

    public async Task InitializeAsync() => Store = await StartStoreAsync(o =>
    {
        o.Grace = TimeSpan.FromMinutes(5);
        o.LeaseDuration = TimeSpan.FromMinutes(1);
        o.FailureBackoff = Backoff;
    });

    public abstract Task DisposeAsync();

    [Fact]
    public async Task StoreWithNothingToKeep_ReleasesClaimWithoutBackoff()
    {
        await Store.SetAsync("k", PageV1, [], Fresh, default);
        await PassAsync(Fresh);
        await WinClaimAsync("k");
        Assert.Equal(1, Store.LocalClaimCount);

        // The policy decided the response is valid for no time: no regeneration failed, so no backoff holds the claim.
        await Store.SetAsync("k", PageV1, [], TimeSpan.Zero, default);
        Assert.Equal(0, Store.LocalClaimCount);
        await WinClaimAsync("k");
    }

    /// <summary>
    /// Looks <paramref name="key"/> up until a lookup is answered "miss" (its claim won): the first on memory, the
    /// second on Redis when its winning lookup completed asynchronously, was served the stale page and handed its miss
    /// to the next.
    /// </summary>
    private protected async Task WinClaimAsync(string key)
    {
        if (MissesAtOnce)
        {
            Assert.Null(await Store.GetAsync(key, default));
            return;
        }

        // A remote lookup whose reply came back before it was awaited completes synchronously and answers "miss" itself.
        if (await Store.GetAsync(key, default) is null)
        {
            return;
        }

        Assert.Null(await Store.GetAsync(key, default));
    }
}
