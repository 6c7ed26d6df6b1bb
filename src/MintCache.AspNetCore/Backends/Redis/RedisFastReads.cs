using System.Diagnostics;
using System.Runtime.CompilerServices;
using StackExchange.Redis;

namespace MintCache.AspNetCore.Backends.Redis;

/// <summary>
/// The one seam of the reads that answer a lookup without the script: plain <c>GET</c>s of the entry (and of its claim,
/// unless the entry is expected fresh), decided against the measured clock of the node serving the key's slot, as
/// <see cref="RedisFastRead.Verdict.Fresh"/>, <see cref="RedisFastRead.Verdict.Stale"/> (its claim held by another),
/// missing (with what its claim key holds) or <see cref="RedisFastRead.Verdict.Undecided"/>, which the lookup script
/// then decides (design.md §4).
/// </summary>
/// <remarks>
/// <para>
/// An optimisation only: Redis runs a <c>GET</c> in a couple of microseconds, the lookup script in tens. Turned off
/// (<see cref="Enabled"/>), every lookup is the script's, and no answer may change: the backend behaviour suite runs
/// both ways. Claims are taken by the script, or, on a missing or certainly stale entry whose claim key these reads
/// found empty, by the backend with one <c>SET NX</c>; never here.
/// </para>
/// <para>
/// Every read is sent with <see cref="Flags"/> and waited for no longer than the operation timeout, never cut short by
/// a caller: the middleware shares one lookup among every request of a key.
/// </para>
/// </remarks>
internal sealed class RedisFastReads : IDisposable
{
    /// <summary>
    /// <see cref="CommandFlags.NoRedirect"/>: a redirect fails the read at once instead of holding it.
    /// </summary>
    /// <remarks>
    /// When a Redis Cluster master dies, StackExchange.Redis sends a command for its slots to any other connected node,
    /// which answers MOVED to the dead master; the resend is queued on the dead master's connection whatever the
    /// <see cref="BacklogPolicy"/> until its next heartbeat fails it (README.md, the failover run). Not followed,
    /// the redirect fails in a round trip, and the redirected slot is still recorded in the cluster map.
    /// </remarks>
    public const CommandFlags Flags = CommandFlags.NoRedirect;

    /// <summary>
    /// Up to this error in the clock's estimate, a page that may be past its stale-at is answered stale, its claim taken,
    /// rather than sent to the script; past it (a measurement with a slow round trip), only a certainly stale one is, so
    /// a refresh never starts more than twice this early.
    /// </summary>
    internal static readonly TimeSpan EarlyStaleSlack = TimeSpan.FromMilliseconds(25);

    private readonly RedisKeys _keys;
    private readonly RedisServerClocks _clocks = new();
    private readonly RedisFreshnessHints _hints = new();
    private readonly RedisReplyWaits<Lease<byte>?> _entryReplies;
    private readonly RedisReplyWaits<RedisValue> _claimReplies;
    private readonly RedisClearStamps _clears;
    private readonly RedisPageDictionaries? _dictionaries;
    private volatile bool _enabled = true;

    public RedisFastReads(RedisKeys keys, TimeProvider timeProvider, TimeSpan timeout, RedisClearStamps? clears = null, RedisPageDictionaries? dictionaries = null)
    {
        _keys = keys;
        _clears = clears ?? new RedisClearStamps();
        _dictionaries = dictionaries;
        _entryReplies = new RedisReplyWaits<Lease<byte>?>(timeProvider, timeout);
        _claimReplies = new RedisReplyWaits<RedisValue>(timeProvider, timeout);
    }

    /// <summary>The switch (for tests and diagnosis): off, nothing is decided here and every lookup runs the script.</summary>
    public bool Enabled
    {
        get => _enabled;
        set => _enabled = value;
    }

    /// <summary>The measured clock of each node.</summary>
    public RedisServerClocks Clocks => _clocks;

    /// <summary>Whether <paramref name="key"/> is expected fresh, so one <c>GET</c> of its entry will do (see <see cref="RedisFreshnessHints"/>).</summary>
    public bool ExpectsFresh(string key, long now, out RedisKey entryKey)
    {
        if (_enabled)
        {
            return _hints.ExpectFresh(key, now, out entryKey);
        }

        entryKey = default;
        return false;
    }

