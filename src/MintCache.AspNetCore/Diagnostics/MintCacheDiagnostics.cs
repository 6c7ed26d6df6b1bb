using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Reflection;

namespace MintCache.AspNetCore;

/// <summary>
/// The names under which MintCache reports metrics (<see cref="Meter"/>) and traces (<see cref="ActivitySource"/>),
/// for the <c>AddMeter</c> / <c>AddSource</c> calls of an OpenTelemetry setup or for a <c>MeterListener</c>.
/// </summary>
/// <remarks>
/// Every instrument carries the tag <see cref="BackendTag"/> (<c>memory</c> or <c>redis</c>) and, where listed, one more
/// tag from a small fixed set. No instrument is ever tagged with a cache key, a tag or a path: each distinct value would
/// be a time series of its own. Measurements cost nothing but an <c>Enabled</c> check while nobody listens.
/// </remarks>
public static class MintCacheDiagnostics
{
    /// <summary>The name of MintCache's <see cref="Meter"/>.</summary>
    public const string MeterName = "MintCache.AspNetCore";

    /// <summary>The name of MintCache's <see cref="ActivitySource"/>.</summary>
    /// <remarks>
    /// Activities: <c>mintcache.backend.lookup</c>, <c>.store</c>, <c>.release</c> and <c>.evict</c> around each backend
    /// call (status Error with the exception when it fails), and <c>mintcache.regenerate</c> around each background
    /// regeneration, which runs outside any user's request and so roots its own trace.
    /// </remarks>
    public const string ActivitySourceName = "MintCache.AspNetCore";

    /// <summary>
    /// Counter <c>mintcache.lookups</c> (<c>{lookup}</c>): the store's answers to the output-cache middleware, tagged
    /// <see cref="ResultTag"/> = <c>fresh</c> (fresh page served), <c>stale</c> (stale page served while another
    /// regenerates it), <c>miss</c> (answered "miss" so that this request regenerates a stale page) or <c>expired</c>
    /// (nothing servable: never stored, evicted or past its expiry).
    /// </summary>
    /// <remarks>
    /// The middleware shares one lookup among concurrent requests of a key, so lookups can be fewer than requests.
    /// A lookup the backend failed is counted by <see cref="BackendErrorsInstrument"/>, not here.
    /// </remarks>
    public const string LookupsInstrument = "mintcache.lookups";

    /// <summary>
    /// Counter <c>mintcache.claims</c> (<c>{claim}</c>): lookups of a stale page, tagged <see cref="ResultTag"/> =
    /// <c>won</c> (this lookup took the refresh claim) or <c>lost</c> (another holder has it).
    /// </summary>
    public const string ClaimsInstrument = "mintcache.claims";

    /// <summary>
    /// Counter <c>mintcache.regenerations</c> (<c>{regeneration}</c>): how regenerations under a won claim ended, tagged
    /// <see cref="OutcomeTag"/> = <c>stored</c> (the new page was stored), <c>failed</c> (it ended without a store: an
    /// exception, an uncached status, an aborted client) or <c>lapsed</c> (the claim ran out first; a late page is
    /// refused by the fence).
    /// </summary>
    public const string RegenerationsInstrument = "mintcache.regenerations";

    /// <summary>Counter <c>mintcache.regenerations.background</c> (<c>{regeneration}</c>): background regenerations started.</summary>
    public const string BackgroundRegenerationsInstrument = "mintcache.regenerations.background";

    /// <summary>
    /// Counter <c>mintcache.backend.errors</c> (<c>{error}</c>): backend calls that failed and were absorbed (the request
    /// went on as a miss, or was not cached), tagged <see cref="OperationTag"/> = <c>lookup</c>, <c>store</c>,
    /// <c>release</c> or <c>evict</c>. Cancellations by the caller are not errors.
    /// </summary>
    public const string BackendErrorsInstrument = "mintcache.backend.errors";

    /// <summary>
    /// Counter <c>mintcache.backend.fallbacks</c> (<c>{fallback}</c>): times a process switched from a shared backend
    /// to its local in-memory fallback because the shared one was unreachable.
    /// </summary>
    public const string FallbacksInstrument = "mintcache.backend.fallbacks";

    /// <summary>
    /// Histogram <c>mintcache.backend.duration</c> (<c>ms</c>): how long each backend call took, tagged
    /// <see cref="OperationTag"/>.
    /// </summary>
    public const string BackendDurationInstrument = "mintcache.backend.duration";

    /// <summary>Tag <c>mintcache.backend</c>: the backend's short name, <c>memory</c> or <c>redis</c>.</summary>
    public const string BackendTag = "mintcache.backend";

    /// <summary>Tag <c>mintcache.result</c>: a lookup's answer, or whether a claim was won.</summary>
    public const string ResultTag = "mintcache.result";

    /// <summary>Tag <c>mintcache.outcome</c>: how a regeneration ended.</summary>
    public const string OutcomeTag = "mintcache.outcome";

    /// <summary>Tag <c>mintcache.operation</c>: which backend call (<c>lookup</c>, <c>store</c>, <c>release</c>, <c>evict</c>).</summary>
    public const string OperationTag = "mintcache.operation";

    // The package's own version, so that a dashboard can tell releases apart without a hand-kept constant.
    private static readonly string? Version = typeof(MintCacheDiagnostics).Assembly
        .GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion;

    internal static readonly Meter Meter = new(MeterName, Version);

    internal static readonly ActivitySource ActivitySource = new(ActivitySourceName, Version);
}
