using System.Diagnostics;

namespace MintCache.AspNetCore.Entries;

/// <summary>
/// The durations that place an entry's timestamps, relative to the moment the backend stores it:
/// stale-at = stored + <see cref="Fresh"/>, expires-at = stale-at + <see cref="Grace"/>, and, while regenerations
/// fail, no later than expires-at + <see cref="FailSafe"/>.
/// </summary>
/// <remarks>
/// They stay durations until the backend applies its own clock (the injected <see cref="TimeProvider"/> in memory,
/// the server's <c>TIME</c> in Redis), so that every decision on one backend is taken on one clock.
/// </remarks>
internal readonly record struct EntryLifetime
{
    public EntryLifetime(TimeSpan fresh, TimeSpan grace, TimeSpan failSafe = default)
    {
        Debug.Assert(fresh > TimeSpan.Zero, "An entry must be fresh for some time.");
        Debug.Assert(grace >= TimeSpan.Zero, "Grace is never negative.");
        Debug.Assert(failSafe >= TimeSpan.Zero, "The fail-safe is never negative.");
        Fresh = fresh;
        Grace = grace;
        FailSafe = failSafe;
    }

    /// <summary>How long the entry is served as is.</summary>
    public TimeSpan Fresh { get; }

    /// <summary>How long past <see cref="Fresh"/> the entry may be served stale.</summary>
    public TimeSpan Grace { get; }

    /// <summary>How far past its expiry failed regenerations may extend the entry; zero when the fail-safe is off.</summary>
    public TimeSpan FailSafe { get; }

    /// <summary>How long the backend keeps the entry unless a failure extends it.</summary>
    public TimeSpan Total => Fresh + Grace;
}