    /// <summary>The script found the entry fresh until <paramref name="until"/> (a <see cref="Stopwatch"/> timestamp).</summary>
    public void SawFresh(string key, RedisKey entryKey, long until) => _hints.Fresh(key, entryKey, until);

    /// <summary>The entry was not what its hint said (evicted, marked stale, replaced, foreign).</summary>
    public void Forget(string key) => _hints.Forget(key);

    /// <summary>
    /// Sends the single <c>GET</c> of an entry expected fresh; false, sending nothing, when the clock of the node serving
    /// it decides nothing now (unknown, old, or stepped).
    /// </summary>
    public bool TryStartFresh(IDatabase db, RedisKey entryKey, out ValueTask<Lease<byte>?> reply, out long latestNow)
    {
        if (!_enabled || !_clocks.TryNow(db.Multiplexer, entryKey, out _, out latestNow))
        {
            reply = default;
            latestNow = 0;
            return false;
        }

        reply = _entryReplies.WaitAsync(db.StringGetLeaseAsync(entryKey, Flags));
        return true;
    }

    /// <summary>
    /// The verdict on the value a single <c>GET</c> read: fresh when it certainly is against <paramref name="latestNow"/>
    /// (the latest the node's clock may read), otherwise undecided, and the key is no longer expected fresh.
    /// </summary>
    public RedisFastRead DecideFresh(Lease<byte>? value, string key, RedisKey entryKey, long sentAt, long latestNow)
    {
        if (TryReadFresh(value, key, entryKey, sentAt, latestNow, out var fresh))
        {
            return fresh;
        }

        _hints.Forget(key);
        return RedisFastRead.Undecided;
    }

    /// <summary>
    /// Plain reads of the entry, and of its claim unless the entry is expected fresh, in one round trip: fresh, stale
    /// with its claim held by another, or undecided.
    /// </summary>
    /// <remarks>
    /// A redirect is not followed but read again once, along the cluster map it updated; a second one is a failure,
    /// thrown, as are all of Redis's failures and the timeout.
    /// </remarks>
    public ValueTask<RedisFastRead> ReadAsync(IDatabase db, string key, RedisKey entryKey, long sentAt) => ReadAsync(db, key, entryKey, sentAt, redirected: false);

    public void Dispose()
    {
        _entryReplies.Dispose();
        _claimReplies.Dispose();
    }

    internal static bool IsRedirectNotFollowed(RedisServerException exception)
        => exception.Message.Contains(nameof(CommandFlags.NoRedirect), StringComparison.Ordinal);

    internal static bool IsWrongType(RedisServerException exception)
        => exception.Message.StartsWith("WRONGTYPE", StringComparison.Ordinal);

