using System.Buffers;
using System.Diagnostics;
using System.Runtime.CompilerServices;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using MintCache.AspNetCore.Backends.Memory;
using MintCache.AspNetCore.Diagnostics;
using MintCache.AspNetCore.Entries;
using MintCache.AspNetCore.Store;
using Polly;
using Polly.CircuitBreaker;
using StackExchange.Redis;

namespace MintCache.AspNetCore.Backends.Redis;

/// <summary>
/// The shared backend: entries in Redis, every decision taken by a Lua script on the Redis server's clock, so all the
/// processes that share the Redis agree on fresh / stale / missing and exactly one of them wins each refresh claim.
/// </summary>
/// <remarks>
/// Every call is bounded by one timeout and counted by one Polly circuit breaker: through the pipeline, or, for a
/// hit's plain reads while the breaker is closed, beside it (see <see cref="CanReadOutsidePipeline"/>). A call that
/// fails, times out or finds the breaker open is answered by a local <see cref="MemoryBackend"/> instead (see
/// <c>RedisBackend.Fallback.cs</c>): the farm-wide single refresh degrades to one refresh per process, and no request
/// ever sees the failure.
/// </remarks>
internal sealed partial class RedisBackend : IMintBackend, IBackendInventory
{
    private readonly RedisConnection _connection;
    private readonly RedisKeys _keys;
    private readonly MemoryBackend _local;
    private readonly ResiliencePipeline _pipeline;
    private readonly RedisAvailability _availability;
    private readonly ILogger _logger;
    private readonly TimeProvider _timeProvider;
    private readonly RedisNearCache? _near;
    private readonly RedisNotifications _notifications;
    private readonly MintCacheOptions _options;
    private readonly Metrics _metrics;
    private readonly RedisServerClock _clock = new();
    private readonly RedisFreshnessHints _hints = new();
    private readonly RedisReplyWaits<Lease<byte>?> _entryReplies;
    private readonly RedisReplyWaits<RedisValue> _claimReplies;

    public RedisBackend(RedisConnection connection, MemoryBackend local, IOptions<MintCacheOptions> options, TimeProvider timeProvider, ILogger<RedisBackend> logger, Metrics metrics)
    {
        _metrics = metrics;
        _connection = connection;
        _local = local;
        _logger = logger;
        _timeProvider = timeProvider;
        _options = options.Value;
        _keys = new RedisKeys(options.Value.KeyPrefix);
        _availability = new RedisAvailability(options.Value, timeProvider, logger, SlotAnswersAsync, OnDegraded, OnRestored);
        _pipeline = _availability.Pipeline;
        _entryReplies = new RedisReplyWaits<Lease<byte>?>(timeProvider, options.Value.RedisOperationTimeout);
        _claimReplies = new RedisReplyWaits<RedisValue>(timeProvider, options.Value.RedisOperationTimeout);
        _near = options.Value.NearCache ? new RedisNearCache(options.Value.NearCacheSizeLimit) : null;
        _notifications = new RedisNotifications(options.Value.KeyPrefix, _near, logger, OnTagsEvictedElsewhere, KeepNearAsLastKnown, DropLastKnownUnlessDegraded);

        // Connect now, in the background, rather than on the first lookup, subscribe to the farm's changes and check
        // the server's memory policy.
        _ = _connection.GetAsync(CancellationToken.None).AsTask().ContinueWith(
            static (t, state) =>
            {
                if (t.IsCompletedSuccessfully)
                {
                    ((RedisBackend)state!).OnConnected(t.Result);
                }

                _ = t.Exception;
            },
            this,
            CancellationToken.None,
            TaskContinuationOptions.None,
            TaskScheduler.Default);
    }

    public string Name => "redis";

    // Stores that fall back to local memory are fenced there, against the local evictions.
    public long EvictionMark => _local.EvictionMark;

    internal RedisKeys Keys => _keys;

    /// <summary>For tests: the server clock this backend measured, which lets a fresh entry be read with a plain GET.</summary>
    internal RedisServerClock ServerClock => _clock;

    /// <summary>For tests: the local fallback this backend answers from while Redis fails.</summary>
    internal MemoryBackend Local => _local;

    /// <summary>For tests: the connection this backend uses.</summary>
    internal RedisConnection Connection => _connection;

