using System.Diagnostics;
using MintCache.AspNetCore.Store;

namespace MintCache.AspNetCore.Backends.Redis;

/// <summary>
/// The two features built on <see cref="RedisNotifications"/>: the near cache (fresh hits without a round trip) and
/// the farm-wide cold-miss collapse (a missing page being rendered elsewhere is waited for, not rendered again).
/// </summary>
/// <remarks>
/// Both stop while the subscription is not live or this process answers from its local fallback: then nothing tells
/// this process that a near copy is outdated or that a waited-for page arrived, and it must not wait on Redis anyway.
/// </remarks>
internal sealed partial class RedisBackend : IDisposable
{
    private long _nearHits;

    /// <summary>For tests and diagnostics: lookups answered from the near cache, without Redis.</summary>
    internal long NearHits => Interlocked.Read(ref _nearHits);

    /// <summary>For tests: the near cache, when on.</summary>
    internal RedisNearCache? NearCache => _near;

    /// <summary>For tests: the subscription.</summary>
    internal RedisNotifications Notifications => _notifications;

    private bool TryGetNear(string key, out byte[] page)
    {
        if (_near is { } near && _notifications.IsLive && !IsDegraded && near.TryGet(key, out page))
        {
            Interlocked.Increment(ref _nearHits);
            return true;
        }

        page = null!;
        return false;
    }

    /// <summary>
    /// Keeps a fresh page near until <paramref name="sentAt"/> + <paramref name="msToStale"/>: the server measured the
    /// remaining freshness after the request was sent, so this deadline falls on or before stale-at.
    /// </summary>
    private void KeepNear(string key, byte[] page, long mark, long sentAt, long msToStale, long msToExpiry = 0, long msToFailSafe = 0, long graceMs = 0)
    {
        if (_near is not { } near || !_notifications.IsLive || msToStale <= 1)
        {
            return;
        }

        // The script's now is truncated to the millisecond, so the remaining time may be overstated by up to 1 ms.
        var deadline = RedisFastReads.TicksAfter(sentAt, msToStale - 1);
        var life = msToExpiry <= 0 ? default : LifeAfter(sentAt, msToExpiry, msToFailSafe, graceMs);
        if (near.Add(key, page, deadline, life) is not { } kept)
        {
            return;
        }

        // Checked after the copy is in: a change whose message arrived while the lookup was in flight (on the other
        // connection) has moved the mark, and one arriving from now on removes the copy itself.
        if (_notifications.Mark(key) != mark || !_notifications.IsLive)
        {
            near.Remove(key, kept);
        }
    }

    /// <summary>
    /// Keeps a stale page read from Redis near, never to be served from there, as this process's last known copy of it:
    /// what it serves, stale, if it loses Redis during the regeneration (RedisBackend.LastKnown.cs). Kept once per key;
    /// a change anywhere in the farm drops it, as it drops a fresh copy.
    /// </summary>
    private void KeepNearAsStale(string key, byte[] page, long mark, long sentAt, long msToExpiry, long msToFailSafe, long graceMs)
    {
        if (_near is not { } near || !_notifications.IsLive || msToExpiry <= 1 || near.Contains(key))
        {
            return;
        }

        if (near.Add(key, page, deadline: 0, LifeAfter(sentAt, msToExpiry, msToFailSafe, graceMs)) is { } kept && (_notifications.Mark(key) != mark || !_notifications.IsLive))
        {
            // An eviction or a newer page whose message arrived while the read was in flight: this copy is older.
            near.Remove(key, kept);
        }
    }

    // Each a millisecond short: the script's now is truncated to the millisecond.
    private static RedisNearCache.EntryLife LifeAfter(long sentAt, long msToExpiry, long msToFailSafe, long graceMs)
        => new(RedisFastReads.TicksAfter(sentAt, msToExpiry - 1), RedisFastReads.TicksAfter(sentAt, Math.Max(msToFailSafe, msToExpiry) - 1), TimeSpan.FromMilliseconds(graceMs));

    private static BackendLookup ReadMissing(in RedisLookupReply reply, long token, long mark) => reply.Miss switch
    {
        RedisWire.MissKind.Claimed => BackendLookup.MissingClaimed(new ClaimTicket(token, Generation: 0, ClaimedAt: reply.Now)),
        RedisWire.MissKind.ClaimedElsewhere => BackendLookup.MissingClaimedElsewhere(mark, reply.Now),
        _ => BackendLookup.MissingAt(reply.Now),
    };

    public ValueTask<bool> WaitForEntryAsync(string key, BackendLookup lookup, TimeSpan timeout, CancellationToken cancellationToken)
    {
        if (!lookup.ClaimedElsewhere || AnswersLocally)
        {
            return ValueTask.FromResult(false);
        }

        return _notifications.WaitAsync(key, lookup.WatchMark, timeout, cancellationToken);
    }

    public void Dispose()
    {
        _notifications.Dispose();
        _fastReads.Dispose();
        _availability.Dispose();
        _transactions?.Pool.Dispose();
    }
}
