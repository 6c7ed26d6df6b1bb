namespace MintCache.AspNetCore.Backends.Redis;

/// <summary>
/// A few idle objects kept for reuse, shared by all threads: what one thread returns, any other may take next.
/// </summary>
/// <remarks>
/// The hit path's pooled waits are taken on the thread that sends a read and returned on the one that receives its
/// reply; per-thread caches (as the pooling async builder has) would miss on every such hand-over.
/// </remarks>
internal sealed class IdlePool<T>
    where T : class
{
    private readonly T?[] _idle = new T?[Environment.ProcessorCount * 4];

    public T? TryTake()
    {
        for (var i = 0; i < _idle.Length; i++)
        {
            if (Volatile.Read(ref _idle[i]) is not null && Interlocked.Exchange(ref _idle[i], null) is { } item)
            {
                return item;
            }
        }

        return null;
    }

    /// <summary>Whether the pool kept <paramref name="item"/>; when full (a burst), the caller lets it go.</summary>
    public bool TryReturn(T item)
    {
        for (var i = 0; i < _idle.Length; i++)
        {
            if (Interlocked.CompareExchange(ref _idle[i], item, null) is null)
            {
                return true;
            }
        }

        return false;
    }
}
