using System.Threading.Tasks.Sources;
using Polly.Timeout;

namespace MintCache.AspNetCore.Backends.Redis;

/// <summary>
/// Waits for Redis replies for at most <see cref="MintRedisOptions.OperationTimeout"/>, allocating nothing once warm.
/// </summary>
/// <remarks>
/// <para>
/// The hit path's replacement for the resilience pipeline's timeout and <see cref="Task.WaitAsync(TimeSpan)"/>: those
/// allocate state machines and a promise per call, together a third of what a GET of the page itself allocates. Each
/// wait here is a pooled <see cref="IValueTaskSource{TResult}"/> with a timer of its own, re-armed per use. A wait goes
/// back to the pool only once its reply has arrived <em>and</em> its caller has read the outcome, so a reply that
/// arrives after its timeout never lands in another caller's wait.
/// </para>
/// <para>
/// No caller's token ends a wait: the reads are shared by every request the middleware joined to one lookup, and the
/// timeout bounds them. Each use has its own number, and the timer answers only the use it read before deciding: a
/// timer callback already on its way when its use was answered (<see cref="ITimer.Change"/> cannot recall it) never
/// answers the next use of the same wait.
/// </para>
/// </remarks>
internal sealed class RedisReplyWaits<T> : IDisposable
{
    private readonly TimeProvider _timeProvider;
    private readonly TimeSpan _timeout;
    private readonly IdlePool<Wait> _idle = new();
    private int _disposed;

    public RedisReplyWaits(TimeProvider timeProvider, TimeSpan timeout)
    {
        _timeProvider = timeProvider;
        _timeout = timeout;
    }

    /// <summary>
    /// The reply, once Redis sent it, or a <see cref="TimeoutRejectedException"/> (as the pipeline's timeout throws) once
    /// the timeout passed without it.
    /// </summary>
    public ValueTask<T> WaitAsync(Task<T> reply)
    {
        if (reply.IsCompleted)
        {
            return new ValueTask<T>(reply);
        }

        return Rent().Start(reply);
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        while (_idle.TryTake() is { } wait)
        {
            wait.Dispose();
        }
    }

    private Wait Rent() => _idle.TryTake() ?? new Wait(this);

    private void Return(Wait wait)
    {
        if (Volatile.Read(ref _disposed) == 1 || !_idle.TryReturn(wait))
        {
            // More waits outstanding at once than the pool keeps (a burst), or the backend is gone.
            wait.Dispose();
        }
    }

    private sealed class Wait : IValueTaskSource<T>, IDisposable
    {
        private readonly RedisReplyWaits<T> _owner;
        private readonly ITimer _timer;
        private readonly Action _onReply;
        private ManualResetValueTaskSourceCore<T> _core;
        private Task<T>? _reply;
        private long _deadline;

        // The use's number times two, plus one while the use waits for its answer: a callback answers only if the state
        // it read is still the state (same use, still waiting).
        private long _state;

        // Two parties hold a wait while it is in use: the reply's continuation and the caller that reads the outcome.
        private int _holders;

        public Wait(RedisReplyWaits<T> owner)
        {
            _owner = owner;
            _onReply = OnReply;

            // Created once per pooled wait: it must not capture the first caller's execution context (its request,
            // its activity) and keep it alive, and run every later timeout under it.
            var restoreFlow = !ExecutionContext.IsFlowSuppressed();
            if (restoreFlow)
            {
                ExecutionContext.SuppressFlow();
            }

            try
            {
                _timer = owner._timeProvider.CreateTimer(static s => ((Wait)s!).OnTimer(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
            }
            finally
            {
                if (restoreFlow)
                {
                    ExecutionContext.RestoreFlow();
                }
            }
        }

        public ValueTask<T> Start(Task<T> reply)
        {
            _reply = reply;
            _holders = 2;

            // The deadline before the state: a timer that reads this use's state reads this use's deadline after it.
            Volatile.Write(ref _deadline, _owner._timeProvider.GetTimestamp() + (long)(_owner._timeout.TotalSeconds * _owner._timeProvider.TimestampFrequency));
            Volatile.Write(ref _state, ((Volatile.Read(ref _state) & ~1L) + 2) | 1);
            var version = _core.Version;
            _timer.Change(_owner._timeout, Timeout.InfiniteTimeSpan);
            reply.ConfigureAwait(false).GetAwaiter().UnsafeOnCompleted(_onReply);
            return new ValueTask<T>(this, version);
        }

        public T GetResult(short token)
        {
            // A stale token or an answer not there yet is the caller's misuse: it must not release this wait, which may
            // already serve another caller.
            if (_core.GetStatus(token) == ValueTaskSourceStatus.Pending)
            {
                throw new InvalidOperationException("The reply is not there yet.");
            }

            try
            {
                return _core.GetResult(token);
            }
            finally
            {
                Release();
            }
        }

        public ValueTaskSourceStatus GetStatus(short token) => _core.GetStatus(token);

        public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags)
            => _core.OnCompleted(continuation, state, token, flags);

        public void Dispose() => _timer.Dispose();

        private void OnReply()
        {
            // The reply's continuation runs once per use, before that use is released: the state is this use's.
            var reply = _reply!;
            if (TryAnswer(Volatile.Read(ref _state)))
            {
                if (reply.IsCompletedSuccessfully)
                {
                    _core.SetResult(reply.Result);
                }
                else
                {
                    _core.SetException(reply.Exception?.InnerException ?? new TaskCanceledException(reply));
                }
            }
            else if (reply.IsCompletedSuccessfully)
            {
                // Too late: the caller went on without it. A leased buffer goes back to its pool.
                (reply.Result as IDisposable)?.Dispose();
            }
            else
            {
                _ = reply.Exception;
            }

            Release();
        }

        private void OnTimer()
        {
            // Whichever use this callback was armed for, it may answer only the use it reads now, at that use's deadline.
            var state = Volatile.Read(ref _state);
            var deadline = Volatile.Read(ref _deadline);
            if ((state & 1) == 1 && _owner._timeProvider.GetTimestamp() >= deadline && TryAnswer(state))
            {
                _core.SetException(new TimeoutRejectedException("Redis did not answer within the operation timeout.", _owner._timeout));
            }
        }

        /// <summary>Whether this call is the first to answer the use <paramref name="state"/> names (the reply or the timeout).</summary>
        private bool TryAnswer(long state)
        {
            if ((state & 1) == 0 || Interlocked.CompareExchange(ref _state, state & ~1L, state) != state)
            {
                return false;
            }

            _timer.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
            return true;
        }

        private void Release()
        {
            if (Interlocked.Decrement(ref _holders) != 0)
            {
                return;
            }

            _reply = null;
            _core.Reset();
            _owner.Return(this);
        }
    }
}
