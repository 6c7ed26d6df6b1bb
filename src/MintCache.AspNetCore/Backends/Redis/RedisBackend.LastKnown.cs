using System.Diagnostics;
using MintCache.AspNetCore.Diagnostics;
using MintCache.AspNetCore.Entries;
using MintCache.AspNetCore.Policies;
using MintCache.AspNetCore.Store;
using StackExchange.Redis;

namespace MintCache.AspNetCore.Backends.Redis;

/// <summary>
/// The last known pages: what keeps an outage, and a Redis that comes back empty, from being a cold miss for everyone.
/// </summary>
/// <remarks>
/// <para>
/// When the connection is lost or this process switches to local memory, the near copies are kept in local memory as
/// <em>stale</em> pages, with the expiry and fail-safe bound Redis gave them: the first lookup then refreshes one page
/// in the background instead of every client rendering it. They are bounded by the near cache's size, never served past
/// their expiry, and dropped by any eviction (they carry <see cref="LastKnownTag"/>, which every eviction also evicts).
/// </para>
/// <para>
/// Back on Redis, local pages are dropped, as before, unless Redis lost its data meanwhile (it restarted empty: the
/// epoch value the farm keeps there is gone or new): then no eviction could have been recorded there during the
/// outage, and a local page answers, as a stale one, the lookups of keys Redis lacks, while the claim Redis grants lets
/// one host, farm-wide, regenerate each.
/// </para>
/// </remarks>
internal sealed partial class RedisBackend
{
    /// <summary>The reserved tag of pages kept from the near cache, which every eviction evicts too.</summary>
    internal const string LastKnownTag = ReservedTags.Prefix + "last-known";

    private int _lastKnownAnswers;
    private Task? _settling;
    private string? _epoch;

    /// <summary>For tests: whether local pages answer for keys Redis lacks (after a return to a restarted Redis).</summary>
    internal bool ServesLastKnown => Volatile.Read(ref _lastKnownAnswers) == 1;

    /// <summary>For tests: whether this process read the data's epoch since it connected.</summary>
    internal bool EpochKnown => Volatile.Read(ref _epoch) is not null;

    /// <summary>
    /// This process turned to local memory: stores now go there, unseen by Redis and its notifications, so near copies
    /// would hide them. They stay in service as stale pages in local memory, which answers every lookup from now on.
    /// </summary>
    private void KeepLastKnownWhileDegraded()
    {
        Volatile.Write(ref _lastKnownAnswers, 0);
        KeepNearAsLastKnown("degraded");
    }

    /// <summary>
    /// Back on Redis: pages stored locally during the outage were never seen by Redis, nor by the evictions made there
    /// since, so they do not outlive the outage, unless Redis came back empty.
    /// </summary>
    private void SettleOnReturn() => Volatile.Write(ref _settling, SettleReturnAsync());

    /// <summary>Keeps every near copy, still within its expiry, as a stale page in local memory.</summary>
    private void KeepNearAsLastKnown(string reason)
    {
        if (_near is not { } near)
        {
            return;
        }

        var kept = 0;
        var now = Stopwatch.GetTimestamp();
        foreach (var (key, copy) in near.Snapshot())
        {
            var life = copy.Life;
            if (life.ExpiresAt <= now || (_local.TryPeek(key, out var local) && ReferenceEquals(local, copy.Page)))
            {
                // Expired, or kept already (the subscription's loss and the switch to local memory both keep them):
                // kept again, it would be a new entry, and a claim won on the first copy would be won a second time.
                continue;
            }

            // Stale from now (one tick of freshness), gone at its expiry, extended by failures up to its fail-safe bound.
            var expiresIn = Stopwatch.GetElapsedTime(now, life.ExpiresAt);
            var failSafe = Stopwatch.GetElapsedTime(life.ExpiresAt, Math.Max(life.FailSafeUntil, life.ExpiresAt));
            _local.Set(key, copy.Page, [LastKnownTag], new EntryLifetime(TimeSpan.FromTicks(1), expiresIn, failSafe), new StoreFence(null, 0));
            kept++;
        }

        if (kept > 0)
        {
            Log.LastKnownKept(_logger, kept, reason);
        }
    }

