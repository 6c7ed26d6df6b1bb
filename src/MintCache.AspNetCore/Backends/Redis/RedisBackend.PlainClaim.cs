using MintCache.AspNetCore.Diagnostics;
using MintCache.AspNetCore.Entries;
using MintCache.AspNetCore.Store;
using StackExchange.Redis;

namespace MintCache.AspNetCore.Backends.Redis;

/// <summary>
/// A miss, or a stale page, decided by plain reads (<see cref="RedisFastReads"/>) with the claim key found empty: the
/// claim is taken with one <c>SET NX</c> instead of the lookup script, so no page passes through Lua. Its fence starts
/// at the earliest the node's clock may have read when the reads were sent, never later than the script's time would
/// be (design.md §2 invariant 8).
/// </summary>
internal sealed partial class RedisBackend
{
    /// <summary>
    /// Takes the free claim of what plain reads found (<see cref="RedisFastRead.Verdict.MissingUnclaimed"/> or
    /// <see cref="RedisFastRead.Verdict.StaleUnclaimed"/>), as the script would. Taken first by another lookup (or a
    /// revocation written meanwhile, a redirect, another type under the key), the script decides instead; a write
    /// Redis refuses for want of memory answers without a claim, as the script does.
    /// </summary>
    /// <remarks>
    /// The entry may change between the reads and the claim; a claim then holds the generation read, and its store is
    /// refused as superseded, as any claim's whose entry was rewritten.
    /// </remarks>
    private async ValueTask<BackendLookup> ClaimFreeAsync(string key, RedisKey entryKey, TimeSpan leaseDuration, long call, long mark, long sentAt, RedisFastRead read)
    {
        if (read.Page is { } unclaimed && !ClaimsStale())
        {
            OnSuccess(call);
            KeepNearAsStale(key, unclaimed, mark, sentAt, read.MsToExpiry, read.MsToFailSafe, read.GraceMs);
            return BackendLookup.StaleClaimDeferred(unclaimed);
        }

        var token = ClaimTicket.NewToken();
        ClaimWrite written;
        try
        {
            written = await _pipeline.ExecuteAsync(
                static (state, ct) => state.Self.WriteClaimAsync(state.Key, state.Token, state.Lease, ct),
                (Self: this, Key: key, Token: token, Lease: leaseDuration),
                CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            OnFailure(call, ex, Tags.OperationLookup, entryKey);
            return _local.Lookup(key, leaseDuration);
        }

        if (written == ClaimWrite.NotTaken)
        {
            return await LookupByScriptAsync(key, entryKey, leaseDuration, call, mark, sentAt).ConfigureAwait(false);
        }

        OnSuccess(call);
        ClaimTicket? claim = written == ClaimWrite.Taken
            ? new ClaimTicket(token, read.Generation, ClaimedAt: read.ReadAt, PageHash: read.Page is { } page ? PageFingerprint.HashOf(page) : 0)
            : null;
        if (read.Page is { } stale)
        {
            KeepNearAsStale(key, stale, mark, sentAt, read.MsToExpiry, read.MsToFailSafe, read.GraceMs);
            return claim is null ? BackendLookup.Stale(stale) : BackendLookup.StaleClaimed(stale, claim.Value);
        }

        return await AnswerMissingAsync(key, claim is null ? BackendLookup.MissingAt(read.ReadAt) : BackendLookup.MissingClaimed(claim.Value)).ConfigureAwait(false);
    }

    /// <summary>Whether a stale page's free claim is taken now (see <see cref="IRefreshCapacity"/>); a missing page's always is.</summary>
    private bool ClaimsStale() => _refreshCapacity?.CanRefreshStaleNow() ?? true;

    /// <summary>Whether a fresh page past its eager-at is claimed now (see <see cref="IRefreshCapacity"/>).</summary>
    private bool ClaimsEarly() => _refreshCapacity?.CanRefreshEarlyNow() ?? true;

    private async ValueTask<ClaimWrite> WriteClaimAsync(string key, long token, TimeSpan leaseDuration, CancellationToken cancellationToken)
    {
        try
        {
            var db = await DatabaseAsync(cancellationToken).ConfigureAwait(false);
            return await db.StringSetAsync(_keys.Claim(key), token, leaseDuration, When.NotExists, RedisFastReads.Flags).WaitAsync(cancellationToken).ConfigureAwait(false)
                ? ClaimWrite.Taken
                : ClaimWrite.NotTaken;
        }
        catch (RedisServerException ex) when (IsOutOfMemory(ex))
        {
            // Redis answers: not a failure for the breaker.
            return ClaimWrite.OutOfMemory;
        }
        catch (RedisServerException ex) when (RedisFastReads.IsRedirectNotFollowed(ex) || RedisFastReads.IsWrongType(ex))
        {
            return ClaimWrite.NotTaken;
        }
    }

    private enum ClaimWrite
    {
        NotTaken,
        Taken,
        OutOfMemory,
    }

    /// <summary>A miss plain reads answered, with this process's last known page as the script's misses have it.</summary>
    private ValueTask<BackendLookup> AnswerMissingAsync(string key, BackendLookup missing)
        => WithLastKnownOnceSettledAsync(key, WithLastKnown(key, missing));
}
