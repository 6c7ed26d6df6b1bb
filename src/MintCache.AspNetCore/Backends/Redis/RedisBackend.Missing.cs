using MintCache.AspNetCore.Diagnostics;
using MintCache.AspNetCore.Store;
using StackExchange.Redis;

namespace MintCache.AspNetCore.Backends.Redis;

/// <summary>
/// A miss decided by plain reads (<see cref="RedisFastReads"/>): answered without the lookup script, whose claim, when
/// free, is taken with one <c>SET NX</c>. Its fence starts when the reads were sent, on the node's clock as measured,
/// never later than the script's time of the miss would be (design.md §2 invariant 8).
/// </summary>
internal sealed partial class RedisBackend
{
    /// <summary>
    /// A missing entry whose claim key plain reads found empty: the claim is taken with one <c>SET NX</c>, as the script
    /// would take it, and fenced from the time the reads were sent. Taken first by another lookup (or written
    /// meanwhile, a redirect, another type under the key), the script decides instead.
    /// </summary>
    private async ValueTask<BackendLookup> ClaimMissingAsync(string key, RedisKey entryKey, TimeSpan leaseDuration, long call, long mark, long sentAt, long missedAt)
    {
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

        if (written == ClaimWrite.OutOfMemory)
        {
            // Not written for want of memory: a miss backing off, as the script answers it; the page renders unclaimed.
            OnSuccess(call);
            return await AnswerMissingAsync(key, BackendLookup.MissingAt(missedAt)).ConfigureAwait(false);
        }

        var taken = written == ClaimWrite.Taken;
        if (!taken)
        {
            return await LookupByScriptAsync(key, entryKey, leaseDuration, call, mark, sentAt).ConfigureAwait(false);
        }

        OnSuccess(call);
        return await AnswerMissingAsync(key, BackendLookup.MissingClaimed(new ClaimTicket(token, Generation: 0, ClaimedAt: missedAt))).ConfigureAwait(false);
    }

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
