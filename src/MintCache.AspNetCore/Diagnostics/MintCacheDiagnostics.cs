using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Reflection;

namespace MintCache.AspNetCore;

/// <summary>
/// The names under which MintCache reports metrics (meter <see cref="MeterName"/>) and traces (activity source
/// <see cref="ActivitySourceName"/>), for the <c>AddMeter</c> / <c>AddSource</c> calls of an OpenTelemetry setup or
/// for a <c>MeterListener</c>: every instrument, attribute and activity name MintCache uses is a constant here.
/// </summary>
/// <remarks>
/// <para>
/// The meter is created through the host's <see cref="IMeterFactory"/>, so two hosts in one process (tests, several
/// apps) report apart: a listener tells them apart by <see cref="Instrument.Meter"/>'s <see cref="Meter.Scope"/>,
/// which is the host's factory. Names follow OpenTelemetry's conventions: durations in seconds, no instrument name
/// that is also the prefix of another's, and variants (result, outcome, mode, kind) as attributes.
/// </para>
/// <para>
/// Every instrument carries the attribute <see cref="BackendTag"/> (<c>memory</c> or <c>redis</c>) and, where listed,
/// more attributes from small fixed sets. No instrument is ever tagged with a cache key, a tag or a path: each distinct
/// value would be a time series of its own. Measurements cost nothing but an <c>Enabled</c> check while nobody listens.
/// </para>
/// </remarks>
public static class MintCacheDiagnostics
{
    /// <summary>The name of MintCache's <see cref="Meter"/>: <c>MintCache.AspNetCore</c>.</summary>
    public const string MeterName = "MintCache.AspNetCore";

    /// <summary>The name of MintCache's <see cref="System.Diagnostics.ActivitySource"/>: <c>MintCache.AspNetCore</c>.</summary>
    /// <remarks>
    /// Activities: <see cref="BackendLookupActivity"/>, <see cref="BackendStoreActivity"/>,
    /// <see cref="BackendReleaseActivity"/> and <see cref="BackendEvictActivity"/> around each backend call (kind
    /// <see cref="ActivityKind.Client"/> for Redis, <see cref="ActivityKind.Internal"/> for the in-process memory
    /// backend; status Error with the exception when it fails), and <see cref="RegenerateActivity"/> around each
    /// background regeneration, which runs outside any user's request and so roots its own trace.
    /// </remarks>
    public const string ActivitySourceName = "MintCache.AspNetCore";

    /// <summary>
    /// Counter <c>mintcache.lookups</c> (<c>{lookup}</c>): the store's answers to the output-cache middleware, with
    /// <see cref="ResultTag"/> = <c>hit</c> (a page was served) or <c>miss</c> (the request runs the endpoint), and
    /// <see cref="EntryStateTag"/> = the state of the entry the lookup found: <c>hit</c> with <c>fresh</c> or
    /// <c>stale</c> (served stale while a refresh runs elsewhere or in the background); <c>miss</c> with <c>stale</c>
    /// (this request won the claim and refreshes the page) or <c>absent</c> (nothing servable: never stored, evicted
    /// or past its expiry).
    /// </summary>
    /// <remarks>
    /// The middleware shares one lookup among concurrent requests of a key, so lookups can be fewer than requests.
    /// A lookup the backend failed is counted by <see cref="BackendErrorsInstrument"/>, not here.
    /// </remarks>
    public const string LookupsInstrument = "mintcache.lookups";

    /// <summary>
    /// Observable counter <c>mintcache.near_cache.hits</c> (<c>{hit}</c>): lookups of the Redis backend answered
    /// from its near cache, without a round trip. They are also counted by <see cref="LookupsInstrument"/> as
    /// <c>hit</c>, <c>fresh</c>; this counts them apart, so <c>near_cache.hits / lookups{hit,fresh}</c> is the near
    /// cache's share.
    /// </summary>
    public const string NearCacheHitsInstrument = "mintcache.near_cache.hits";

    /// <summary>
    /// Counter <c>mintcache.claims</c> (<c>{claim}</c>): lookups of a stale page, with <see cref="ResultTag"/> =
    /// <c>won</c> (this lookup took the refresh claim), <c>lost</c> (another holder has it) or <c>deferred</c> (on
    /// Redis, the claim was free but every background slot of this process busy, so it was left for a lookup that
    /// finds one).
    /// </summary>
    public const string ClaimsInstrument = "mintcache.claims";

    /// <summary>
    /// Counter <c>mintcache.regenerations.started</c> (<c>{regeneration}</c>): regenerations under a won claim as they
    /// start, with <see cref="RefreshModeTag"/> = <c>foreground</c> (a user's request renders the page),
    /// <c>background</c> (a copy of that request renders it and everyone is served stale) or <c>eager</c> (a copy
    /// refreshes a page that is still fresh, past its eager refresh threshold).
    /// </summary>
    public const string RegenerationsStartedInstrument = "mintcache.regenerations.started";

