using System.ComponentModel.DataAnnotations;
using System.Diagnostics.CodeAnalysis;
using StackExchange.Redis;

namespace MintCache.AspNetCore;

/// <summary>
/// Options of MintCache's Redis backend (<see cref="MintCacheOptions.Redis"/>), bound from the <c>"MintCache:Redis"</c>
/// configuration section. Redis is used when <see cref="Configuration"/> or <see cref="ConnectionMultiplexerFactory"/>
/// is set; otherwise pages stay in process memory and these options do nothing.
/// </summary>
[UnconditionalSuppressMessage("Trimming", "IL2026", Justification = "The generated MintCacheOptionsValidator parses the TimeSpan ranges itself; "
    + "reflection-based DataAnnotations validation keeps TimeSpan's converter, which is built in.")]
public sealed class MintRedisOptions
{
    /// <summary>
    /// Gets or sets the StackExchange.Redis configuration string of the Redis that the processes of a farm share,
    /// for example <c>"redis1:6379,password=...,ssl=true"</c>.
    /// </summary>
    /// <value>The default value is <see langword="null"/>: with no Redis configured, entries stay in process memory.</value>
    /// <remarks>
    /// MintCache creates one multiplexer from it, with <c>abortConnect=false</c> so the application starts while Redis
    /// is down, and disposes it with the application. The password never appears in MintCache's logs.
    /// </remarks>
    public string? Configuration { get; set; }

    /// <summary>
    /// Gets or sets a factory that returns a multiplexer the application owns, in place of <see cref="Configuration"/>;
    /// it is given the application's services, so
    /// <c>sp =&gt; Task.FromResult(sp.GetRequiredService&lt;IConnectionMultiplexer&gt;())</c> uses the one registered in
    /// dependency injection.
    /// </summary>
    /// <value>The default value is <see langword="null"/>. Code only: configuration cannot set it.</value>
    /// <remarks>MintCache never disposes a multiplexer the factory returns. It is called once, on first use.</remarks>
    public Func<IServiceProvider, Task<IConnectionMultiplexer>>? ConnectionMultiplexerFactory { get; set; }

    /// <summary>
    /// Gets or sets the prefix of every key the store writes to Redis, which keeps applications sharing one Redis apart.
    /// </summary>
    /// <value>The default value is <c>"mint:"</c>. It must not be empty, nor hold <c>{</c> or <c>}</c>.</value>
    /// <remarks>MintCache puts each cache key in its own hash tag: a brace in the prefix would put every key on one Redis Cluster slot.</remarks>
    [Required(AllowEmptyStrings = false)]
    public string KeyPrefix { get; set; } = MintCacheConstants.DefaultKeyPrefix;

    /// <summary>Gets or sets how long one Redis call, connecting included, may take before it counts as failed and is answered locally.</summary>
    /// <value>The default value is 500 milliseconds. Valid values are between 10 milliseconds and 1 minute.</value>
    /// <remarks>
    /// A lookup is shared by the concurrent requests of a key, so this bounds how long they wait on a Redis that hangs
    /// before they are answered from the local in-memory cache.
    /// </remarks>
    [Range(typeof(TimeSpan), "00:00:00.010", "00:01:00")]
    public TimeSpan OperationTimeout { get; set; } = MintCacheConstants.DefaultRedisOperationTimeout;

    /// <summary>Gets or sets how long the circuit breaker around Redis calls stays open, at most, once it has opened.</summary>
    /// <value>The default value is 5 seconds. Valid values are between 500 milliseconds and 1 hour.</value>
    /// <remarks>
    /// From a process's first failed Redis call, every call is answered from the local in-memory cache, and a return
    /// probe asks Redis at once and then every 500 milliseconds. The first probe Redis answers closes the breaker and
    /// brings the process back, usually long before this runs out; its running out alone brings nothing back.
    /// </remarks>
    [Range(typeof(TimeSpan), "00:00:00.500", "01:00:00")]
    public TimeSpan BreakDuration { get; set; } = MintCacheConstants.DefaultRedisBreakDuration;

    /// <summary>
    /// Gets or sets how long a lookup that finds a page absent everywhere, while another process of the farm already
    /// renders it, waits for that page before running the endpoint itself. <see cref="TimeSpan.Zero"/> never waits.
    /// </summary>
    /// <value>
    /// The default value is 10 seconds (the default <see cref="MintCacheOptions.LeaseDuration"/>). Valid values are
    /// between 0 and 5 minutes.
    /// </value>
    /// <remarks>
    /// On a cold miss (first start, after a hard eviction or an expiry) the first lookup farm-wide takes the refresh
    /// claim and renders the page; lookups on the other processes wait for a Redis notification that the page was
    /// stored, then are served it, so a farm renders a cold page once instead of once per process. When the page has
    /// not come within this bound, the request looks up once more and then runs the endpoint itself. A process
    /// answering from its local fallback (Redis unreachable) never waits. Set it near
    /// <see cref="MintCacheOptions.LeaseDuration"/>: past the lease another process may take over the claim anyway.
    /// </remarks>
    [Range(typeof(TimeSpan), "00:00:00", "00:05:00")]
    public TimeSpan ColdMissWait { get; set; } = MintCacheConstants.DefaultColdMissWait;

