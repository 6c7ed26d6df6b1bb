namespace MintCache.AspNetCore.Store;

/// <summary>A backend's answer to a claim holder's heartbeat. Values are part of the Redis scripts' reply: append only.</summary>
internal enum ClaimRenewal
{
    /// <summary>The claim is no longer this holder's: it lapsed, was taken over or was released.</summary>
    Lost = 0,

    /// <summary>The claim is this holder's for another lease.</summary>
    Renewed = 1,

    /// <summary>An eviction revoked the claim: whatever the holder stores would be refused.</summary>
    Revoked = 2,
}
