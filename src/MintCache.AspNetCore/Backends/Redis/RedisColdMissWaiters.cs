namespace MintCache.AspNetCore.Backends.Redis;

/// <summary>
/// The lookups of a missing page waiting, in this process, for the page another request is rendering: one waiter per
/// key, woken by the key's change message, by any change of the subscription's state, or by their timeout.
/// </summary>
/// <param name="stamps">The change stamps a wait compares its mark against, so a change seen before it registered wakes it at once.</param>
/// <param name="isLive">Whether the subscription delivers: without it nothing would wake a wait, so none starts.</param>
internal sealed class RedisColdMissWaiters(RedisChangeStamps stamps, Func<bool> isLive)
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, Waiter> _waiters = new(StringComparer.Ordinal);
    private int _count;

    /// <summary>How many keys have lookups waiting.</summary>
    public int Count => Volatile.Read(ref _count);

    /// <summary>
    /// Waits until <paramref name="key"/> changes after <paramref name="mark"/>, the subscription state changes, or
    /// <paramref name="timeout"/> passes.
    /// </summary>
    /// <returns>
    /// <see langword="true"/> when something changed or the timeout passed (worth looking again); <see langword="false"/>
    /// at once when not live, as nothing would wake the wait.
    /// </returns>
    public async ValueTask<bool> WaitAsync(string key, long mark, TimeSpan timeout, CancellationToken cancellationToken)
    {
        if (!isLive() || timeout <= TimeSpan.Zero)
        {
            return false;
        }

        var waiter = Add(key);
        try
        {
            // A change that arrived between the lookup and the registration would never wake this waiter.
            if (stamps.Mark(key) != mark || !isLive())
            {
                return true;
            }

            // The lease being waited on runs on the Redis server's real clock, so the bound is real time too.
            await waiter.Signal.Task.WaitAsync(timeout, TimeProvider.System, cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (TimeoutException)
        {
            return true;
        }
        finally
        {
            Remove(key, waiter);
        }
    }

    /// <summary>Wakes the lookups waiting for <paramref name="key"/>.</summary>
    public void Wake(string key)
    {
        if (Volatile.Read(ref _count) == 0)
        {
            return;
        }

        Waiter? waiter;
        lock (_lock)
        {
            if (_waiters.Remove(key, out waiter))
            {
                Volatile.Write(ref _count, _waiters.Count);
            }
        }

        waiter?.Signal.TrySetResult();
    }

    /// <summary>Wakes every waiting lookup: the subscription's state changed.</summary>
    public void WakeAll()
    {
        Waiter[] waiters;
        lock (_lock)
        {
            if (_waiters.Count == 0)
            {
                return;
            }

            waiters = [.. _waiters.Values];
            _waiters.Clear();
            Volatile.Write(ref _count, 0);
        }

        foreach (var waiter in waiters)
        {
            waiter.Signal.TrySetResult();
        }
    }

    private Waiter Add(string key)
    {
        lock (_lock)
        {
            if (!_waiters.TryGetValue(key, out var waiter))
            {
                waiter = new Waiter();
                _waiters.Add(key, waiter);
                Volatile.Write(ref _count, _waiters.Count);
            }

            waiter.Count++;
            return waiter;
        }
    }

    private void Remove(string key, Waiter waiter)
    {
        lock (_lock)
        {
            if (--waiter.Count == 0 && _waiters.TryGetValue(key, out var current) && ReferenceEquals(current, waiter))
            {
                _waiters.Remove(key);
                Volatile.Write(ref _count, _waiters.Count);
            }
        }
    }

    // The lookups of one key waiting in this process, woken together by one message.
    private sealed class Waiter
    {
        public TaskCompletionSource Signal { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public int Count { get; set; }
    }
}
