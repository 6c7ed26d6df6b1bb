using System.ComponentModel.DataAnnotations;
using System.Diagnostics.CodeAnalysis;
using Microsoft.Extensions.Options;

namespace MintCache.AspNetCore;

/// <summary>
/// Options of the MintCache output-cache store, bound from the <c>"MintCache"</c> configuration section
/// when one exists and validated when the host starts.
/// </summary>
/// <remarks>
/// An entry is <em>fresh</em> for the <c>validFor</c> that the output-cache policy gives it
/// (<c>Expire(...)</c>, <c>[OutputCache(Duration = ...)]</c> or <c>OutputCacheOptions.DefaultExpirationTimeSpan</c>),
/// then <em>stale but servable</em> for <see cref="Grace"/>: the first lookup of a stale entry regenerates it while
/// every other lookup is answered with the stale page. Past grace the entry is gone.
/// </remarks>
[UnconditionalSuppressMessage("Trimming", "IL2026", Justification = "The generated MintCacheOptionsValidator parses the TimeSpan ranges itself; "
    + "reflection-based DataAnnotations validation keeps TimeSpan's converter, which is built in.")]
public sealed class MintCacheOptions
{
    /// <summary>The configuration section that <c>AddMintStore</c> binds when it exists.</summary>
    public const string SectionName = "MintCache";

    /// <summary>
    /// Gets or sets how long past its freshness a stale page may still be served while one request regenerates it.
    /// </summary>
    /// <value>The default value is 30 seconds. Valid values are between 1 millisecond and 30 days.</value>
    /// <remarks>
    /// A policy can override it for its endpoints with <c>.Grace(TimeSpan)</c>, within the same range. The bound keeps
    /// the grace within the 4-byte milliseconds (about 49.7 days) the Redis entry stores it in.
    /// </remarks>
    [Range(typeof(TimeSpan), "00:00:00.001", "30.00:00:00")]
    public TimeSpan Grace { get; set; } = MintCacheConstants.DefaultGrace;

    /// <summary>
    /// Gets or sets how long a refresh claim lives without its holder.
    /// </summary>
    /// <value>The default value is 10 seconds. Valid values are between 100 milliseconds and 5 minutes.</value>
    /// <remarks>
    /// The request that wins the claim regenerates the page; while the claim lives, every other lookup of the stale
    /// entry is answered with the stale page. While that request (or background regeneration) runs, its process renews
    /// the claim every third of this duration, up to <see cref="RegenerationTimeout"/>, so a regeneration slower than
    /// the lease is not run a second time. If the holder dies (its process stops or is paused) the claim lapses after
    /// this long and the next lookup takes over; if it ends without storing (the endpoint threw, answered a status
    /// that is not cached, the client went away), after <see cref="FailureBackoff"/>.
    /// </remarks>
    [Range(typeof(TimeSpan), "00:00:00.100", "00:05:00")]
    public TimeSpan LeaseDuration { get; set; } = MintCacheConstants.DefaultLeaseDuration;

    /// <summary>
    /// Gets or sets how long the stale page keeps being served, without a new regeneration attempt, after the store
    /// learned that a regeneration ended without storing a response.
    /// </summary>
    /// <value>The default value is 2 seconds. Valid values are between 0 and <see cref="LeaseDuration"/>.</value>
    /// <remarks>
    /// The store learns it when the claiming request completes without a store (an exception, a 500, an aborted
    /// client). Then the claim is shortened to this value instead of living out the full <see cref="LeaseDuration"/>,
    /// so a failing origin is retried by one request every <see cref="FailureBackoff"/>, not by every request.
    /// </remarks>
    [Range(typeof(TimeSpan), "00:00:00", "00:05:00")]
    public TimeSpan FailureBackoff { get; set; } = MintCacheConstants.DefaultFailureBackoff;

    /// <summary>
    /// Gets or sets who regenerates a stale page: an in-memory copy of the first request past stale-at, run in the
    /// background while everyone, that request included, is served the stale page (<see cref="RefreshMode.Background"/>),
    /// or that request itself, which waits for the fresh page (<see cref="RefreshMode.Foreground"/>).
    /// </summary>
    /// <value>The default value is <see cref="RefreshMode.Background"/>: nobody waits for a stale page's refresh.</value>
    /// <remarks>A policy can choose for its endpoints with <c>.Refresh(RefreshMode)</c>.</remarks>
    public RefreshMode RefreshMode { get; set; } = RefreshMode.Background;

