namespace MintCache.AspNetCore.Store;

/// <summary>What a backend did with a page handed to it. Values are part of the Redis scripts' reply: append only.</summary>
internal enum StoreOutcome
{
    /// <summary>The page is the entry now.</summary>
    Stored = 1,

    /// <summary>Refused: the entry was rewritten since the claim was taken.</summary>
    Superseded = 2,

    /// <summary>Refused: the claim lapsed and another holder took it over, whose page will be newer.</summary>
    TakenOver = 3,

    /// <summary>Refused: an eviction of the entry or of one of its tags came after the page's regeneration began.</summary>
    Revoked = 4,

    /// <summary>
    /// Refused: the backend could not take the write (Redis out of memory, or another program's data under the
    /// entry's claim key or a tag's key, which leaves nothing to fence the page with).
    /// </summary>
    Refused = 5,
}
