using MintCache.AspNetCore.Backends.Redis;
using StackExchange.Redis;

namespace MintCache.AspNetCore.Tests.Redis;

/// <summary>
/// Which reads a lookup sends: a key is expected fresh strictly before the last stale-at this process saw, never after.
/// A hint never decides the answer (design.md §2 invariant 5 stays with the script and the measured clock).
/// </summary>
public sealed class RedisFreshnessHintsTests
{
    private static readonly RedisKey EntryKey = "p:{k}:e";

    [Fact]
    public void UnknownKey_NotExpectedFresh()
    {
        var hints = new RedisFreshnessHints();
        Assert.False(hints.ExpectFresh("k", 0));
        Assert.False(hints.ExpectFresh("k", 0, out var entryKey));
        Assert.Equal(default, entryKey);
    }

    [Fact]
    public void Fresh_ExpectedUntilItsStaleAt_NotAtIt()
    {
        var hints = new RedisFreshnessHints();
        hints.Fresh("k", EntryKey, until: 100);

        Assert.True(hints.ExpectFresh("k", 99));
        Assert.True(hints.ExpectFresh("k", 99, out var entryKey));
        Assert.Equal(EntryKey, entryKey);
        Assert.False(hints.ExpectFresh("k", 100));
        Assert.False(hints.ExpectFresh("k", 100, out _));
        Assert.False(hints.ExpectFresh("other", 0));
    }

    [Fact]
    public void EarlierStaleAt_NeverShortensTheHint_LaterOneExtendsIt()
    {
        var hints = new RedisFreshnessHints();
        hints.Fresh("k", EntryKey, until: 100);
        hints.Fresh("k", EntryKey, until: 50);
        Assert.True(hints.ExpectFresh("k", 99));

        hints.Fresh("k", EntryKey, until: 200);
        Assert.True(hints.ExpectFresh("k", 199));
        Assert.False(hints.ExpectFresh("k", 200));
    }

    [Fact]
    public void Forget_DropsTheHint()
    {
        var hints = new RedisFreshnessHints();
        hints.Fresh("k", EntryKey, until: 100);
        hints.Forget("k");
        Assert.False(hints.ExpectFresh("k", 0));

        // Forgetting twice, or a key never hinted, changes nothing.
        hints.Forget("k");
        hints.Forget("never");
        hints.Fresh("k", EntryKey, until: 100);
        Assert.True(hints.ExpectFresh("k", 0));
    }

    [Fact]
    public void PastCapacity_ClearedWhole_ThenFillsAgain()
    {
        var hints = new RedisFreshnessHints();
        for (var i = 0; i < RedisFreshnessHints.Capacity; i++)
        {
            hints.Fresh("k" + i, EntryKey, until: 100);
        }

        Assert.True(hints.ExpectFresh("k0", 0));

        hints.Fresh("one too many", EntryKey, until: 100);
        Assert.False(hints.ExpectFresh("k0", 0));
        Assert.False(hints.ExpectFresh("k" + (RedisFreshnessHints.Capacity - 1), 0));
        Assert.False(hints.ExpectFresh("one too many", 0));

        hints.Fresh("k0", EntryKey, until: 100);
        Assert.True(hints.ExpectFresh("k0", 0));
    }

    [Fact]
    public void ForgottenHints_FreeTheirPlace()
    {
        var hints = new RedisFreshnessHints();
        hints.Fresh("gone", EntryKey, until: 100);
        hints.Forget("gone");
        for (var i = 0; i < RedisFreshnessHints.Capacity; i++)
        {
            hints.Fresh("k" + i, EntryKey, until: 100);
        }

        // Exactly Capacity hints held: not cleared.
        Assert.True(hints.ExpectFresh("k0", 0));
    }
}
