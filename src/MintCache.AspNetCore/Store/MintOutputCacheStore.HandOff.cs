using System.Collections.Concurrent;

namespace MintCache.AspNetCore.Store;

internal sealed partial class MintOutputCacheStore
{
    // How long a claim won on a slow lookup waits for the next lookup of its key to take the "miss". Under load the
    // next lookup comes within milliseconds; a key that gets none this long is quiet, and its claim is given back.
    internal static readonly TimeSpan HandOffTimeout = TimeSpan.FromSeconds(1);

    // How long a key whose hand-off timed out counts as quiet: its next claim answers "miss" at once.
    internal static readonly TimeSpan QuietFor = TimeSpan.FromMinutes(1);

    // At most this many keys are remembered as quiet. A key left out only hands its next miss off once more and
    // waits HandOffTimeout for a taker, as it did the first time: slower for that key, never wrong.
    internal const int MaxQuietKeys = 16_384;

    // Keys whose last hand-off found no taker, until when they count as quiet. Entries are dropped when used, and a
    // sweep on the store's clock drops those past QuietFor (each within 2 x QuietFor), so keys that go stale once and never again do not stay.
    private readonly ConcurrentDictionary<string, long> _quietKeys = new(StringComparer.Ordinal);
    private readonly Lock _quietSweepLock = new();
    private ITimer? _quietSweepTimer;
    private int _quietSweepArmed;

    /// <summary>For tests: how many keys are remembered as quiet, expired or not.</summary>
    internal int QuietKeyCount => _quietKeys.Count;

    /// <summary>
    /// Whether the key had so little traffic that its last hand-off found no taker: then its lookups are shared by
    /// few requests, and the one that wins the claim answers "miss" itself rather than wait for a successor that may
    /// not come (the stale page would otherwise be served until a lookup elsewhere took the claim over).
    /// </summary>
    private bool IsQuietKey(string key)
    {
        if (_quietKeys.IsEmpty || !_quietKeys.TryRemove(key, out var until))
        {
            return false;
        }

        return Now() < until;
    }

    private void ArmHandOffTimeout(string key, LocalClaim claim)
    {
        claim.HandOffTimer = _timeProvider.CreateTimer(
            static state =>
            {
                var (store, key, claim) = ((MintOutputCacheStore, string, LocalClaim))state!;
                store.OnHandOffTimeout(key, claim);
            },
            (this, key, claim),
            HandOffTimeout,
            Timeout.InfiniteTimeSpan);
    }

    private void OnHandOffTimeout(string key, LocalClaim claim)
    {
        claim.HandOffTimer?.Dispose();
        if (!claim.TryTakePendingMiss() || !_claims.Holds(key, claim))
        {
            return;
        }

        MarkQuiet(key);
        EndClaim(key, claim, failed: false);
    }

    /// <summary>Remembers <paramref name="key"/> as quiet for <see cref="QuietFor"/>, within <see cref="MaxQuietKeys"/>.</summary>
    internal void MarkQuiet(string key)
    {
        // Count takes every lock of the dictionary; this runs once per hand-off that timed out, not per lookup.
        if (_quietKeys.Count >= MaxQuietKeys && !_quietKeys.ContainsKey(key))
        {
            return;
        }

        _quietKeys[key] = Now() + QuietFor.Ticks;
        ArmQuietSweep();
    }

    // One timer, armed only while the table holds keys, so an idle store roots nothing on the timer queue.
    private void ArmQuietSweep()
    {
        if (Interlocked.Exchange(ref _quietSweepArmed, 1) == 1)
        {
            return;
        }

        lock (_quietSweepLock)
        {
            _quietSweepTimer ??= _timeProvider.CreateTimer(
                static state => ((MintOutputCacheStore)state!).SweepQuietKeys(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
            _quietSweepTimer.Change(QuietFor, Timeout.InfiniteTimeSpan);
        }
    }

    /// <summary>Drops the keys whose quiet time has passed; re-arms itself while any are left.</summary>
    internal void SweepQuietKeys()
    {
        var now = Now();
        foreach (var (key, until) in _quietKeys)
        {
            if (now >= until)
            {
                // Only that value: a key marked quiet again meanwhile stays.
                _quietKeys.TryRemove(new KeyValuePair<string, long>(key, until));
            }
        }

        // A key added after the loop saw the flag still set and did not arm: look again once it is cleared.
        Volatile.Write(ref _quietSweepArmed, 0);
        if (!_quietKeys.IsEmpty)
        {
            ArmQuietSweep();
        }
    }
}
