namespace MintCache.AspNetCore.Entries;

/// <summary>Why a stored value was not served. Logged with every rejection; values are part of the Redis scripts' reply: append only.</summary>
internal enum EntryRejectReason
{
    /// <summary>The value is a valid entry.</summary>
    None = 0,

    /// <summary>The key holds another Redis type (a hash, a list...): another program wrote it.</summary>
    WrongType = 1,

    /// <summary>The value is shorter than its header or its declared page length.</summary>
    Truncated = 2,

    /// <summary>The value does not start with MintCache's magic bytes: another program wrote it.</summary>
    Foreign = 3,

    /// <summary>The value was written in a format version this MintCache does not know (a newer one, say).</summary>
    UnknownVersion = 4,

    /// <summary>The header holds impossible values (stale after expiry).</summary>
    Corrupt = 5,

    /// <summary>The entry's claim key holds another Redis type: no claim can be taken or checked there.</summary>
    ForeignClaim = 6,
}
