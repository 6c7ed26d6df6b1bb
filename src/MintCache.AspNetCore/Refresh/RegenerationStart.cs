namespace MintCache.AspNetCore.Refresh;

/// <summary>Whether <see cref="BackgroundRegenerator.TryStart"/> started a regeneration, and if not, why.</summary>
internal enum RegenerationStart
{
    Started,

    /// <summary>Every slot is taken: the request that won the claim renders the page in the foreground.</summary>
    SlotsFull,

    /// <summary>The host is stopping: nothing new starts here; the claim is given back for another host to take.</summary>
    Stopping,
}
