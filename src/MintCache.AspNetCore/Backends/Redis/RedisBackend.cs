using System.Buffers;
using System.Diagnostics;
using System.Runtime.CompilerServices;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using MintCache.AspNetCore.Backends.Memory;
using MintCache.AspNetCore.Backends.Redis.Transactions;
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
    private readonly RedisFastReads _fastReads;
    private readonly RedisPageDictionaries _dictionaries;
    private readonly RedisClearStamps _clears = new();
    private readonly IRefreshCapacity? _refreshCapacity;
    private readonly RedisTransactionStore? _transactions;

    // Counted by the script lookups here and the plain reads (RedisBackend.FreshRead.cs).
    private long _redisLookups;

    public RedisBackend(
        RedisConnection connection, MemoryBackend local, IOptions<MintCacheOptions> options, TimeProvider timeProvider, ILogger<RedisBackend> logger, Metrics metrics, IRefreshCapacity? refreshCapacity = null)
    {
        _metrics = metrics;
        _refreshCapacity = refreshCapacity;
        _connection = connection;
        _local = local;
        _logger = logger;
        _timeProvider = timeProvider;
        _options = options.Value;
        _keys = new RedisKeys(options.Value.Redis.KeyPrefix);
        _availability = new RedisAvailability(options.Value, timeProvider, logger, SlotAnswersAsync, OnDegraded, OnRestored);
        _pipeline = _availability.Pipeline;
        _dictionaries = RedisPageDictionaries.For(_options.Redis, _keys, connection, timeProvider, logger);
        _fastReads = new RedisFastReads(_keys, timeProvider, options.Value.Redis.OperationTimeout, _clears, _dictionaries);
        _near = options.Value.Redis.NearCache ? new RedisNearCache(options.Value.Redis.NearCacheSizeLimit) : null;
        _notifications = new RedisNotifications(
            options.Value.Redis.KeyPrefix, _near, _availability, logger, OnTagsEvictedElsewhere, () => KeepNearAsLastKnown("connection lost"), OnNotificationsLive, _clears, OnClearedElsewhere,
            OnTouchNotice);
        _transactions = CreateTransactionStore();

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

    /// <summary>For tests and diagnosis: the plain reads, and their switch.</summary>
    internal RedisFastReads FastReads => _fastReads;

    /// <summary>For tests and diagnostics: lookups sent to Redis (the lookup script).</summary>
    internal long RedisLookups => Interlocked.Read(ref _redisLookups);

    /// <summary>For tests: the connection this backend uses.</summary>
    internal RedisConnection Connection => _connection;

    /// <remarks>
    /// Routes each lookup: local memory while Redis is not usable, the near copy, the plain reads (RedisFastReads), and
    /// the script for whatever they leave undecided. The caller's token is not honoured: the middleware shares one lookup
    /// among every request of a key, and <see cref="MintRedisOptions.OperationTimeout"/> bounds it instead.
    /// </remarks>
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

        return CanReadOutsidePipeline && _fastReads.ExpectsFresh(key, Stopwatch.GetTimestamp(), out var entryKey)
            ? ReadFreshAsync(key, entryKey, leaseDuration)
            : LookupOnRedisAsync(key, _keys.Entry(key), leaseDuration);
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<BackendLookup> LookupOnRedisAsync(string key, RedisKey entryKey, TimeSpan leaseDuration)
    {
        if (_transactions?.Releasing(key) is { } releasing)
        {
            await releasing.ConfigureAwait(false);
        }

        var call = BeginCall();

        // Both taken before the request is sent: see ReadLookup.
        var mark = _notifications.Mark(key);
        var sentAt = Stopwatch.GetTimestamp();
        Interlocked.Increment(ref _redisLookups);
        if (!_fastReads.Enabled)
        {
            return await LookupByScriptAsync(key, entryKey, leaseDuration, call, mark, sentAt).ConfigureAwait(false);
        }

        RedisFastRead read;
        try
        {
            read = CanReadOutsidePipeline
                ? await ReadOutsidePipelineAsync(key, entryKey, sentAt).ConfigureAwait(false)
                : await _pipeline.ExecuteAsync(
                    static async (state, ct) => await state.Self._fastReads.ReadAsync(await state.Self.DatabaseAsync(ct).ConfigureAwait(false), state.Key, state.EntryKey, state.SentAt).ConfigureAwait(false),
                    (Self: this, Key: key, EntryKey: entryKey, SentAt: sentAt),
                    CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            OnFailure(call, ex, Tags.OperationLookup, entryKey);
            return _local.Lookup(key, leaseDuration);
        }

        switch (read.Decision)
        {
            case RedisFastRead.Verdict.Stale:
                OnSuccess(call);
                KeepNearAsStale(key, read.Page!, mark, sentAt, read.MsToExpiry, read.MsToFailSafe, read.GraceMs);
                return BackendLookup.Stale(read.Page!);
            case RedisFastRead.Verdict.Fresh:
                OnSuccess(call);
                return AnswerFresh(key, read, mark, sentAt);
            case RedisFastRead.Verdict.MissingUnclaimed or RedisFastRead.Verdict.StaleUnclaimed:
                return await ClaimFreeAsync(key, entryKey, leaseDuration, call, mark, sentAt, read).ConfigureAwait(false);
            case RedisFastRead.Verdict.MissingClaimedElsewhere:
                OnSuccess(call);
                return await AnswerMissingAsync(key, BackendLookup.MissingClaimedElsewhere(mark, read.ReadAt)).ConfigureAwait(false);
            case RedisFastRead.Verdict.MissingBackingOff:
                OnSuccess(call);
                return await AnswerMissingAsync(key, BackendLookup.MissingAt(read.ReadAt)).ConfigureAwait(false);
            default:
                return await LookupByScriptAsync(key, entryKey, leaseDuration, call, mark, sentAt).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// The lookup script: for an entry plain reads could not decide (stale with its claim free, missing, borderline, of
    /// another type), it answers on the server's clock and takes the claim when it is free.
    /// </summary>
    private async ValueTask<BackendLookup> LookupByScriptAsync(string key, RedisKey entryKey, TimeSpan leaseDuration, long call, long mark, long sentAt)
    {
        var token = ClaimTicket.NewToken();
        RedisResult result;
        try
        {
            result = await _pipeline.ExecuteAsync(
                static async (state, ct) =>
                {
                    var db = await state.Self.DatabaseAsync(ct).ConfigureAwait(false);
                    return await RedisScripts.LookupAsync(db,
                        state.EntryKey,
                        state.Self._keys.Claim(state.Key),
                        state.Token,
                        Milliseconds(state.Lease),
                        Milliseconds(state.Self._options.FailureBackoff + state.Self._options.RegenerationTimeout),
                        state.Self.ClearRecordFor(db),
                        state.Self._clears.Hard,
                        state.Self._clears.Soft,
                        state.Self.ClaimsStale(),
                        state.Self.ClaimsEarly()).WaitAsync(ct).ConfigureAwait(false);
                },
                (Self: this, Key: key, EntryKey: entryKey, Token: token, Lease: leaseDuration),
                CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            OnFailure(call, ex, Tags.OperationLookup, entryKey);
            return _local.Lookup(key, leaseDuration);
        }

        OnSuccess(call);
        var reply = new RedisLookupReply(result);
        await _dictionaries.ReadyForAsync(reply).ConfigureAwait(false);
        return await WithLastKnownOnceSettledAsync(key, ReadLookup(key, entryKey, reply, token, mark, sentAt)).ConfigureAwait(false);
    }

    /// <summary>A fresh page plain reads found: kept near, and the answer.</summary>
    private BackendLookup AnswerFresh(string key, in RedisFastRead fresh, long mark, long sentAt)
    {
        KeepNear(key, fresh.Page!, mark, sentAt, fresh.MsToKeep, fresh.MsToExpiry, fresh.MsToFailSafe, fresh.GraceMs);
        return BackendLookup.Fresh(fresh.Page!);
    }

    private BackendLookup ReadLookup(string key, RedisKey entryKey, in RedisLookupReply reply, long token, long mark, long sentAt)
    {
        byte[]? page = null;
        if (reply.Page is { } stored && RedisPageCodec.TryDecode(reply.Codec, stored, _dictionaries, out page, reply.RenderTime, reply.PageHash) is not RedisPageCodec.Failure.None and var failure)
        {
            return NotDecoded(key, reply, token, failure);
        }

        switch (reply.Code)
        {
            case RedisWire.LookupCode.Fresh:
                var fresh = page!;
                _fastReads.SawFresh(key, entryKey, RedisFastReads.TicksAfter(sentAt, reply.MsToKeep));
                KeepNear(key, fresh, mark, sentAt, reply.MsToKeep, reply.MsToExpiry, reply.MsToFailSafe, reply.GraceMs);
                return reply.Claimed
                    ? BackendLookup.FreshClaimed(fresh, new ClaimTicket(token, reply.Generation, ClaimedAt: reply.Now, PageHash: PageFingerprint.HashOf(fresh)))
                    : BackendLookup.Fresh(fresh);
            case RedisWire.LookupCode.Stale:
                // Kept as this process's last known copy, as the plain reads keep theirs: turning them off changes no answer.
                KeepNearAsStale(key, page!, mark, sentAt, reply.MsToExpiry, reply.MsToFailSafe, reply.GraceMs);
                return reply.Claimed
                    ? BackendLookup.StaleClaimed(page!, new ClaimTicket(token, reply.Generation, ClaimedAt: reply.Now, PageHash: PageFingerprint.HashOf(page)))
                    : BackendLookup.Stale(page!);
            case RedisWire.LookupCode.Rejected:
                Log.EntryRejected(_logger, Name, reply.Reason);
                return BackendLookup.MissingAt(reply.Now);
            default:
                return WithLastKnown(key, ReadMissing(reply, token, mark));
        }
    }

    /// <summary>
    /// A page Redis answered with that cannot be decoded (damaged, or written by a newer MintCache): a logged miss, as
    /// any rejected value (invariant 4). A claim the lookup took stays this request's, so its render replaces the value.
    /// </summary>
    private BackendLookup NotDecoded(string key, in RedisLookupReply reply, long token, RedisPageCodec.Failure failure)
    {
        Log.RedisPageNotDecoded(_logger, failure);
        _fastReads.Forget(key);
        return reply.Claimed
            ? BackendLookup.MissingClaimed(new ClaimTicket(token, reply.Generation, ClaimedAt: reply.Now))
            : BackendLookup.MissingAt(reply.Now);
    }

    public ValueTask<StoreOutcome> SetAsync(string key, ReadOnlySequence<byte> page, string[] tags, EntryLifetime lifetime, StoreFence fence, CancellationToken cancellationToken)
    {
        // Never serve this process's own older copy once it stores a newer page (read your writes).
        _notifications.Changed(key);

        // Copied: the middleware reuses its buffers once this call returns, and a command cut short by the timeout may
        // still be written to the socket later.
        if (AnswersLocally)
        {
            return ValueTask.FromResult(_local.Set(key, page.ToArray(), tags, lifetime, fence));
        }

        var value = StoreValueFor(page, fence, out var touch);
        return SetOnRedisAsync(key, value, tags, lifetime, fence, touch, cancellationToken);
    }

    private async ValueTask<StoreOutcome> SetOnRedisAsync(
        string key, RedisStoreValue value, string[] tags, EntryLifetime lifetime, StoreFence fence, RedisScripts.TouchArguments? touch, CancellationToken cancellationToken)
    {
        var call = BeginCall();
        try
        {
            var outcome = await _pipeline.ExecuteAsync(
                static (state, ct) => state.Self.StoreOnRedisAsync(state.Key, state.Value, state.Tags, state.Lifetime, state.Fence, state.Touch, ct),
                (Self: this, Key: key, Value: value, Tags: tags, Lifetime: lifetime, Fence: fence, Touch: touch),
                cancellationToken).ConfigureAwait(false);
            OnSuccess(call);

            // Again after the write: a lookup sent before it may have read the older page and not be back yet.
            _notifications.Changed(key);
            return outcome;
        }
        catch (Exception ex) when (IsRedisFailure(ex, cancellationToken))
        {
            OnFailure(call, ex, Tags.OperationStore, _keys.Entry(key));
            return _local.Set(key, value.Page, tags, lifetime, fence);
        }
        finally
        {
            CountEncoding(value);
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
                static (state, ct) => state.Self.ReleaseOnRedisAsync(state.Key, state.Claim.Token, state.RetryAfter, state.Failed, ct),
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
    /// <see cref="MintRedisOptions.OperationTimeout"/> (the pipeline's timeout; the attempt itself goes on in the
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

    internal static long Milliseconds(TimeSpan duration, long minimum = 0)
        => Math.Max(minimum, (long)Math.Ceiling(duration.TotalMilliseconds));
}
