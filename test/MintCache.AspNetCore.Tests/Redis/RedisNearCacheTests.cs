using System.Diagnostics;
using MintCache.AspNetCore.Backends.Redis;

namespace MintCache.AspNetCore.Tests.Redis;

/// <summary>
/// The near cache on its own: a copy is served only before its deadline (design.md §2 invariant 3), kept as a
/// last-known page until its entry's end, and bounded by bytes. Deadlines are <see cref="Stopwatch"/> timestamps an
/// hour away from now, so a busy machine cannot move a case across them.
/// </summary>
public sealed class RedisNearCacheTests
{
    private const int Overhead = 96;
    private static readonly long Hour = Stopwatch.Frequency * 3600;

    [Fact]
    public void BeforeItsDeadline_Served_SizeCountsPageKeyAndOverhead()
    {
        var near = new RedisNearCache(sizeLimit: 10_000);
        var page = new byte[100];
        Assert.NotNull(near.Add("key", page, Later()));

        Assert.True(near.TryGet("key", out var served));
        Assert.Same(page, served);
        Assert.Equal(100 + (3 * sizeof(char)) + Overhead, near.Size);
        Assert.Equal(1, near.Count);
    }

    [Fact]
    public void PastItsDeadline_NotServed_KeptUntilTheEntryExpires()
    {
        var near = new RedisNearCache(sizeLimit: 10_000);
        near.Add("k", new byte[10], Earlier(), new RedisNearCache.EntryLife(Later(), 0, TimeSpan.FromMinutes(1)));

        Assert.False(near.TryGet("k", out _));
        Assert.True(near.Contains("k"));
    }

    [Fact]
    public void PastItsEnd_NotServed_AndDropped()
    {
        var near = new RedisNearCache(sizeLimit: 10_000);
        near.Add("k", new byte[10], Earlier());

        Assert.False(near.TryGet("k", out _));
        Assert.False(near.Contains("k"));
        Assert.Equal(0, near.Size);
    }

    [Fact]
    public void LargerThanTheLimit_NotKept()
    {
        var near = new RedisNearCache(sizeLimit: 1_000);
        Assert.Null(near.Add("k", new byte[1_000], Later()));
        Assert.False(near.Contains("k"));
        Assert.Equal(0, near.Size);
    }

    [Fact]
    public void Replaced_SizeIsTheNewCopys_OldCopyNeverRemovesTheNewOne()
    {
        var near = new RedisNearCache(sizeLimit: 10_000);
        var old = near.Add("k", new byte[100], Later())!;
        var current = near.Add("k", new byte[10], Later())!;
        Assert.Equal(current.Size, near.Size);

        near.Remove("k", old);
        Assert.True(near.TryGet("k", out var page));
        Assert.Equal(10, page.Length);

        near.Remove("k", current);
        Assert.False(near.Contains("k"));
        Assert.Equal(0, near.Size);
    }

    [Fact]
    public void OverTheLimit_CopiesClosestToTheirEndGoFirst()
    {
        // Room for three copies of about 200 bytes; the fourth compacts down to 90 % of the limit.
        var near = new RedisNearCache(sizeLimit: 700);
        var now = Stopwatch.GetTimestamp();
        near.Add("ends3", new byte[100], now + (3 * Hour));
        near.Add("ends1", new byte[100], now + Hour);
        near.Add("ends4", new byte[100], now + (4 * Hour));
        near.Add("ends2", new byte[100], now + (2 * Hour));

        Assert.False(near.Contains("ends1"));
        Assert.True(near.Contains("ends2") && near.Contains("ends3") && near.Contains("ends4"));
        Assert.InRange(near.Size, 0, 700 - 70);
    }

    [Fact]
    public void Clear_DropsEveryCopy()
    {
        var near = new RedisNearCache(sizeLimit: 10_000);
        near.Add("a", new byte[10], Later());
        near.Add("b", new byte[10], Later());
        near.Clear();

        Assert.Equal(0, near.Count);
        Assert.Equal(0, near.Size);
        Assert.Empty(near.Snapshot());
    }

    private static long Later() => Stopwatch.GetTimestamp() + Hour;

    private static long Earlier() => Stopwatch.GetTimestamp() - Hour;
}
