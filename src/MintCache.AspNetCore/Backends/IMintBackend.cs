using System.Buffers;
using MintCache.AspNetCore.Entries;
using MintCache.AspNetCore.Store;

namespace MintCache.AspNetCore.Backends;

/// <summary>
/// Where entries live. Each backend decides fresh / stale / missing on its own clock and takes the refresh claim
/// in the same atomic step as the read, so that exactly one lookup among all that share the backend wins it.
/// </summary>
internal interface IMintBackend
{
    /// <summary>A short, fixed name for logs and metrics ("memory", "redis").</summary>
    string Name { get; }

    /// <summary>The local eviction count a store's fence is checked against (see <see cref="StoreFence.EvictionMark"/>).</summary>
    long EvictionMark { get; }

    /// <summary>
    /// Reads an entry and, when it is stale and nobody holds its claim, claims it for <paramref name="leaseDuration"/>.
    /// A shared backend claims a missing entry too, and answers <see cref="BackendLookup.ClaimedElsewhere"/> when
    /// another lookup holds that claim.
    /// </summary>
    ValueTask<BackendLookup> LookupAsync(string key, TimeSpan leaseDuration, CancellationToken cancellationToken);

    /// <summary>
    /// Stores a page, unless <paramref name="fence"/> refuses it (see <see cref="StoreFence"/> for the rules). A store
    /// under a claim also releases the claim if its token still owns it, whatever the outcome.
    /// </summary>
    ValueTask<StoreOutcome> SetAsync(string key, ReadOnlySequence<byte> page, string[] tags, EntryLifetime lifetime, StoreFence fence, CancellationToken cancellationToken);

    /// <summary>
    /// A holder's heartbeat: extends its live claim by <paramref name="leaseDuration"/> from now, so that only a dead
    /// or stuck holder's claim lapses.
    /// </summary>
    ValueTask<ClaimRenewal> RenewClaimAsync(string key, ClaimTicket claim, TimeSpan leaseDuration, CancellationToken cancellationToken);

    /// <summary>
    /// Gives up a claim whose holder will not store: if the token still owns it, the claim now lapses after
    /// <paramref name="retryAfter"/> (zero: at once), so the next lookup after that regenerates. When
    /// <paramref name="failed"/> (the regeneration failed) and the entry was stored with a fail-safe, its expiry
    /// moves to now + its grace, never past its first expiry + fail-safe (stale-if-error).
    /// </summary>
    ValueTask ReleaseClaimAsync(string key, ClaimTicket claim, TimeSpan retryAfter, bool failed, CancellationToken cancellationToken);

    /// <summary>
    /// After a lookup answered <see cref="BackendLookup.ClaimedElsewhere"/>: waits, at most <paramref name="timeout"/>,
    /// for a sign that the key changed since (a store or a released claim).
    /// </summary>
    /// <returns>
    /// <see langword="true"/> when it is worth looking the key up again (it changed, or the timeout passed);
    /// <see langword="false"/> at once when this backend cannot be waited on (no notifications, degraded). Never
    /// throws but for the caller's cancellation.
    /// </returns>
    ValueTask<bool> WaitForEntryAsync(string key, BackendLookup lookup, TimeSpan timeout, CancellationToken cancellationToken);

    /// <summary>
    /// Removes (<paramref name="soft"/> false) or marks stale (<paramref name="soft"/> true) every entry that carries
    /// the tag, and revokes the outstanding claims on them (evictions win: a regeneration that began before the
    /// eviction cannot store its page as fresh). Throws when the eviction could not reach every entry.
    /// </summary>
    ValueTask EvictByTagAsync(string tag, bool soft, CancellationToken cancellationToken);

    /// <summary>
    /// Removes the entry of one key on every host sharing the backend (their near copies go too), and revokes the
    /// outstanding claim on it, so that a regeneration that began before cannot store an older page (evictions win).
    /// Throws when the eviction could not reach the backend.
    /// </summary>
    ValueTask EvictKeyAsync(string key, CancellationToken cancellationToken);

    /// <summary>
    /// Removes (<paramref name="soft"/> false) or marks stale (<paramref name="soft"/> true) every entry stored before
    /// the call, on every host sharing the backend, in constant time (a clear stamp checked at read), and refuses the
    /// stores of regenerations that began before it (evictions win). Throws when the clear could not reach every host.
    /// </summary>
    ValueTask ClearAsync(bool soft, CancellationToken cancellationToken);
}