    /// <summary>
    /// Gets or sets how far into its freshness a page is refreshed early: once a page has been fresh for this share of
    /// its freshness, the next lookup wins a claim and refreshes it in the background while everyone, that request
    /// included, is still served the fresh page. FusionCache calls this an eager refresh.
    /// </summary>
    /// <value>The default value is <see langword="null"/> (off). Valid values are greater than 0 and less than 1.</value>
    /// <remarks>
    /// One refresh per freshness period, farm-wide, through the same claims and bounds as a stale page's refresh; a
    /// page that gets no traffic is not refreshed. When the refresh cannot start (no free slot, a stopping host), the
    /// claim is given back and the page refreshes when it goes stale, as without this option. Per policy:
    /// <c>.EagerRefresh(double)</c>.
    /// </remarks>
    public double? EagerRefreshThreshold { get; set; }

    /// <summary>
    /// Gets or sets how many background regenerations one process runs at once. When none is free, the request that
    /// won a stale page's claim regenerates it in the foreground, as in <see cref="RefreshMode.Foreground"/>; on Redis,
    /// a lookup that finds none free does not claim the stale page at all: it is served stale, and a lookup that finds
    /// a free slot (in any process) refreshes it. On either backend, a page past its eager refresh threshold is not
    /// claimed while none is free.
    /// </summary>
    /// <value>The default value is 4. Valid values are between 1 and 1024.</value>
    [Range(1, 1024)]
    public int MaxConcurrentRegenerations { get; set; } = MintCacheConstants.DefaultMaxConcurrentRegenerations;

    /// <summary>
    /// Gets or sets how long a background regeneration may run before it is cancelled and counted as failed, and how
    /// long any regeneration's claim is renewed.
    /// </summary>
    /// <value>The default value is 30 seconds. Valid values are between 100 milliseconds and 10 minutes.</value>
    /// <remarks>
    /// Past it, a foreground regeneration still runs but its claim is no longer renewed: it lapses one
    /// <see cref="LeaseDuration"/> later and another request may take over (the late page is then refused). Under a
    /// <see cref="FailSafe"/>, a page whose claim is won stays in service for at least this plus
    /// <see cref="FailureBackoff"/>.
    /// </remarks>
    [Range(typeof(TimeSpan), "00:00:00.100", "00:10:00")]
    public TimeSpan RegenerationTimeout { get; set; } = MintCacheConstants.DefaultRegenerationTimeout;

    /// <summary>
    /// Gets or sets how far past its expiry an entry may live on while its regenerations keep failing
    /// (stale-if-error). <see langword="null"/> turns the fail-safe off.
    /// </summary>
    /// <value>
    /// The default value is <see langword="null"/> (off). Valid values are between 1 second and 30 days, and at least
    /// <see cref="RegenerationTimeout"/> + <see cref="FailureBackoff"/>.
    /// </value>
    /// <remarks>
    /// Each failed regeneration gives the stale page another <see cref="Grace"/> of life, up to this much past the
    /// expiry it was stored with, so an origin outage does not empty the cache. <b>WARNING:</b> while it applies,
    /// pages older than fresh + grace are served; responses still carry a truthful <c>Age</c>.
    /// </remarks>
    [Range(typeof(TimeSpan), "00:00:01", "30.00:00:00")]
    public TimeSpan? FailSafe { get; set; }

    /// <summary>
    /// Gets or sets whether a response's own <c>Cache-Control: stale-while-revalidate=N</c> and <c>stale-if-error=N</c>
    /// (RFC 5861) set the grace and the fail-safe of the page it stores, over the policy's and these options'.
    /// </summary>
    /// <value>The default value is <see langword="true"/>, as in Varnish and nginx.</value>
    /// <remarks>
    /// <c>stale-while-revalidate=N</c>: the page may be served stale for N seconds past its freshness while one request
    /// regenerates it. <c>stale-if-error=N</c>: while its regenerations fail, the page stays in service up to N seconds
    /// past that. Values are whole seconds, capped at 30 days; a malformed or negative one is ignored (Debug log,
    /// <c>StaleDirectiveIgnored</c>). In the foreground mode the one request that regenerates the page sees its own
    /// error; everyone else keeps being served the stale page.
    /// </remarks>
    public bool HonorResponseStaleDirectives { get; set; } = true;

