namespace MintCache.AspNetCore.Backends.Redis;

/// <summary>
/// What plain reads decided for one lookup: <see cref="Verdict.Undecided"/> (the lookup script decides), a fresh page
/// with how long it certainly stays fresh, or a stale page whose claim another holder has; each with the entry's life
/// past its freshness, which a near copy keeps. Undecided may carry the page read and its <see cref="Generation"/>,
/// which the script then need not send back.
/// </summary>
internal readonly record struct RedisFastRead(RedisFastRead.Verdict Decision, byte[]? Page, long MsToKeep, long MsToExpiry, long MsToFailSafe, long GraceMs, long Generation = 0)
{
    /// <summary>Nothing decided: the script answers, on the node's own clock.</summary>
    public static RedisFastRead Undecided => default;

    /// <summary>Nothing decided, but the entry's page of <paramref name="generation"/> was read.</summary>
    public static RedisFastRead UndecidedWith(byte[] page, long generation) => new(Verdict.Undecided, page, 0, 0, 0, 0, generation);

    public enum Verdict
    {
        Undecided,
        Fresh,
        Stale,
    }
}
