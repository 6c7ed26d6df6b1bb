namespace MintCache.AspNetCore.Backends.Redis;

/// <summary>
/// What plain reads decided for one lookup: <see cref="Verdict.Undecided"/> (the lookup script decides), a fresh page
/// with how long it certainly stays fresh, or a stale page whose claim another holder has; each with the entry's life
/// past its freshness, which a near copy keeps.
/// </summary>
internal readonly record struct RedisFastRead(RedisFastRead.Verdict Decision, byte[]? Page, long MsToKeep, long MsToExpiry, long MsToFailSafe, long GraceMs)
{
    /// <summary>Nothing decided: the script answers, on the node's own clock.</summary>
    public static RedisFastRead Undecided => default;

    public enum Verdict
    {
        Undecided,
        Fresh,
        Stale,
    }
}
