namespace MintCache.AspNetCore.Backends.Redis;

/// <summary>
/// What plain reads decided for one lookup: <see cref="Verdict.Undecided"/> (the lookup script decides), a fresh page
/// with how long it certainly stays fresh, a stale page whose claim another holder has or is free, each with the
/// entry's life past its freshness, which a near copy keeps; or a missing entry, with what its claim key held. A
/// verdict that may take the claim or answer a miss carries <see cref="ReadAt"/>.
/// </summary>
internal readonly record struct RedisFastRead(RedisFastRead.Verdict Decision, byte[]? Page, long MsToKeep, long MsToExpiry, long MsToFailSafe, long GraceMs)
{
    /// <summary>Nothing decided: the script answers, on the node's own clock.</summary>
    public static RedisFastRead Undecided => default;

    /// <summary>
    /// For a missing entry, or a stale one whose claim is free: the earliest the node's clock may have read when the
    /// reads were sent, so never after they ran. It fences the page rendered for it (the time of the miss, or of the
    /// claim) as the script's time would (design.md §2 invariant 8).
    /// </summary>
    public long ReadAt { get; init; }

    /// <summary>For <see cref="Verdict.StaleUnclaimed"/>: the entry's generation, which a claim taken on it holds.</summary>
    public long Generation { get; init; }

    public static RedisFastRead Missing(Verdict decision, long readAt) => new(decision, null, 0, 0, 0, 0) { ReadAt = readAt };

    public enum Verdict
    {
        Undecided,
        Fresh,
        Stale,

        /// <summary>
        /// A stale page, nothing under its claim key (the claim is free to take), and no fail-safe to extend its expiry
        /// by, which only the script does.
        /// </summary>
        StaleUnclaimed,

        /// <summary>No entry, and nothing under its claim key: the claim is free to take.</summary>
        MissingUnclaimed,

        /// <summary>No entry, and another lookup's live claim: the page is being rendered.</summary>
        MissingClaimedElsewhere,

        /// <summary>No entry, and a released claim backing off after a failure: nobody renders the page.</summary>
        MissingBackingOff,
    }
}
