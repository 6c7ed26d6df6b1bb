using System.Globalization;

namespace MintCache.AspNetCore.Backends.Redis;

/// <summary>
/// This process's copy of the farm's clear record (<see cref="RedisKeys.Clear"/>): the server times, in microseconds, of
/// the latest hard and soft clears. An entry whose generation (microseconds of the server clock at its store) is at or
/// below a stamp was stored before that clear.
/// </summary>
/// <remarks>
/// The scripts read the record itself on one node; the copy serves what cannot: the plain reads that decide a page fresh
/// in C# (RedisFastReads) and, on a cluster (the record on another slot), the scripts' arguments. It is trusted only
/// while the notifications are live and it was read since they went live (the rule near copies follow): a clear is
/// published with its stamps, and a message missed while nobody listened is made good by reading the record again.
/// </remarks>
internal sealed class RedisClearStamps
{
    /// <summary>The start of a clear's message (then <c>hard:soft</c>).</summary>
    public static readonly string MessagePrefix = RedisWire.ChannelMark.Clear + "clear:";

    private long _hard;
    private long _soft;
    private int _trusted;
    private int _epoch;
    private readonly Lock _lock = new();

    public long Hard => Interlocked.Read(ref _hard);

    public long Soft => Interlocked.Read(ref _soft);

    /// <summary>Whether the copy holds every clear the farm made (see the remarks).</summary>
    public bool Trusted => Volatile.Read(ref _trusted) == 1;

    /// <summary>
    /// The stamp a plain read compares a generation with: at or below it, the page may have been cleared, and the script
    /// decides. Every page while the copy is not trusted.
    /// </summary>
    public long FreshUpTo => Trusted ? Math.Max(Hard, Soft) : long.MaxValue;

    /// <summary>As <see cref="FreshUpTo"/>, for a read that would serve a stale page: only a hard clear ends those.</summary>
    public long StaleUpTo => Trusted ? Hard : long.MaxValue;

    /// <summary>Stamps learned from a clear (its reply or its message); they only ever grow.</summary>
    /// <returns>Whether the hard stamp, and whether the soft one, grew.</returns>
    public (bool Hard, bool Soft) Heard(long hard, long soft) => (Raise(ref _hard, hard), Raise(ref _soft, soft));

    /// <summary>Taken before the record is read: <see cref="Read"/> trusts the copy only if nothing distrusted it since.</summary>
    public int Epoch => Volatile.Read(ref _epoch);

    /// <summary>The record, read after the notifications went live: the copy is complete from now on.</summary>
    public void Read(long hard, long soft, int epoch)
    {
        Heard(hard, soft);
        lock (_lock)
        {
            if (epoch == _epoch)
            {
                Volatile.Write(ref _trusted, 1);
            }
        }
    }

    /// <summary>The notifications stopped or restarted: messages may have been missed until the record is read again.</summary>
    public void Distrust()
    {
        lock (_lock)
        {
            _epoch++;
            Volatile.Write(ref _trusted, 0);
        }
    }

    /// <summary>The stamps of a clear's message, or false when it is not one.</summary>
    public static bool TryParse(string message, out long hard, out long soft)
    {
        hard = soft = 0;
        if (!message.StartsWith(MessagePrefix, StringComparison.Ordinal))
        {
            return false;
        }

        var stamps = message.AsSpan(MessagePrefix.Length);
        var colon = stamps.IndexOf(':');
        return colon > 0
            && long.TryParse(stamps[..colon], NumberStyles.None, CultureInfo.InvariantCulture, out hard)
            && long.TryParse(stamps[(colon + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out soft);
    }

    private static bool Raise(ref long stamp, long value)
    {
        long current;
        do
        {
            current = Interlocked.Read(ref stamp);
            if (value <= current)
            {
                return false;
            }
        }
        while (Interlocked.CompareExchange(ref stamp, value, current) != current);
        return true;
    }
}