    /// <summary>
    /// Gets or sets whether each process keeps an in-process copy of the fresh Redis entries it reads (a near cache),
    /// so that fresh hits are served without a Redis round trip.
    /// </summary>
    /// <value>The default value is <see langword="true"/>.</value>
    /// <remarks>
    /// Only fresh pages are served from the near cache, and never past the stale-at the Redis server computed:
    /// stale decisions and refresh claims always go through Redis. A store, a release of a claim or a tag eviction on
    /// any process invalidates the near copies on every process through Redis pub/sub, and a process whose
    /// subscription drops clears its near cache and stops using it until it is subscribed again. A process may still
    /// serve a superseded page for about the time the notification takes to arrive (see <c>docs/redis.md</c>).
    /// </remarks>
    public bool NearCache { get; set; } = true;

    /// <summary>Gets or sets how many bytes of pages (and their keys) the near cache of one process may hold.</summary>
    /// <value>The default value is 64 MiB. Valid values are between 1 KiB and 16 GiB.</value>
    /// <remarks>
    /// When an insertion would pass it, the copies closest to their stale-at are dropped first; a page larger than
    /// the limit on its own is never kept near.
    /// </remarks>
    [Range(typeof(long), "1024", "17179869184")]
    public long NearCacheSizeLimit { get; set; } = MintCacheConstants.DefaultNearCacheSizeLimit;

    /// <summary>
    /// Gets or sets the size from which a page is stored compressed in Redis; <see langword="null"/> stores every page as
    /// it is.
    /// </summary>
    /// <value>The default value is 1024 bytes. Valid values are 0 and above, or <see langword="null"/>.</value>
    /// <remarks>
    /// A page that does not shrink is stored as it is. A page is decompressed once when a process reads it from Redis,
    /// and the near cache keeps it decompressed, so its fresh hits cost nothing more. Values written with and without
    /// compression are read alike, so the setting may differ between the processes of a farm and change at any time.
    /// </remarks>
    [Range(0, int.MaxValue)]
    public int? CompressionThreshold { get; set; } = MintCacheConstants.DefaultCompressionThreshold;

    /// <summary>
    /// Gets or sets whether compressed pages share the farm's dictionary (Zstandard), made from the first pages the farm
    /// compresses; <see langword="false"/> compresses each page alone (Brotli).
    /// </summary>
    /// <value>The default value is <see langword="true"/>.</value>
    /// <remarks>
    /// Pages of one site share most of their markup, which a dictionary holds once instead of in every page: on 8 KiB
    /// product pages, it halves what Brotli alone stores. The dictionary is kept in Redis without expiry, under
    /// <c>{KeyPrefix}dict</c> and <c>{KeyPrefix}dict:{id}</c>; its content is the bytes of the first four pages
    /// compressed, so turn it off when a page that must not outlive its expiry may be cached. Until the farm has a
    /// dictionary, and for pages it does not help, Brotli is used. Values written either way are read alike.
    /// </remarks>
    public bool CompressionDictionary { get; set; } = true;

    /// <summary>
    /// Gets or sets whether, on a standalone server, pages are stored by <c>WATCH</c>/<c>MULTI</c>/<c>EXEC</c>
    /// transactions on connections of MintCache's own instead of by a Lua script.
    /// </summary>
    /// <value>The default value is <see langword="true"/>.</value>
    /// <remarks>
    /// The same fence decides either way (a purged page is never stored back). A transaction costs Redis a fraction of
    /// the script's time, at the price of a second round trip, up to 16 more connections per process and the
    /// application CPU of their own connections (see <c>docs/redis.md</c>). They are opened
    /// with the credentials, TLS settings and database of the multiplexer's configuration string; where one cannot be
    /// opened (a certificate callback or a credential given in code), stores run as scripts and a warning says why.
    /// A cluster, a proxy and a store whose transaction a concurrent change interrupts always use the script.
    /// </remarks>
    public bool StoreTransactions { get; set; } = true;

    /// <summary>The share of failed calls, over the breaker's sampling window, that opens the Polly circuit breaker.</summary>
    /// <remarks>
    /// Not public: the first failed call already sends a process to its local fallback (see <see cref="BreakDuration"/>),
    /// so the breaker's own thresholds change nothing a user sees. Tests lower them to open the breaker sooner.
    /// </remarks>
    internal double FailureRatio { get; set; } = MintCacheConstants.DefaultRedisFailureRatio;

    /// <summary>How many calls, over the breaker's sampling window, the Polly circuit breaker needs before it may open.</summary>
    /// <remarks>Not public, as <see cref="FailureRatio"/>.</remarks>
    internal int MinimumThroughput { get; set; } = MintCacheConstants.DefaultRedisMinimumThroughput;

    /// <summary>
    /// Whether configuration held a plain value at <c>MintCache:Redis</c>, where the section of these options belongs:
    /// the connection string goes to <c>MintCache:Redis:Configuration</c>.
    /// </summary>
    internal bool PlainValueInConfiguration { get; set; }

    /// <summary>Whether a Redis backend is configured, by either way.</summary>
    internal bool IsConfigured => !string.IsNullOrWhiteSpace(Configuration) || ConnectionMultiplexerFactory is not null;
}
