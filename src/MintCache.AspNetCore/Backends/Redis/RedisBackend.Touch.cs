using System.Buffers;
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
/// The touch runs the store script, so its fence is the store's (evictions win, clears included). It writes header
/// fields only, never page bytes, so it works on compressed pages too: the new render time goes into the header, and
/// the one place pages leave Redis decoded (<see cref="RedisPageCodec.TryDecode(byte, ReadOnlySpan{byte}, RedisPageDictionaries?, out byte[], long, ulong)"/>) stamps it on the page's
/// <c>Created</c> (from which the middleware serves <c>Age</c>) and <c>Date</c>. A touched page is thus served as a
/// page rendered now would be: <c>Age</c> starts again from zero, the app's own validators (<c>ETag</c>,
/// <c>Last-Modified</c>) stay as they were. A page whose render time cannot be stamped back is always stored whole.
/// </remarks>
internal sealed partial class RedisBackend
{
    private long _touches;
    private long _pagesEncoded;

    /// <summary>For tests and diagnostics: refreshes that found their page unchanged and moved only its times.</summary>
    internal long Touches => Interlocked.Read(ref _touches);

    /// <summary>For tests: the farm's compression dictionaries, as this process knows them.</summary>
    internal RedisPageDictionaries Dictionaries => _dictionaries;

    /// <summary>For tests and diagnostics: stores that encoded their page (compressed it, above the threshold); a touch does not.</summary>
    internal long PagesEncoded => Interlocked.Read(ref _pagesEncoded);

    private void CountEncoding(RedisStoreValue value)
    {
        if (value.IsEncoded)
        {
            Interlocked.Increment(ref _pagesEncoded);
        }
    }

    /// <summary>
    /// What a store sends: the page encoded now, or, when it may be a touch (<paramref name="touch"/>), kept to be encoded
    /// only if the touch finds it changed.
    /// </summary>
    private RedisStoreValue StoreValueFor(in ReadOnlySequence<byte> page, StoreFence fence, out RedisScripts.TouchArguments? touch)
    {
        // One contiguous copy of a page the middleware handed over in segments: hashed, kept and encoded from it.
        var copy = page.IsSingleSegment ? null : page.ToArray();
        touch = TouchFor(copy ?? page.FirstSpan, fence, out var hash);

        // Room for the header first, which the store script writes in place: Redis copies the page once.
        return touch is null
            ? RedisStoreValue.Encoded(copy is null ? page : new ReadOnlySequence<byte>(copy), _options.Redis.CompressionThreshold, _dictionaries, hash)
            : RedisStoreValue.Deferred(copy ?? page.FirstSpan.ToArray(), _options.Redis.CompressionThreshold, _dictionaries, hash);
    }

    /// <summary>
    /// The page's hash (<paramref name="hash"/>, every store keeps it in the header; <see cref="PageFingerprint.None"/>
    /// when the page has none) and, when the page is the one the fence's claim was won on and the header's render time
    /// can reproduce it, the touch that may replace the store. The hash is of the page as the middleware handed it over,
    /// whatever its codec in Redis.
    /// </summary>
    private static RedisScripts.TouchArguments? TouchFor(ReadOnlySpan<byte> bytes, StoreFence fence, out ulong hash)
    {
        hash = PageFingerprint.None;
        if (!PageFingerprint.TryRead(bytes, out var fingerprint))
        {
            return null;
        }

        hash = fingerprint.Hash;
        if (fence.Claim is not { PageHash: var claimed } || claimed != fingerprint.Hash || !PageFingerprint.IsStampable(bytes, fingerprint))
        {
            return null;
        }

        var hashBytes = new byte[8];
        BinaryPrimitives.WriteUInt64BigEndian(hashBytes, fingerprint.Hash);
        var renderTime = new byte[8];
        BinaryPrimitives.WriteInt64BigEndian(renderTime, fingerprint.CreatedTicks);
        return new RedisScripts.TouchArguments(hashBytes, renderTime);
    }

    /// <summary>A touch's reply that needs no page: touched, or refused by the fence as a store would be.</summary>
    private StoreOutcome OnTouched(RedisStoreReply reply) => OnTouched(reply.Outcome, reply.Touch);

    private StoreOutcome OnTouched(StoreOutcome outcome, RedisWire.TouchResult touch)
    {
        if (touch == RedisWire.TouchResult.Touched)
        {
            Interlocked.Increment(ref _touches);
            Log.PageUnchanged(_logger, Name);
        }
        else if (outcome == StoreOutcome.Refused)
        {
            Log.RedisStoreRefusedForeignKey(_logger);
        }

        return outcome;
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
