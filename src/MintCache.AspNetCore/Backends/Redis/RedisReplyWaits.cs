using System.Threading.Tasks.Sources;
using Polly.Timeout;

namespace MintCache.AspNetCore.Backends.Redis;

/// <summary>
/// Waits for Redis replies for at most <see cref="MintCacheOptions.RedisOperationTimeout"/>, or until the caller gives
/// up, allocating nothing once warm.
/// </summary>
/// <remarks>
/// The hit path's replacement for the resilience pipeline's timeout and <see cref="Task.WaitAsync(CancellationToken)"/>:
/// those allocate state machines, a linked token and a promise per call, together a third of what a GET of the page
/// itself allocates. Each wait here is a pooled <see cref="IValueTaskSource{TResult}"/> with a timer of its own,
/// re-armed per use. A wait goes back to the pool only once its reply has arrived <em>and</em> its caller has read the
/// outcome, so a reply that arrives after its timeout never lands in another caller's wait.
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
    /// The reply, once Redis sent it; a <see cref="TimeoutRejectedException"/> (as the pipeline's timeout throws) once
    /// the timeout passed without it; an <see cref="OperationCanceledException"/> once the caller gave up.
    /// </summary>
    public ValueTask<T> WaitAsync(Task<T> reply, CancellationToken cancellationToken)
    {
        if (reply.IsCompleted)
        {
            return new ValueTask<T>(reply);
        }

        return Rent().Start(reply, cancellationToken);
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
        private const int Answered = 0;
        private const int Waiting = 1;

        private readonly RedisReplyWaits<T> _owner;
        private readonly ITimer _timer;
        private readonly Action _onReply;
        private ManualResetValueTaskSourceCore<T> _core;
        private Task<T>? _reply;
        private CancellationToken _cancellationToken;
        private CancellationTokenRegistration _cancellation;
        private long _deadline;
        private int _state;

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

        public ValueTask<T> Start(Task<T> reply, CancellationToken cancellationToken)
        {
            _reply = reply;
            _holders = 2;
            _cancellationToken = cancellationToken;

            // The deadline before the state: a late timer of an earlier use must see this use's deadline once it may answer.
            Volatile.Write(ref _deadline, _owner._timeProvider.GetTimestamp() + (long)(_owner._timeout.TotalSeconds * _owner._timeProvider.TimestampFrequency));
            Volatile.Write(ref _state, Waiting);
            var version = _core.Version;

            // Registered before the timer is armed and the reply awaited: whichever answers first finds the registration
            // to remove, so it never outlives this use (it would cancel the wait's next caller).
            if (cancellationToken.CanBeCanceled)
            {
                _cancellation = cancellationToken.UnsafeRegister(static s => ((Wait)s!).OnCanceled(), this);
            }

            _timer.Change(_owner._timeout, Timeout.InfiniteTimeSpan);
            reply.ConfigureAwait(false).GetAwaiter().UnsafeOnCompleted(_onReply);
            return new ValueTask<T>(this, version);
        }

        public T GetResult(short token)
        {
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
            var reply = _reply!;
            if (Answer())
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
            // A timer armed for an earlier use may fire late, while this wait serves a later one: only its own deadline counts.
            if (_owner._timeProvider.GetTimestamp() >= Volatile.Read(ref _deadline) && Answer())
            {
                _core.SetException(new TimeoutRejectedException("Redis did not answer within the operation timeout.", _owner._timeout));
            }
        }

        private void OnCanceled()
        {
            if (Answer())
            {
                _core.SetException(new OperationCanceledException(_cancellationToken));
            }
        }

        /// <summary>Whether this call is the first to answer the caller (the reply, the timeout or the cancellation).</summary>
        private bool Answer()
        {
            if (Interlocked.CompareExchange(ref _state, Answered, Waiting) != Waiting)
            {
                return false;
            }

            _timer.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
            _cancellation.Unregister();
            return true;
        }

        private void Release()
        {
            if (Interlocked.Decrement(ref _holders) != 0)
            {
                return;
            }

            _reply = null;
            _cancellation.Unregister(); // already answered, so already removed, except if the caller was canceled at once
            _cancellation = default;
            _cancellationToken = default;
            _core.Reset();
            _owner.Return(this);
        }
    }
}