    public ValueTask<BackendLookup> LookupAsync(string key, TimeSpan leaseDuration, CancellationToken cancellationToken)
    {
        if (AnswersLocally)
        {
            return ValueTask.FromResult(_local.Lookup(key, leaseDuration));
        }

        if (TryGetNear(key, out var page))
        {
            return ValueTask.FromResult(BackendLookup.Fresh(page));
        }

        return ExpectsFreshHit(key, out var entryKey)
            ? ReadFreshAsync(key, entryKey, leaseDuration, cancellationToken)
            : LookupOnRedisAsync(key, _keys.Entry(key), leaseDuration, cancellationToken);
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<BackendLookup> LookupOnRedisAsync(string key, RedisKey entryKey, TimeSpan leaseDuration, CancellationToken cancellationToken)
    {
        var call = BeginCall();

        // Both taken before the request is sent: see ReadLookup.
        var mark = _notifications.Mark(key);
        var sentAt = Stopwatch.GetTimestamp();
        Interlocked.Increment(ref _redisLookups);
        PlainRead plain;
        try
        {
            // A fresh entry needs no script: a plain GET, decided against the server's clock as measured here. Redis
            // runs a GET in a couple of microseconds, the lookup script in tens; only stale, missing or borderline
            // entries (and claims) go on to the script.
            plain = CanReadOutsidePipeline
                ? await ReadPlainOutsidePipelineAsync(key, entryKey, sentAt, cancellationToken).ConfigureAwait(false)
                : await _pipeline.ExecuteAsync(
                    static (state, ct) => state.Self.ReadPlainAsync(state.Key, state.EntryKey, state.SentAt, ct),
                    (Self: this, Key: key, EntryKey: entryKey, SentAt: sentAt),
                    cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (IsRedisFailure(ex, cancellationToken))
        {
            OnFailure(call, ex, Tags.OperationLookup, entryKey);
            return _local.Lookup(key, leaseDuration);
        }

        if (plain.Page is { } known && plain.Stale)
        {
            OnSuccess(call);
            KeepNearAsStale(key, known, mark, sentAt, plain.MsToExpiry, plain.MsToFailSafe, plain.GraceMs);
            return BackendLookup.Stale(known);
        }

        if (plain.Page is not null)
        {
            OnSuccess(call);
            return AnswerFresh(key, plain, mark, sentAt);
        }

        return await LookupByScriptAsync(key, entryKey, leaseDuration, call, mark, sentAt, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// The lookup script: for an entry plain reads could not decide (stale with its claim free, missing, borderline, of
    /// another type), it answers on the server's clock and takes the claim when it is free.
    /// </summary>
    private async ValueTask<BackendLookup> LookupByScriptAsync(string key, RedisKey entryKey, TimeSpan leaseDuration, long call, long mark, long sentAt, CancellationToken cancellationToken)
    {
        var token = ClaimTicket.NewToken();
        RedisResult result;
        try
        {
            result = await _pipeline.ExecuteAsync(
                static async (state, ct) =>
                {
                    return await RedisScripts.LookupAsync(await state.Self.DatabaseAsync(ct).ConfigureAwait(false),
                        state.EntryKey,
                        state.Self._keys.Claim(state.Key),
                        state.Token,
                        Milliseconds(state.Lease),
                        Milliseconds(state.Self._options.FailureBackoff + state.Self._options.RegenerationTimeout)).WaitAsync(ct).ConfigureAwait(false);
                },
                (Self: this, Key: key, EntryKey: entryKey, Token: token, Lease: leaseDuration),
                cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (IsRedisFailure(ex, cancellationToken))
        {
            OnFailure(call, ex, Tags.OperationLookup, entryKey);
            return _local.Lookup(key, leaseDuration);
        }

        OnSuccess(call);
        return await WithLastKnownOnceSettledAsync(key, ReadLookup(key, entryKey, result, token, mark, sentAt)).ConfigureAwait(false);
    }

    /// <summary>A fresh page plain reads found: kept near, and the answer.</summary>
    private BackendLookup AnswerFresh(string key, in PlainRead fresh, long mark, long sentAt)
    {
        KeepNear(key, fresh.Page!, mark, sentAt, fresh.MsToKeep, fresh.MsToExpiry, fresh.MsToFailSafe, fresh.GraceMs);
        return BackendLookup.Fresh(fresh.Page!);
    }

    private BackendLookup ReadLookup(string key, RedisKey entryKey, RedisResult result, long token, long mark, long sentAt)
    {
        var reply = (RedisResult[])result!;
        switch ((int)reply[0])
        {
            case (int)EntryState.Fresh:
                var fresh = (byte[])reply[1]!;
                _hints.Fresh(key, entryKey, TicksAfter(sentAt, (long)reply[2]));
                KeepNear(key, fresh, mark, sentAt, msToStale: (long)reply[2], msToExpiry: (long)reply[3], msToFailSafe: (long)reply[4], graceMs: (long)reply[5]);
                return reply.Length > 6
                    ? BackendLookup.FreshClaimed(fresh, new ClaimTicket(token, (long)reply[6], ClaimedAt: (long)reply[7]))
                    : BackendLookup.Fresh(fresh);
            case (int)EntryState.Stale:
                var page = (byte[])reply[1]!;
                return reply.Length > 2
                    ? BackendLookup.StaleClaimed(page, new ClaimTicket(token, (long)reply[2], ClaimedAt: (long)reply[4]))
                    : BackendLookup.Stale(page);
            case LookupRejected:
                Log.EntryRejected(_logger, Name, (EntryRejectReason)(int)reply[1]);
                return BackendLookup.Missing;
            default:
                return WithLastKnown(key, ReadMissing(reply, token, mark));
        }
    }

    /// <summary>
    /// Whether the plain reads may skip the resilience pipeline: the breaker is closed and the connection made, so
    /// nothing is left for the pipeline to do but time the reads out, which <see cref="RedisReplyWaits{T}"/> does too.
    /// </summary>
    /// <remarks>
    /// The pipeline's asynchronous path allocates more per call than the rest of a hit together (its strategies' state
    /// machines, a linked token); the reads' outcome is then given to the breaker synchronously, which allocates nothing.
    /// A connection still being made is waited for under the pipeline's timeout, as are the scripts.
    /// </remarks>
    private bool CanReadOutsidePipeline => _availability.Circuit == CircuitState.Closed && _connection.IsConnected;

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<PlainRead> ReadPlainOutsidePipelineAsync(string key, RedisKey entryKey, long sentAt, CancellationToken cancellationToken)
    {
        PlainRead plain;
        try
        {
            plain = await ReadPlainAsync(key, entryKey, sentAt, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (IsRedisFailure(ex, cancellationToken))
        {
            CountInBreaker(ex);
            throw;
        }

        CountInBreaker(failure: null);
        return plain;
    }

    /// <summary>Gives the breaker the outcome of a call made outside the pipeline, as if it had run inside.</summary>
    private void CountInBreaker(Exception? failure)
    {
        var context = ResilienceContextPool.Shared.Get();
        var counted = _pipeline.ExecuteOutcomeAsync(
            static (_, failure) => ValueTask.FromResult(failure is null ? Outcome.FromResult(true) : Outcome.FromException<bool>(failure)),
            context,
            failure);

        // The breaker and the timeout run synchronously around a callback that completed, so the context is free again;
        // unless this outcome opened the breaker, whose callback Polly runs on a thread of its own.
        if (counted.IsCompleted)
        {
            ResilienceContextPool.Shared.Return(context);
        }
        else
        {
            _ = counted.AsTask();
        }
    }

    /// <summary>
    /// The page, when plain reads show the entry certainly fresh, or certainly stale with its claim held by another;
    /// otherwise nothing, and the script decides (it takes claims, and decides borderline entries on the server's clock).
    /// </summary>
    /// <remarks>
    /// <para>
    /// An entry this process last saw fresh until later than now is read alone; any other with its claim, in the same
    /// round trip, since a stale entry's answer depends on it (see <see cref="RedisFreshnessHints"/>).
    /// </para>
    /// <para>
    /// Both reads are sent with <see cref="PlainReadFlags"/>: a redirect is not followed but read again once, along the
    /// cluster map it updated, and a second one is a failure, answered locally.
    /// </para>
    /// </remarks>
    private ValueTask<PlainRead> ReadPlainAsync(string key, RedisKey entryKey, long sentAt, CancellationToken cancellationToken, bool redirected = false)
    {
        var connecting = DatabaseAsync(cancellationToken);
        if (!connecting.IsCompletedSuccessfully)
        {
            return ConnectThenReadAsync(connecting, key, entryKey, sentAt, cancellationToken, redirected);
        }

        var db = connecting.Result;
        if (!_clock.TryNow(db, out var earliestNow, out var latestNow))
        {
            return default;
        }

        var reading = db.StringGetLeaseAsync(entryKey, PlainReadFlags);
        var claim = _hints.ExpectFresh(key, sentAt) ? null : db.StringGetAsync(_keys.Claim(key), PlainReadFlags);
        return ReadAsync(reading, claim, key, entryKey, sentAt, earliestNow, latestNow, cancellationToken, redirected);

        async ValueTask<PlainRead> ConnectThenReadAsync(ValueTask<IDatabase> connecting, string key, RedisKey entryKey, long sentAt, CancellationToken cancellationToken, bool redirected)
        {
            await connecting.ConfigureAwait(false);
            return await ReadPlainAsync(key, entryKey, sentAt, cancellationToken, redirected).ConfigureAwait(false);
        }
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<PlainRead> ReadAsync(Task<Lease<byte>?> reading, Task<RedisValue>? claim, string key, RedisKey entryKey, long sentAt, long earliestNow, long latestNow, CancellationToken cancellationToken, bool redirected)
    {
        Lease<byte>? value;
        RedisValue holding = default;
        try
        {
            // Each waited for no longer than the operation timeout; the claim was sent with the entry, so is back by then, or soon.
            value = await _entryReplies.WaitAsync(reading, cancellationToken).ConfigureAwait(false);
            if (claim is not null)
            {
                holding = await _claimReplies.WaitAsync(claim, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (RedisServerException ex) when (!redirected && IsRedirectNotFollowed(ex))
        {
            // The cluster map now names the node the redirect gave, so the reads are sent once more. Where that node is
            // connected (a slot moved, a promoted replica) they are answered; where it is the dead master, any other
            // node redirects again, and this time it is a failure, answered locally.
            _ = claim?.Exception;
            return await ReadPlainAsync(key, entryKey, sentAt, cancellationToken, redirected: true).ConfigureAwait(false);
        }
        catch (RedisServerException ex) when (IsWrongType(ex))
        {
            // Another type under a key: the script rejects it and logs why. Any other error of the server (a second
            // redirect, CLUSTERDOWN) is a Redis failure, answered locally: the script would only meet it again.
            _ = claim?.Exception;
            return default;
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
                return default;
            }

            // Certainly stale: while another holder's claim stands (live, or released and backing off), the answer is
            // the stale page, as the script would give; a free or revoked claim is for the script to take.
            var holder = (string?)holding;
            if (value is null || holder is not { Length: > 0 } || holder[0] == '!'
                || !RedisEntryFormat.TryReadStale(value.Span, earliestNow, latestNow, out var stale, out var msToGone, out var msToFailSafeGone, out var staleGraceMs))
            {
                return default;
            }

            return new PlainRead(stale, 0, msToGone, msToFailSafeGone, staleGraceMs, Stale: true);
        }
    }

    /// <summary>
    /// The entry's page, when the value read is certainly fresh against <paramref name="latestNow"/> (the latest the
    /// server's clock may read); the key is then expected fresh until then (see <see cref="RedisFreshnessHints"/>).
    /// </summary>
    private bool TryReadFresh(Lease<byte>? value, string key, RedisKey entryKey, long sentAt, long latestNow, out PlainRead fresh)
    {
        if (value is not null && RedisEntryFormat.TryReadFresh(value.Span, latestNow, out var page, out var msToKeep, out var msToExpiry, out var msToFailSafe, out var graceMs))
        {
            _hints.Fresh(key, entryKey, TicksAfter(sentAt, msToKeep));
            fresh = new PlainRead(page, msToKeep, msToExpiry, msToFailSafe, graceMs, Stale: false);
            return true;
        }

        fresh = default;
        return false;
    }

    /// <summary>
    /// The flags of the hit path's plain reads: <see cref="CommandFlags.NoRedirect"/>, so that a redirect fails the read
    /// at once instead of holding it.
    /// </summary>
    /// <remarks>
    /// When a Redis Cluster master dies, StackExchange.Redis sends a command for its slots to any other connected node,
    /// which answers MOVED to the dead master. The resend is an internal call, which the multiplexer queues on the dead
    /// master's connection whatever the <see cref="BacklogPolicy"/> (FailFast included) until its next heartbeat, once a
    /// second, fails it: measured on a killed master, every lookup sent after the kill waited 0.8 to 1 s, so the timeout
    /// held it for <see cref="MintCacheOptions.RedisOperationTimeout"/>. Not followed, the redirect fails in a round
    /// trip (1 to 4 ms; up to 25 ms with both cores busy), and the redirected slot is still recorded in the cluster map.
    /// Claims are taken by scripts only, never by these reads, and a redirected command never runs.
    /// </remarks>
    private const CommandFlags PlainReadFlags = CommandFlags.NoRedirect;

    private static bool IsRedirectNotFollowed(RedisServerException exception)
        => exception.Message.Contains(nameof(CommandFlags.NoRedirect), StringComparison.Ordinal);

    private static bool IsWrongType(RedisServerException exception)
        => exception.Message.StartsWith("WRONGTYPE", StringComparison.Ordinal);

    /// <summary>What plain reads decided: nothing (no page), a fresh page and its remaining life, or a stale page.</summary>
    private readonly record struct PlainRead(byte[]? Page, long MsToKeep, long MsToExpiry, long MsToFailSafe, long GraceMs, bool Stale);

    public ValueTask<StoreOutcome> SetAsync(string key, ReadOnlySequence<byte> page, string[] tags, EntryLifetime lifetime, StoreFence fence, CancellationToken cancellationToken)
    {
        // Copied: the middleware reuses its buffers once this call returns, and a command cut short by the timeout may
        // still be written to the socket later.
        var bytes = page.ToArray();

        // Never serve this process's own older copy once it stores a newer page (read your writes).
        _notifications.Changed(key);
        if (AnswersLocally)
        {
            return ValueTask.FromResult(_local.Set(key, bytes, tags, lifetime, fence));
        }

        return SetOnRedisAsync(key, bytes, tags, lifetime, fence, cancellationToken);
    }

    private async ValueTask<StoreOutcome> SetOnRedisAsync(string key, byte[] page, string[] tags, EntryLifetime lifetime, StoreFence fence, CancellationToken cancellationToken)
    {
        var call = BeginCall();
        try
        {
            var outcome = await _pipeline.ExecuteAsync(
                static async (state, ct) =>
                {
                    var self = state.Self;
                    var db = await self.DatabaseAsync(ct).ConfigureAwait(false);

                    // The tags first, so that an entry never exists without them: an eviction that reads the tag's
                    // members afterwards finds the key (and revokes the claim this store is checked against), and one
                    // that read them before is seen by the tag's eviction time, which refuses a claim taken earlier.
                    var revoked = !await self.AddTagsAsync(db, state.Key, state.Tags, state.Lifetime, state.Fence.Claim?.ClaimedAt ?? 0).WaitAsync(ct).ConfigureAwait(false);
                    var reply = (RedisResult[])(await RedisScripts.SetAsync(db,
                        self._keys.Entry(state.Key),
                        self._keys.Claim(state.Key),
                        state.Page,
                        Milliseconds(state.Lifetime.Fresh, minimum: 1),
                        Milliseconds(state.Lifetime.Grace),
                        Milliseconds(state.Lifetime.FailSafe),
                        state.Fence.Claim is { } ticket ? ticket.Token : RedisValue.EmptyString,
                        state.Fence.Claim is { } fenced ? fenced.Generation : RedisValue.EmptyString,
                        revoked ? 1 : 0,
                        self._notifications.Channel.ToString(),
                        state.Key,
                        state.Lifetime.EagerAfter > TimeSpan.Zero ? Milliseconds(state.Lifetime.EagerAfter, minimum: 1) : 0).WaitAsync(ct).ConfigureAwait(false))!;
                    return (StoreOutcome)(int)reply[0];
                },
                (Self: this, Key: key, Page: page, Tags: tags, Lifetime: lifetime, Fence: fence),
                cancellationToken).ConfigureAwait(false);
            OnSuccess(call);

            // Again after the write: a lookup sent before it may have read the older page and not be back yet.
            _notifications.Changed(key);
            return outcome;
        }
        catch (Exception ex) when (IsRedisFailure(ex, cancellationToken))
        {
            OnFailure(call, ex, Tags.OperationStore, _keys.Entry(key));
            return _local.Set(key, page, tags, lifetime, fence);
        }
    }

    public async ValueTask<ClaimRenewal> RenewClaimAsync(string key, ClaimTicket claim, TimeSpan leaseDuration, CancellationToken cancellationToken)
    {
        if (AnswersLocally)
        {
            return await _local.RenewClaimAsync(key, claim, leaseDuration, cancellationToken).ConfigureAwait(false);
        }

        var call = BeginCall();
        try
        {
            var renewal = await _pipeline.ExecuteAsync(
                static async (state, ct) => (ClaimRenewal)(int)await RedisScripts.RenewClaimAsync(await state.Self.DatabaseAsync(ct).ConfigureAwait(false),
                    state.Self._keys.Claim(state.Key),
                    state.Token,
                    Milliseconds(state.Lease)).WaitAsync(ct).ConfigureAwait(false),
                (Self: this, Key: key, Token: claim.Token, Lease: leaseDuration),
                cancellationToken).ConfigureAwait(false);
            OnSuccess(call);
            if (renewal == ClaimRenewal.Lost)
            {
                // A claim granted by the local fallback during an outage lives there.
                renewal = await _local.RenewClaimAsync(key, claim, leaseDuration, cancellationToken).ConfigureAwait(false);
            }

            return renewal;
        }
        catch (Exception ex) when (IsRedisFailure(ex, cancellationToken))
        {
            // Thrown on: the holder tries again at its next beat, and its claim lapses if none gets through.
            OnFailure(call, ex, Tags.OperationRenew);
            throw;
        }
    }

    public async ValueTask ReleaseClaimAsync(string key, ClaimTicket claim, TimeSpan retryAfter, bool failed, CancellationToken cancellationToken)
    {
        // The claim may have been granted by the local fallback: releasing it there too is harmless when it was not.
        await _local.ReleaseClaimAsync(key, claim, retryAfter, failed, cancellationToken).ConfigureAwait(false);
        if (AnswersLocally)
        {
            return;
        }

        var call = BeginCall();
        try
        {
            await _pipeline.ExecuteAsync(
                static async (state, ct) =>
                {
                    await RedisScripts.ReleaseClaimAsync(await state.Self.DatabaseAsync(ct).ConfigureAwait(false),
                        state.Self._keys.Entry(state.Key),
                        state.Self._keys.Claim(state.Key),
                        state.Claim.Token,
                        Milliseconds(state.RetryAfter),
                        state.Failed ? 1 : 0,
                        state.Self._notifications.Channel.ToString(),
                        state.Key).WaitAsync(ct).ConfigureAwait(false);
                },
                (Self: this, Key: key, Claim: claim, RetryAfter: retryAfter, Failed: failed),
                cancellationToken).ConfigureAwait(false);
            OnSuccess(call);
        }
        catch (Exception ex) when (IsRedisFailure(ex, cancellationToken))
        {
            // The claim lapses on its own after the lease.
            OnFailure(call, ex, Tags.OperationRelease);
        }
    }

    /// <summary>
    /// The database, once connected. Called inside the pipeline: a request waits for the connection no longer than
    /// <see cref="MintCacheOptions.RedisOperationTimeout"/> (the pipeline's timeout; the attempt itself goes on in the
    /// background and serves the next calls), and a connection that cannot be made counts towards the circuit
    /// breaker like any failed command. Once connected this completes synchronously.
    /// </summary>
    private async ValueTask<IDatabase> DatabaseAsync(CancellationToken cancellationToken)
    {
        var connecting = _connection.GetAsync(cancellationToken);
        var multiplexer = connecting.IsCompletedSuccessfully
            ? connecting.Result
            : await connecting.ConfigureAwait(false);
        _notifications.EnsureStarted(multiplexer);
        WatchConnection(multiplexer);
        return multiplexer.GetDatabase();
    }

    private static long Milliseconds(TimeSpan duration, long minimum = 0)
        => Math.Max(minimum, (long)Math.Ceiling(duration.TotalMilliseconds));

    // The reply code of a rejected value; 0-2 are EntryState values.
    private const int LookupRejected = 3;
}
