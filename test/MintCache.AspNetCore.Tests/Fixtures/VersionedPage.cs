using System.Collections.Concurrent;

namespace MintCache.AspNetCore.Tests.Fixtures;

/// <summary>
/// A page that renders the application's data as it was when its execution began ("data N"), and whose executions a
/// test can hold one by one: what a regeneration racing a change of the data (and its eviction) looks like.
/// </summary>
public sealed class VersionedPage
{
    private static readonly TimeSpan HoldTimeout = TimeSpan.FromSeconds(30);

    private readonly ConcurrentQueue<Hold> _holds = new();
    private int _data = 1;
    private int _executions;

    /// <summary>The version of the data the next execution reads.</summary>
    public int Data
    {
        get => Volatile.Read(ref _data);
        set => Volatile.Write(ref _data, value);
    }

    public int Executions => Volatile.Read(ref _executions);

    /// <summary>The next execution to begin reads the data, then waits until the returned hold is released.</summary>
    public Hold HoldNext()
    {
        var hold = new Hold();
        _holds.Enqueue(hold);
        return hold;
    }

    public async Task<string> RenderAsync(CancellationToken requestAborted)
    {
        Interlocked.Increment(ref _executions);
        var data = Data;
        if (_holds.TryDequeue(out var hold))
        {
            hold.Began();

            // Bounded: a bug that never releases the hold fails the test instead of hanging it.
            await hold.Released.WaitAsync(HoldTimeout, requestAborted);
        }

        return $"data {data}";
    }

    public sealed class Hold
    {
        private readonly TaskCompletionSource _began = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly TaskCompletionSource _released = new(TaskCreationOptions.RunContinuationsAsynchronously);

        /// <summary>Completes once the held execution has read the data and waits.</summary>
        public Task Started => _began.Task;

        internal Task Released => _released.Task;

        public void Release() => _released.TrySetResult();

        internal void Began() => _began.TrySetResult();
    }
}
