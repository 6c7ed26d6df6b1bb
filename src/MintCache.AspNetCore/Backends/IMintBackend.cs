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

    /// <summary>
    /// Reads an entry and, when it is stale and nobody holds its claim, claims it for <paramref name="leaseDuration"/>.
    /// A shared backend claims a missing entry too, and answers <see cref="BackendLookup.ClaimedElsewhere"/> when
    /// another lookup holds that claim.
    /// </summary>
    ValueTask<BackendLookup> LookupAsync(string key, TimeSpan leaseDuration, CancellationToken cancellationToken);

    /// <summary>
    /// Stores a page. With a <paramref name="claim"/>, the write is fenced: it is refused when the entry has been
    /// written since the claim was taken, and the claim is released if its token still owns it.
    /// </summary>
    /// <remarks>
    /// <c>regeneration</c> is the serialized request that regenerates the page in the background, or empty when the
    /// page is refreshed in the foreground: opaque to the backend, handed back with a won claim.
    /// </remarks>
    /// <returns><see langword="false"/> when the write was refused by the fence.</returns>
    ValueTask<bool> SetAsync(string key, ReadOnlySequence<byte> page, string[] tags, EntryLifetime lifetime, ReadOnlyMemory<byte> regeneration, ClaimTicket? claim, CancellationToken cancellationToken);

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

    /// <summary>Removes (<paramref name="soft"/> false) or marks stale (<paramref name="soft"/> true) every entry that carries the tag.</summary>
    ValueTask EvictByTagAsync(string tag, bool soft, CancellationToken cancellationToken);
}