    /// <summary>
    /// Counter <c>mintcache.regenerations.ended</c> (<c>{regeneration}</c>): how regenerations ended, with
    /// <see cref="OutcomeTag"/> = <c>stored</c> (the new page was stored), <c>failed</c> (it ended without a store: an
    /// exception, an uncached status, an aborted client), <c>lapsed</c> (the claim ran out first) or <c>refused</c> (the
    /// page came too late: a newer page or an eviction won, so the store refused it).
    /// </summary>
    public const string RegenerationsEndedInstrument = "mintcache.regenerations.ended";

    /// <summary>
    /// Counter <c>mintcache.backend.errors</c> (<c>{error}</c>): backend calls that failed and were absorbed (the request
    /// went on as a miss, or was not cached), with <see cref="OperationTag"/> = <c>lookup</c>, <c>store</c>,
    /// <c>release</c> or <c>evict</c>. Cancellations by the caller are not errors.
    /// </summary>
    public const string BackendErrorsInstrument = "mintcache.backend.errors";

    /// <summary>
    /// Counter <c>mintcache.backend.fallbacks</c> (<c>{fallback}</c>): times a process switched from a shared backend
    /// to its local in-memory fallback because the shared one was unreachable.
    /// </summary>
    public const string FallbacksInstrument = "mintcache.backend.fallbacks";

    /// <summary>
    /// Histogram <c>mintcache.backend.duration</c> (<c>s</c>): how long each backend call took, in seconds, with
    /// <see cref="OperationTag"/>. The memory backend's lookups, which take nanoseconds on the hit path, are not timed.
    /// </summary>
    public const string BackendDurationInstrument = "mintcache.backend.duration";

    /// <summary>
    /// Observable up-down counter <c>mintcache.entries</c> (<c>{entry}</c>): the entries held in this process, with
    /// <see cref="KindTag"/> = <c>page</c> (the memory backend's pages), <c>near</c> (the Redis backend's near copies)
    /// or <c>fallback</c> (the Redis backend's local pages, stored while Redis was unreachable).
    /// </summary>
    public const string EntriesInstrument = "mintcache.entries";

    /// <summary>
    /// Observable up-down counter <c>mintcache.size</c> (<c>By</c>): the bytes those entries account for against their
    /// limit (<c>OutputCacheOptions.SizeLimit</c>, <c>MintRedisOptions.NearCacheSizeLimit</c>), with <see cref="KindTag"/>.
    /// </summary>
    public const string SizeInstrument = "mintcache.size";

    /// <summary>Attribute <c>mintcache.backend</c>: the backend's short name, <c>memory</c> or <c>redis</c>.</summary>
    public const string BackendTag = "mintcache.backend";

    /// <summary>
    /// Attribute <c>mintcache.result</c>: a lookup's answer (<c>hit</c> or <c>miss</c>, as OpenTelemetry's cache
    /// conventions name them), or whether a claim was won (<c>won</c> or <c>lost</c>).
    /// </summary>
    public const string ResultTag = "mintcache.result";

    /// <summary>Attribute <c>mintcache.entry.state</c>: the state of the entry a lookup found, <c>fresh</c>, <c>stale</c> or <c>absent</c>.</summary>
    public const string EntryStateTag = "mintcache.entry.state";

    /// <summary>Attribute <c>mintcache.outcome</c>: how a regeneration ended.</summary>
    public const string OutcomeTag = "mintcache.outcome";

    /// <summary>Attribute <c>mintcache.refresh_mode</c>: who regenerates and when, <c>foreground</c>, <c>background</c> or <c>eager</c>.</summary>
    public const string RefreshModeTag = "mintcache.refresh_mode";

    /// <summary>Attribute <c>mintcache.kind</c>: which entries a size or count is of, <c>page</c>, <c>near</c> or <c>fallback</c>.</summary>
    public const string KindTag = "mintcache.kind";

    /// <summary>Attribute <c>mintcache.operation</c>: which backend call (<c>lookup</c>, <c>store</c>, <c>release</c>, <c>evict</c>).</summary>
    public const string OperationTag = "mintcache.operation";

    /// <summary>Activity <c>mintcache.backend.lookup</c>: one backend lookup.</summary>
    public const string BackendLookupActivity = "mintcache.backend.lookup";

    /// <summary>Activity <c>mintcache.backend.store</c>: one backend store.</summary>
    public const string BackendStoreActivity = "mintcache.backend.store";

    /// <summary>Activity <c>mintcache.backend.release</c>: one release of a refresh claim.</summary>
    public const string BackendReleaseActivity = "mintcache.backend.release";

    /// <summary>Activity <c>mintcache.backend.evict</c>: one eviction (or soft eviction) by tag.</summary>
    public const string BackendEvictActivity = "mintcache.backend.evict";

    /// <summary>Activity <c>mintcache.regenerate</c>: one background regeneration, the root of its own trace.</summary>
    public const string RegenerateActivity = "mintcache.regenerate";

    // The package's own version, so that a dashboard can tell releases apart without a hand-kept constant.
    internal static readonly string? Version = typeof(MintCacheDiagnostics).Assembly
        .GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion;

    // Activity sources have no factory; sampling is decided per listener, so one per process is right.
    internal static readonly ActivitySource ActivitySource = new(ActivitySourceName, Version);
}
