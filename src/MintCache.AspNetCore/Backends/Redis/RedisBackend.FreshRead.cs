using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Threading.Tasks.Sources;
using MintCache.AspNetCore.Diagnostics;
using Polly;
using Polly.CircuitBreaker;
using StackExchange.Redis;

namespace MintCache.AspNetCore.Backends.Redis;

/// <summary>
/// The backend's side of the plain reads (<see cref="RedisFastReads"/>): beside the resilience pipeline while the breaker
/// is closed, and the hit of an entry this process last saw fresh, one <c>GET</c> answered from its reply by a pooled
/// <see cref="IValueTaskSource{TResult}"/> instead of a chain of async methods.
/// </summary>
/// <remarks>
/// This is the lookup a farm makes most once the near cache is off or misses, and the one the built-in Redis store makes
/// for every request: it allocates what that store's does (the page and StackExchange.Redis's own objects). Anything
/// but a fresh entry in the reply (stale, missing, foreign) goes on to the lookup script, which may take the claim, as
/// a wrong hint should cost (see <see cref="RedisFreshnessHints"/>); a redirect goes on to the full lookup, whose plain
/// reads follow it once; a failure or a timeout is answered from local memory, as everywhere else.
/// </remarks>
internal sealed partial class RedisBackend
{
    private readonly IdlePool<FreshRead> _freshReads = new();

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
    private async ValueTask<RedisFastRead> ReadOutsidePipelineAsync(string key, RedisKey entryKey, long sentAt)
    {
        RedisFastRead read;
        try
        {
            read = await _fastReads.ReadAsync(await DatabaseAsync(CancellationToken.None).ConfigureAwait(false), key, entryKey, sentAt).ConfigureAwait(false);
        }
        catch (Exception ex) when (IsRedisFailure(ex, CancellationToken.None))
        {
            CountInBreaker(ex);
            throw;
        }

        CountInBreaker(failure: null);
        return read;
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

    private ValueTask<BackendLookup> ReadFreshAsync(string key, RedisKey entryKey, TimeSpan leaseDuration)
    {
        var connecting = DatabaseAsync(CancellationToken.None);
        if (!connecting.IsCompletedSuccessfully)
        {
            return LookupOnRedisAsync(key, entryKey, leaseDuration);
        }

        var mark = _notifications.Mark(key);
        var sentAt = Stopwatch.GetTimestamp();
        if (!_fastReads.TryStartFresh(connecting.Result, entryKey, out var reply, out var latestNow))
        {
            return LookupOnRedisAsync(key, entryKey, leaseDuration);
        }

        var read = new Read(key, entryKey, leaseDuration, BeginCall(), mark, sentAt, latestNow);
        Interlocked.Increment(ref _redisLookups);
        if (reply.IsCompleted)
        {
            return Answer(reply, read);
        }

        return (_freshReads.TryTake() ?? new FreshRead(this)).Start(reply, read);
    }

    /// <summary>The lookup's answer from the entry's reply, which has arrived (or failed, or timed out).</summary>
    private ValueTask<BackendLookup> Answer(ValueTask<Lease<byte>?> reply, in Read read)
    {
        Lease<byte>? value;
        try
        {
            value = reply.GetAwaiter().GetResult();
        }
        catch (RedisServerException ex) when (RedisFastReads.IsRedirectNotFollowed(ex))
        {
            // The full lookup's plain reads follow a redirect once, along the cluster map it updated.
            CountInBreaker(failure: null);
            _fastReads.Forget(read.Key);
            return LookupOnRedisAsync(read.Key, read.EntryKey, read.LeaseDuration);
        }
        catch (RedisServerException ex) when (RedisFastReads.IsWrongType(ex))
        {
            // Another type under the key: the script rejects it and logs why.
            CountInBreaker(failure: null);
            _fastReads.Forget(read.Key);
            return LookupByScriptAsync(read.Key, read.EntryKey, read.LeaseDuration, read.Call, read.Mark, read.SentAt);
        }
        catch (Exception ex) when (IsRedisFailure(ex, CancellationToken.None))
        {
            CountInBreaker(ex);
            OnFailure(read.Call, ex, Tags.OperationLookup, read.EntryKey);
            return ValueTask.FromResult(_local.Lookup(read.Key, read.LeaseDuration));
        }

        CountInBreaker(failure: null);
        OnSuccess(read.Call);
        using (value)
        {
            var fresh = _fastReads.DecideFresh(value, read.Key, read.EntryKey, read.SentAt, read.LatestNow);
            if (fresh.Decision == RedisFastRead.Verdict.Fresh)
            {
                return ValueTask.FromResult(AnswerFresh(read.Key, fresh, read.Mark, read.SentAt));
            }
        }

        // Not fresh after all (evicted, marked stale, replaced): the script decides, as for any entry plain reads
        // cannot, and the next lookups read the claim with the entry again.
        return LookupByScriptAsync(read.Key, read.EntryKey, read.LeaseDuration, read.Call, read.Mark, read.SentAt);
    }

    /// <summary>What a fresh read needs once its reply is back.</summary>
    private readonly record struct Read(string Key, RedisKey EntryKey, TimeSpan LeaseDuration, long Call, long Mark, long SentAt, long LatestNow);

    /// <summary>
    /// One fresh read in flight: completed by the reply's continuation, then (when the entry was not fresh after all)
    /// by the full lookup's. Back in the pool once the caller has read the answer, and only then.
    /// </summary>
    private sealed class FreshRead : IValueTaskSource<BackendLookup>
    {
        private readonly RedisBackend _backend;
        private readonly Action _onReply;
        private readonly Action _onLookup;
        private ManualResetValueTaskSourceCore<BackendLookup> _core;
        private ValueTask<Lease<byte>?> _reply;
        private ValueTask<BackendLookup> _lookup;
        private Read _read;

        public FreshRead(RedisBackend backend)
        {
            _backend = backend;
            _onReply = OnReply;
            _onLookup = OnLookup;
        }

        public ValueTask<BackendLookup> Start(ValueTask<Lease<byte>?> reply, in Read read)
        {
            _reply = reply;
            _read = read;
            var version = _core.Version;
            reply.ConfigureAwait(false).GetAwaiter().UnsafeOnCompleted(_onReply);
            return new ValueTask<BackendLookup>(this, version);
        }

        public BackendLookup GetResult(short token)
        {
            // A stale token (the answer read twice) or an answer not there yet is the caller's misuse: it must not put
            // this read back in the pool, where it may already serve, or soon serve, another lookup.
            if (_core.GetStatus(token) == ValueTaskSourceStatus.Pending)
            {
                throw new InvalidOperationException("The lookup has not completed.");
            }

            try
            {
                return _core.GetResult(token);
            }
            finally
            {
                _reply = default;
                _lookup = default;
                _read = default;
                _core.Reset();
                _ = _backend._freshReads.TryReturn(this);
            }
        }

        public ValueTaskSourceStatus GetStatus(short token) => _core.GetStatus(token);

        public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags)
            => _core.OnCompleted(continuation, state, token, flags);

        private void OnReply()
        {
            ValueTask<BackendLookup> lookup;
            try
            {
                lookup = _backend.Answer(_reply, _read);
            }
            catch (Exception ex)
            {
                _core.SetException(ex);
                return;
            }

            if (lookup.IsCompleted)
            {
                Complete(lookup);
                return;
            }

            _lookup = lookup;
            lookup.ConfigureAwait(false).GetAwaiter().UnsafeOnCompleted(_onLookup);
        }

        private void OnLookup() => Complete(_lookup);

        // The last thing either continuation does: the caller may take the answer, and this read back to the pool, at once.
        private void Complete(ValueTask<BackendLookup> lookup)
        {
            BackendLookup answer;
            try
            {
                answer = lookup.GetAwaiter().GetResult();
            }
            catch (Exception ex)
            {
                _core.SetException(ex);
                return;
            }

            _core.SetResult(answer);
        }
    }
}