    /// <summary>
    /// Gets or sets whether responses of cached endpoints carry a <c>Cache-Status</c> header (RFC 9211) saying how
    /// MintCache answered them.
    /// </summary>
    /// <value>The default value is <see langword="false"/>.</value>
    /// <remarks>
    /// Values: <c>MintCache; hit; ttl=3</c> (served from the cache, 3 s of freshness left), <c>MintCache; hit; ttl=-2</c>
    /// (served stale, 2 s past its freshness, while another request regenerates it), <c>MintCache; fwd=stale</c> (this
    /// request regenerates a stale page), <c>MintCache; fwd=miss</c> (nothing cached), <c>MintCache; fwd=bypass</c>
    /// (a policy turned the lookup off). <c>ttl</c> is the policy's expiration minus the response's <c>Age</c>.
    /// The header is added as the response starts, after the page was captured for the cache, so it is never stored.
    /// It tells clients how the cache behaves: leave it off where that should stay private.
    /// </remarks>
    public bool CacheStatusHeader { get; set; }

    /// <summary>
    /// Gets or sets the response header whose space-separated values become tags of the stored page, in addition to
    /// the policy's, as Fastly's <c>Surrogate-Key</c> and Varnish's <c>xkey</c> do. <see langword="null"/> or empty
    /// turns it off.
    /// </summary>
    /// <value>The default value is <c>"Surrogate-Key"</c>.</value>
    /// <remarks>
    /// <para>
    /// The endpoint tags the page from the data it rendered (<c>Response.Headers["Surrogate-Key"] = "product-7 list"</c>),
    /// and <c>EvictByTagAsync("product-7")</c> evicts it, on every backend and in every refresh mode. A response adds at
    /// most 32 tags of at most 128 characters each; a longer tag, a tag past the 32nd, and a tag that starts with or
    /// holds a control character (MintCache's reserved tags do) are ignored and logged (Warning,
    /// <c>ResponseTagsIgnored</c>), never thrown.
    /// </para>
    /// <para>
    /// The header reaches clients as the endpoint wrote it, from fresh and cached responses alike, so a CDN in front
    /// can purge by the same tags (Fastly strips <c>Surrogate-Key</c> itself). Set <see cref="StripResponseTagHeader"/>
    /// when nothing in front needs it.
    /// </para>
    /// </remarks>
    public string? ResponseTagHeader { get; set; } = MintCacheConstants.DefaultResponseTagHeader;

    /// <summary>
    /// Gets or sets whether the <see cref="ResponseTagHeader"/> is removed from every response the application sends,
    /// fresh or from the cache, after its tags were read.
    /// </summary>
    /// <value>The default value is <see langword="false"/>: the header reaches clients, and a CDN in front, as written.</value>
    /// <remarks>Tags may name the application's data (<c>product-7</c>): strip them when no CDN purges by them.</remarks>
    public bool StripResponseTagHeader { get; set; }

    /// <summary>
    /// Gets or sets whether every stored page is indexed by its request path, so that
    /// <see cref="IMintCache.EvictByPathAsync"/> and <see cref="IMintCache.MarkStaleByPathAsync"/> can purge every
    /// variant of a path.
    /// </summary>
    /// <value>The default value is <see langword="false"/>.</value>
    /// <remarks>
    /// The path is indexed as a tag that only MintCache writes, so it costs what one more tag costs on every store
    /// (with Redis, one more script call on a tag's set, pipelined with the page's other tags).
    /// </remarks>
    public bool TrackPaths { get; set; }

    /// <summary>
    /// Gets the options of the Redis backend, bound from the <c>"MintCache:Redis"</c> configuration section. Redis is
    /// used when <see cref="MintRedisOptions.Configuration"/> or <see cref="MintRedisOptions.ConnectionMultiplexerFactory"/>
    /// is set; otherwise pages stay in process memory.
    /// </summary>
    /// <value>Never <see langword="null"/>; every Redis-only option is here.</value>
    [ValidateObjectMembers]
    public MintRedisOptions Redis { get; } = new();

    /// <summary>Whether a Redis backend is configured by either way.</summary>
    internal bool UsesRedis => Redis.IsConfigured;
}
