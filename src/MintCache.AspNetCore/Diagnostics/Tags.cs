namespace MintCache.AspNetCore.Diagnostics;

/// <summary>
/// The fixed sets of tag values MintCache reports. Small on purpose: every distinct value is a time series.
/// </summary>
internal static class Tags
{
    public const string ResultHit = "hit";
    public const string ResultMiss = "miss";

    public const string StateFresh = "fresh";
    public const string StateStale = "stale";
    public const string StateAbsent = "absent";

    public const string ClaimWon = "won";
    public const string ClaimLost = "lost";
    public const string ClaimDeferred = "deferred";

    public const string OutcomeStored = "stored";
    public const string OutcomeFailed = "failed";
    public const string OutcomeLapsed = "lapsed";
    public const string OutcomeRefused = "refused";

    public const string ModeForeground = "foreground";
    public const string ModeBackground = "background";
    public const string ModeEager = "eager";

    public const string KindPage = "page";
    public const string KindNear = "near";
    public const string KindFallback = "fallback";

    public const string OperationLookup = "lookup";
    public const string OperationStore = "store";
    public const string OperationRelease = "release";
    public const string OperationRenew = "renew";
    public const string OperationEvict = "evict";
    public const string OperationConnect = "connect";
}