    private ValueTask<RedisFastRead> ReadAsync(IDatabase db, string key, RedisKey entryKey, long sentAt, bool redirected)
    {
        if (!_enabled || !_clocks.TryNow(db.Multiplexer, entryKey, out var earliestNow, out var latestNow))
        {
            return ValueTask.FromResult(RedisFastRead.Undecided);
        }

        // The claim first: a store that lands between the two reads then shows its new page, never the page it replaced
        // beside a claim it already deleted, which would be taken and rendered again.
        var claim = _hints.ExpectFresh(key, sentAt) ? null : db.StringGetAsync(_keys.Claim(key), Flags);
        var reading = db.StringGetLeaseAsync(entryKey, Flags);
        return DecideAsync(db, reading, claim, key, entryKey, sentAt, earliestNow, latestNow, redirected);
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<RedisFastRead> DecideAsync(IDatabase db, Task<Lease<byte>?> reading, Task<RedisValue>? claim, string key, RedisKey entryKey, long sentAt, long earliestNow, long latestNow, bool redirected)
    {
        Lease<byte>? value;
        RedisValue holding = default;
        try
        {
            // Each waited for no longer than the operation timeout; the claim was sent with the entry, so is back by then, or soon.
            value = await _entryReplies.WaitAsync(reading).ConfigureAwait(false);
            if (claim is not null)
            {
                holding = await _claimReplies.WaitAsync(claim).ConfigureAwait(false);
            }
        }
        catch (RedisServerException ex) when (!redirected && IsRedirectNotFollowed(ex))
        {
            // The cluster map now names the node the redirect gave, so the reads are sent once more. Where that node is
            // connected (a slot moved, a promoted replica) they are answered; where it is the dead master, any other
            // node redirects again, and this time it is a failure, answered locally.
            _ = claim?.Exception;
            return await ReadAsync(db, key, entryKey, sentAt, redirected: true).ConfigureAwait(false);
        }
        catch (RedisServerException ex) when (IsWrongType(ex))
        {
            // Another type under a key: the script rejects it and logs why. Any other error of the server (a second
            // redirect, CLUSTERDOWN) is a Redis failure, answered locally: the script would only meet it again.
            _ = claim?.Exception;
            return RedisFastRead.Undecided;
        }

        using (value)
        {
            if (TryReadFresh(value, key, entryKey, sentAt, latestNow, out var fresh))
            {
                return fresh;
            }

            if (claim is null)
            {
                // Not fresh after all (evicted, marked stale, replaced): the next lookups read the claim with it again.
                _hints.Forget(key);
                return RedisFastRead.Undecided;
            }

            var holder = (string?)holding;
            if (value is null)
            {
                return Missing(holder, earliestNow);
            }

            // Stale, or within the clock's error of it: while another holder's claim stands (live, or released and
            // backing off), the answer is the stale page, as the script would give; a free claim is taken by the backend,
            // unless the script has a fail-safe to extend the expiry by; a revoked one is for the script to take.
            var staleNow = latestNow - earliestNow <= 2 * EarlyStaleSlack.TotalMilliseconds ? latestNow : earliestNow;
            if (!RedisEntryFormat.TryReadStale(value.Span, staleNow, latestNow, out var stale, out var msToGone, out var msToFailSafeGone, out var staleGraceMs, _clears.StaleUpTo, _dictionaries))
            {
                return RedisFastRead.Undecided;
            }

            if (holder is null)
            {
                return msToFailSafeGone > msToGone
                    ? RedisFastRead.Undecided
                    : new RedisFastRead(RedisFastRead.Verdict.StaleUnclaimed, stale, 0, msToGone, msToFailSafeGone, staleGraceMs)
                    {
                        Generation = RedisEntryFormat.GenerationOf(value.Span),
                        ReadAt = earliestNow,
                    };
            }

            if (holder is "" or [RedisWire.RevokedMark, ..])
            {
                return RedisFastRead.Undecided;
            }

            return new RedisFastRead(RedisFastRead.Verdict.Stale, stale, 0, msToGone, msToFailSafeGone, staleGraceMs);
        }
    }

    /// <summary>
    /// A missing entry, as the script would answer it from its claim key: free to take, held by another lookup, or
    /// backing off. A revoked claim (an eviction's mark, which carries its time) is left to the script.
    /// </summary>
    private static RedisFastRead Missing(string? holder, long readAt) => holder switch
    {
        null => RedisFastRead.Missing(RedisFastRead.Verdict.MissingUnclaimed, readAt),
        "" or [RedisWire.RevokedMark, ..] => RedisFastRead.Undecided,
        [RedisWire.ReleasedMark, ..] => RedisFastRead.Missing(RedisFastRead.Verdict.MissingBackingOff, readAt),
        _ => RedisFastRead.Missing(RedisFastRead.Verdict.MissingClaimedElsewhere, readAt),
    };

    /// <summary>
    /// The entry's page, when the value read is certainly fresh against <paramref name="latestNow"/>; the key is then
    /// expected fresh for as long (see <see cref="RedisFreshnessHints"/>).
    /// </summary>
    private bool TryReadFresh(Lease<byte>? value, string key, RedisKey entryKey, long sentAt, long latestNow, out RedisFastRead fresh)
    {
        if (value is not null && RedisEntryFormat.TryReadFresh(value.Span, latestNow, out var page, out var msToKeep, out var msToExpiry, out var msToFailSafe, out var graceMs, _clears.FreshUpTo, _dictionaries))
        {
            _hints.Fresh(key, entryKey, TicksAfter(sentAt, msToKeep));
            fresh = new RedisFastRead(RedisFastRead.Verdict.Fresh, page, msToKeep, msToExpiry, msToFailSafe, graceMs);
            return true;
        }

        fresh = default;
        return false;
    }

    /// <summary>A time Redis gave as milliseconds from now, from when the request was sent, as a <see cref="Stopwatch"/> timestamp.</summary>
    internal static long TicksAfter(long sentAt, long ms) => sentAt + (long)(ms * (Stopwatch.Frequency / 1000.0));
}
