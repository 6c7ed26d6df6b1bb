namespace MintCache.AspNetCore.Entries;

/// <summary>Where an entry stands in its life when it is looked up.</summary>
/// <remarks>Values are part of the Redis script's reply: append only.</remarks>
internal enum EntryState
{
    /// <summary>No entry, or one past its expiry: nothing may be served.</summary>
    Missing = 0,

    /// <summary>Before stale-at: served as is.</summary>
    Fresh = 1,

    /// <summary>Between stale-at and expires-at: servable while one lookup regenerates it.</summary>
    Stale = 2,
}
