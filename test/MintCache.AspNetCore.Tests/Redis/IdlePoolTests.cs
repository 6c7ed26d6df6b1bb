using System.Collections.Concurrent;
using MintCache.AspNetCore.Backends.Redis;

namespace MintCache.AspNetCore.Tests.Redis;

/// <summary>The pool of idle waits on the hit path: what one thread returns, any other takes; bounded, never shared twice.</summary>
public sealed class IdlePoolTests
{
    private static readonly int Capacity = Environment.ProcessorCount * 4;

    [Fact]
    public void Empty_TakesNothing() => Assert.Null(new IdlePool<object>().TryTake());

    [Fact]
    public void Returned_TakenOnce()
    {
        var pool = new IdlePool<object>();
        var item = new object();
        Assert.True(pool.TryReturn(item));
        Assert.Same(item, pool.TryTake());
        Assert.Null(pool.TryTake());
    }

    [Fact]
    public void Full_RefusesTheNext_KeepsEveryOneItTook()
    {
        var pool = new IdlePool<object>();
        var items = Enumerable.Range(0, Capacity).Select(_ => new object()).ToArray();
        Assert.All(items, item => Assert.True(pool.TryReturn(item)));
        Assert.False(pool.TryReturn(new object()));

        var taken = Enumerable.Range(0, Capacity).Select(_ => pool.TryTake()!).ToArray();
        Assert.Null(pool.TryTake());
        Assert.Equal(items.ToHashSet(ReferenceEqualityComparer.Instance), taken.ToHashSet(ReferenceEqualityComparer.Instance));
    }

    [Fact]
    public void ReturnedOnOneThread_TakenOnAnother()
    {
        var pool = new IdlePool<object>();
        var item = new object();
        var returner = new Thread(() => pool.TryReturn(item));
        returner.Start();
        Assert.True(returner.Join(TimeSpan.FromSeconds(30)));
        object? taken = null;
        var taker = new Thread(() => taken = pool.TryTake());
        taker.Start();
        Assert.True(taker.Join(TimeSpan.FromSeconds(30)));
        Assert.Same(item, taken);
    }

    [Fact]
    public async Task ManyThreads_NoItemHandedToTwoAtOnce()
    {
        var pool = new IdlePool<object>();
        var inUse = new ConcurrentDictionary<object, bool>(ReferenceEqualityComparer.Instance);
        var doubled = 0;
        await Task.WhenAll(Enumerable.Range(0, 8).Select(worker => Task.Run(() =>
        {
            for (var i = 0; i < 20_000; i++)
            {
                var item = pool.TryTake() ?? new object();
                if (!inUse.TryAdd(item, true))
                {
                    Interlocked.Increment(ref doubled);
                    continue;
                }

                inUse.TryRemove(item, out _);
                pool.TryReturn(item);
            }
        }))).WaitAsync(TimeSpan.FromSeconds(60));

        Assert.Equal(0, doubled);
    }
}