    /// <summary>
    /// The subscription is live again: the copies kept when it was lost may name keys that changed or were evicted while
    /// nobody listened, so they go, unless this process answers locally (an outage, where they are all it has).
    /// </summary>
    private void DropLastKnownUnlessDegraded()
        => _availability.UnlessDegraded(() => _ = _local.EvictByTagAsync(LastKnownTag, soft: false, CancellationToken.None));

    /// <summary>
    /// A lookup Redis answered "missing" just after this process returned: waits for the return to be settled (two
    /// round trips at most), so that a Redis that came back empty is no cold miss for the first lookups either.
    /// </summary>
    private async ValueTask<BackendLookup> WithLastKnownOnceSettledAsync(string key, BackendLookup answer)
    {
        if (answer.State != EntryState.Missing || Volatile.Read(ref _settling) is not { IsCompleted: false } settling)
        {
            return answer;
        }

        await settling.ConfigureAwait(false);
        return WithLastKnown(key, answer);
    }

    /// <summary>A lookup Redis answered "missing": the local page, as a stale one, when local pages may answer.</summary>
    private BackendLookup WithLastKnown(string key, BackendLookup missing)
    {
        if (Volatile.Read(ref _lastKnownAnswers) == 0 || !_local.TryPeek(key, out var page))
        {
            return missing;
        }

        // Won farm-wide: this host regenerates it (a fence of generation 0 refuses the store if another host stored
        // first); claimed elsewhere or backing off: served stale rather than waited for.
        return missing.Claim is { } claim ? BackendLookup.StaleClaimed(page, claim) : BackendLookup.Stale(page);
    }

    /// <summary>Back on Redis: local pages are dropped, unless Redis came back empty meanwhile.</summary>
    private async Task SettleReturnAsync()
    {
        Volatile.Write(ref _lastKnownAnswers, 0);
        string? now = null;
        try
        {
            now = await ReadEpochAsync().ConfigureAwait(false);
        }
#pragma warning disable CA1031 // Unknown is treated as "not emptied": the local pages are dropped, as before.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            Log.RedisCallFailed(_logger, ex);
        }

        var before = now is null ? Volatile.Read(ref _epoch) : Interlocked.Exchange(ref _epoch, now);
        if (now is not null && before is not null && now != before)
        {
            Volatile.Write(ref _lastKnownAnswers, 1);
            return;
        }

        // Pages stored locally during the outage were never seen by Redis, nor by the evictions made there since.
        Log.LocalPagesDropped(_logger, now is null ? "the data's epoch could not be read" : "Redis kept its data");
        _local.Clear();
    }

    /// <summary>Remembers the data's epoch once connected, to tell a Redis that lost its data from a network outage later.</summary>
    private async Task RememberEpochAsync()
    {
        try
        {
            Interlocked.CompareExchange(ref _epoch, await ReadEpochAsync().ConfigureAwait(false), null);
        }
#pragma warning disable CA1031 // Without it, a return always drops the local pages: the safe side.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            Log.RedisCallFailed(_logger, ex);
        }
    }

    /// <summary>
    /// The data's epoch: a random value the first process to find none writes under <c>{prefix}{epoch}</c>, without
    /// expiry. A Redis that restarted empty (or was flushed) has lost it, and the next process writes a new one.
    /// </summary>
    private async Task<string?> ReadEpochAsync()
    {
        var multiplexer = await _connection.GetAsync(CancellationToken.None).AsTask().WaitAsync(_options.Redis.OperationTimeout).ConfigureAwait(false);
        var db = multiplexer.GetDatabase();
        var key = _keys.Epoch;
        await db.StringSetAsync(key, Guid.NewGuid().ToString("N"), when: When.NotExists).WaitAsync(_options.Redis.OperationTimeout).ConfigureAwait(false);
        return await db.StringGetAsync(key).WaitAsync(_options.Redis.OperationTimeout).ConfigureAwait(false);
    }
}
