using System.Collections.Concurrent;

namespace MintCache.AspNetCore.Store;

internal sealed partial class MintOutputCacheStore
{
    // How long a claim won on a slow lookup waits for the next lookup of its key to take the "miss". Under load the
    // next lookup comes within milliseconds; a key that gets none this long is quiet, and its claim is given back.
    internal static readonly TimeSpan HandOffTimeout = TimeSpan.FromSeconds(1);

    // How long a key whose hand-off timed out counts as quiet: its next claim answers "miss" at once.
    private static readonly TimeSpan QuietFor = TimeSpan.FromMinutes(1);

    // Keys whose last hand-off found no taker, until when they count as quiet. Bounded by the keys that go stale
    // without traffic within QuietFor; entries are dropped when used or found expired.
    private readonly ConcurrentDictionary<string, long> _quietKeys = new(StringComparer.Ordinal);

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

        _quietKeys[key] = Now() + QuietFor.Ticks;
        EndClaim(key, claim, failed: false);
    }
}
