using System.Diagnostics;

namespace MintCache.AspNetCore.Entries;

/// <summary>
/// The durations that place an entry's timestamps, relative to the moment the backend stores it:
/// stale-at = stored + <see cref="Fresh"/>, expires-at = stale-at + <see cref="Grace"/>, and, while regenerations
/// fail, no later than expires-at + <see cref="FailSafe"/>.
/// </summary>
/// <remarks>
/// <para>
/// They stay durations until the backend applies its own clock (the injected <see cref="TimeProvider"/> in memory,
/// the server's <c>TIME</c> in Redis), so that every decision on one backend is taken on one clock.
/// </para>
/// <para>
/// Each is clamped to its maximum here, once for every backend: <see cref="MaxFresh"/>, <see cref="MaxGrace"/> and
/// <see cref="MaxFailSafe"/>. So a <c>validFor</c> of <see cref="TimeSpan.MaxValue"/> (which the middleware may hand
/// over) never overflows the memory backend's tick arithmetic, keeps Redis's millisecond arithmetic far below the 2^53
/// that Lua's doubles hold exactly, and a grace always fits the 4-byte milliseconds of <see cref="Backends.Redis.RedisEntryFormat"/>.
/// </para>
/// </remarks>
internal readonly record struct EntryLifetime
{
    /// <summary>The longest an entry is fresh: 365 days. A longer <c>validFor</c> is clamped to it.</summary>
    public static readonly TimeSpan MaxFresh = TimeSpan.FromDays(365);

    /// <summary>
    /// The longest grace: 30 days, the upper bound of <see cref="MintCacheOptions.Grace"/> and <c>.Grace()</c>;
    /// within the 4-byte milliseconds (about 49.7 days) the Redis entry format stores it in.
    /// </summary>
    public static readonly TimeSpan MaxGrace = TimeSpan.FromDays(30);

    /// <summary>The longest fail-safe: 30 days, the upper bound of <see cref="MintCacheOptions.FailSafe"/>.</summary>
    public static readonly TimeSpan MaxFailSafe = TimeSpan.FromDays(30);

    public EntryLifetime(TimeSpan fresh, TimeSpan grace, TimeSpan failSafe = default, double? eagerRefresh = null)
    {
        Debug.Assert(fresh > TimeSpan.Zero, "An entry must be fresh for some time.");
        Debug.Assert(grace >= TimeSpan.Zero, "Grace is never negative.");
        Debug.Assert(failSafe >= TimeSpan.Zero, "The fail-safe is never negative.");
        Fresh = Clamp(fresh, MaxFresh);
        Grace = Clamp(grace, MaxGrace);
        FailSafe = Clamp(failSafe, MaxFailSafe);
        EagerAfter = eagerRefresh is > 0 and < 1 ? TimeSpan.FromTicks((long)(Fresh.Ticks * eagerRefresh.Value)) : TimeSpan.Zero;
    }

    /// <summary>How long the entry is served as is.</summary>
    public TimeSpan Fresh { get; }

    /// <summary>How long past <see cref="Fresh"/> the entry may be served stale.</summary>
    public TimeSpan Grace { get; }

    /// <summary>How far past its expiry failed regenerations may extend the entry; zero when the fail-safe is off.</summary>
    public TimeSpan FailSafe { get; }

    /// <summary>
    /// How long after the store a lookup may win a claim on the still fresh entry and refresh it early (eager refresh);
    /// zero when eager refresh is off.
    /// </summary>
    public TimeSpan EagerAfter { get; }

    /// <summary>How long the backend keeps the entry unless a failure extends it.</summary>
    public TimeSpan Total => Fresh + Grace;

    private static TimeSpan Clamp(TimeSpan duration, TimeSpan maximum)
        => duration < TimeSpan.Zero ? TimeSpan.Zero : duration > maximum ? maximum : duration;
}
