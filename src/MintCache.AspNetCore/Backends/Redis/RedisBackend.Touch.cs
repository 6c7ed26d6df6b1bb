using System.Buffers.Binary;
using System.Diagnostics;
using MintCache.AspNetCore.Diagnostics;
using MintCache.AspNetCore.Entries;
using MintCache.AspNetCore.Store;

namespace MintCache.AspNetCore.Backends.Redis;

/// <summary>
/// Unchanged pages cost nothing: a refresh whose page is the same response as the one its claim was won on (same
/// <see cref="PageFingerprint"/>) sends the page's hash and its new render time instead of the page, and every host's
/// near copy moves on to the new times instead of being dropped.
/// </summary>
/// <remarks>
/// The touch runs the store script, so its fence is the store's (evictions win). The middleware's render time
/// (<c>Created</c>, from which it serves <c>Age</c>, and its <c>Date</c> header) is patched in the stored page, so a
/// touched page is served as a page rendered now would be: <c>Age</c> starts again from zero, the app's own validators
/// (<c>ETag</c>, <c>Last-Modified</c>) stay as they were.
/// </remarks>
internal sealed partial class RedisBackend
{
    private long _touches;

    /// <summary>For tests and diagnostics: refreshes that found their page unchanged and moved only its times.</summary>
    internal long Touches => Interlocked.Read(ref _touches);

    /// <summary>
    /// Writes the page's hash into <paramref name="value"/>'s header (every store keeps it) and, when the page is the
    /// one the fence's claim was won on, the touch that may replace the store.
    /// </summary>
    private static RedisScripts.TouchArguments? TouchFor(byte[] value, StoreFence fence)
    {
        var page = value.AsSpan(RedisWire.HeaderSize);
        if (!PageFingerprint.TryRead(page, out var fingerprint))
        {
            return null;
        }

        BinaryPrimitives.WriteUInt64BigEndian(value.AsSpan(RedisWire.PageHashOffset), fingerprint.Hash);
        if (fence.Claim is not { PageHash: var claimed } || claimed != fingerprint.Hash)
        {
            return null;
        }

        return new RedisScripts.TouchArguments(
            value.AsSpan(RedisWire.PageHashOffset, 8).ToArray(),
            fingerprint.CreatedOffset,
            page.Slice(fingerprint.CreatedOffset, fingerprint.CreatedLength).ToArray(),
            fingerprint.DateOffset,
            page.Slice(fingerprint.DateOffset, fingerprint.DateLength).ToArray());
    }

    /// <summary>A touch's reply that needs no page: touched, or refused by the fence as a store would be.</summary>
    private StoreOutcome OnTouched(RedisStoreReply reply)
    {
        if (reply.Touch == RedisWire.TouchResult.Touched)
        {
            Interlocked.Increment(ref _touches);
            Log.PageUnchanged(_logger, Name);
        }
        else if (reply.Outcome == StoreOutcome.Refused)
        {
            Log.RedisStoreRefusedForeignKey(_logger);
        }

        return reply.Outcome;
    }

    /// <summary>
    /// A touch anywhere in the farm: the near copy of its key, if any, gets the new render time and lives to the new
    /// stale-at, converted with the measured server clock at its latest (never later than the server's stale-at). Without
    /// a measured clock, or a patch that does not fit, the copy goes, as on any change.
    /// </summary>
    private void OnTouchNotice(RedisTouchNotice notice)
    {
        if (_near is not { } near || !near.TryPeek(notice.Key, out var copy))
        {
            return;
        }

        var connecting = _connection.GetAsync(CancellationToken.None);
        long latestMs = 0;
        var patched = notice.Patch(copy.Page);
        if (patched is null || !connecting.IsCompletedSuccessfully
            || !_fastReads.Clocks.TryNow(connecting.Result, _keys.Entry(notice.Key), out _, out latestMs)
            || notice.ExpiresAt - latestMs <= 1)
        {
            near.Remove(notice.Key, copy);
            return;
        }

        var now = Stopwatch.GetTimestamp();
        var msToKeep = notice.KeepUntil - latestMs;
        var deadline = msToKeep > 1 ? RedisFastReads.TicksAfter(now, msToKeep - 1) : 0;
        near.Add(notice.Key, patched, deadline, LifeAfter(now, notice.ExpiresAt - latestMs, notice.FailSafeUntil - latestMs, notice.GraceMs));
    }
}
