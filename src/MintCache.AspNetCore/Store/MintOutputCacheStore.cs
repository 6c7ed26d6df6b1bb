using System.Buffers;
using System.IO.Pipelines;
using System.Runtime.CompilerServices;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.OutputCaching;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using MintCache.AspNetCore.Backends;
using MintCache.AspNetCore.Backends.Memory;
using MintCache.AspNetCore.Diagnostics;
using MintCache.AspNetCore.Entries;
using MintCache.AspNetCore.Policies;
using MintCache.AspNetCore.Refresh;

namespace MintCache.AspNetCore.Store;

/// <summary>
/// The <see cref="IOutputCacheStore"/> the middleware sees. It answers a stale entry's lookups with the stale page,
/// except the one lookup that won the refresh claim, which answers "miss" so that its request regenerates the page.
/// </summary>
/// <remarks>
/// Nothing here throws into a request: a failing backend is logged and answered as a miss (reads) or ignored
/// (writes), which fails open, never closed.
/// </remarks>
internal sealed partial class MintOutputCacheStore : IOutputCacheBufferStore, IMintCache
{
    private readonly InstrumentedBackend _backend;
    private readonly MintCacheOptions _options;
    private readonly TimeProvider _timeProvider;
    private readonly IHttpContextAccessor? _httpContextAccessor;
    private readonly BackgroundRegenerator? _regenerator;
    private readonly ILogger _logger;
    private readonly LookupObserver _observer;
    private readonly MemoryBackend? _memoryBackend;
    private readonly LocalClaimTable _claims = new();
    private readonly CancellationToken _stopping;
    private readonly bool _caseSensitivePaths;

    public MintOutputCacheStore(
        IMintBackend backend,
        IOptions<MintCacheOptions> options,
        TimeProvider timeProvider,
        ILogger<MintOutputCacheStore> logger,
        Metrics metrics,
        IHttpContextAccessor? httpContextAccessor = null,
        BackgroundRegenerator? regenerator = null,
        IHostApplicationLifetime? lifetime = null,
        IOptions<OutputCacheOptions>? outputCacheOptions = null)
    {
        // Once the host stops, claims are no longer renewed: they lapse after one lease and another host takes over.
        _stopping = lifetime?.ApplicationStopping ?? CancellationToken.None;
        _backend = InstrumentedBackend.Wrap(backend, metrics);
        metrics.Observe(backend);
        _memoryBackend = backend as MemoryBackend;
        _options = options.Value;
        _observer = new LookupObserver(backend.Name, metrics, _options.CacheStatusHeader ? httpContextAccessor : null);
        _timeProvider = timeProvider;
        _logger = logger;
        _httpContextAccessor = httpContextAccessor;
        _regenerator = regenerator;
        _caseSensitivePaths = outputCacheOptions?.Value.UseCaseSensitivePaths ?? false;
    }

    /// <remarks>
    /// The middleware shares this lookup among every request of the key that arrives while it runs, under the first
    /// request's <c>RequestAborted</c>: that client going away must not answer the others "miss". So the caller's token
    /// ends nothing here; the backend's operation timeout and <see cref="MintRedisOptions.ColdMissWait"/> bound the lookup.
    /// </remarks>
    public ValueTask<byte[]?> GetAsync(string key, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(key);
        cancellationToken = CancellationToken.None;
        if (key.Length == 0 || IsRegenerationLookup(key))
        {
            // Nothing to serve a regeneration's own lookup: it is there to run the endpoint.
            return default;
        }

        if (TryTakePendingMiss(key))
        {
            _observer.PendingMissTaken();
            return default;
        }

        if (_memoryBackend is { } memory)
        {
            // The hit path of the embedded backend: synchronous, so neither a ValueTask of the backend's answer nor
            // the timing wrapper (its lookups take nanoseconds); the observer still counts every answer.
            var answer = memory.Lookup(key, _options.LeaseDuration);
            return ValueTask.FromResult(_observer.Answered(answer, Answer(key, answer, completedSynchronously: true)));
        }

        ValueTask<BackendLookup> lookup;
        InstrumentedBackend.Call call;
        try
        {
            lookup = _backend.StartLookup(key, _options.LeaseDuration, cancellationToken, out call);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            Log.LookupFailed(_logger, _backend.Name, ex);
            return default;
        }

        if (lookup.IsCompletedSuccessfully)
        {
            var result = lookup.Result; // read once: a pooled ValueTask may not be read twice
            call.End();
            return result.ClaimedElsewhere
                ? AwaitLookupAsync(key, new ValueTask<BackendLookup>(result), default, cancellationToken)
                : ValueTask.FromResult(_observer.Answered(result, Answer(key, result, completedSynchronously: true)));
        }

        return AwaitLookupAsync(key, lookup, call, cancellationToken);
    }

    // Pooled: every lookup that misses the near cache awaits its backend here, and a new box per call would allocate
    // as much as the rest of a Redis hit (the backend's own hit path pools its waits: RedisBackend.FreshRead.cs).
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<byte[]?> AwaitLookupAsync(string key, ValueTask<BackendLookup> lookup, InstrumentedBackend.Call call, CancellationToken cancellationToken)
    {
        try
        {
            BackendLookup result;
            try
            {
                result = await lookup.ConfigureAwait(false);
            }
            catch (Exception ex) when (call.Fail(ex))
            {
                throw;
            }

            call.End();
            if (result.ClaimedElsewhere)
            {
                // Missing here, being rendered elsewhere in the farm: wait for it (MintOutputCacheStore.ColdMiss.cs).
                result = await WaitForColdEntryAsync(key, result, cancellationToken).ConfigureAwait(false);
            }

            return _observer.Answered(result, Answer(key, result, completedSynchronously: false));
        }
        catch (OperationCanceledException)
        {
            // The caller went away: not a backend failure.
            return null;
        }
        catch (Exception ex)
        {
            Log.LookupFailed(_logger, _backend.Name, ex);
            return null;
        }
    }

    /// <summary>
    /// Whether the lookup belongs to a background regeneration, which is there to run the endpoint: the current request
    /// is one, and the key carries its marker or (when a policy dropped the marker) is the claimed key. Decided by the
    /// request's feature, which only MintCache sets, never by the key alone: an app may vary by a query or header
    /// named like the marker. On the hit path the request is looked at only while a regeneration runs.
    /// </summary>
    private bool IsRegenerationLookup(string key)
    {
        if (_regenerator is not { Running: > 0 }
            || _httpContextAccessor?.HttpContext?.Features.Get<RegenerationFeature>() is not { } regeneration)
        {
            return false;
        }

        return RegenerationFeature.MayBeMarked(key) || string.Equals(regeneration.Key, key, StringComparison.Ordinal);
    }

    /// <summary>Turns the backend's answer into the middleware's: a page to serve, or null to run the endpoint.</summary>
    private byte[]? Answer(string key, BackendLookup lookup, bool completedSynchronously)
    {
        if (lookup.Claim is not { } ticket)
        {
            if (lookup.Page is null)
            {
                // The request renders the page: evictions from now on refuse its store (evictions win).
                RequestFeature(create: true)?.Missed(_backend.EvictionMark, lookup.MissedAt);
            }

            return lookup.Page;
        }

        // This lookup won the refresh claim of a stale entry. A lookup that completed synchronously is shared by
        // (almost) no other request, so it can answer "miss" itself; a slow one may be shared by dozens, who would
        // all wait for the regeneration, so it serves the stale page and hands the miss to the next lookup.
        Log.ClaimWon(_logger, _backend.Name);
        if (lookup.Page is null)
        {
            return AnswerColdMissClaimed(key, ticket);
        }

        if (lookup.State == EntryState.Fresh)
        {
            // An eager refresh: the page is still fresh, and everyone, this request included, is served it.
            RefreshEarly(key, ticket);
            return lookup.Page;
        }

        if (TryRegenerateInBackground(key, ticket, eager: false))
        {
            return lookup.Page;
        }

        var handOff = !completedSynchronously && !IsQuietKey(key);
        var claim = HoldClaim(key, ticket, missPending: handOff);
        claim.Refresh = true;
        if (handOff)
        {
            ArmHandOffTimeout(key, claim);
            return lookup.Page;
        }

        WatchForNoStore(key, claim);
        return null;
    }

    public ValueTask<bool> TryGetAsync(string key, PipeWriter destination, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(destination);
        var get = GetAsync(key, cancellationToken);
        if (get.IsCompletedSuccessfully)
        {
            return ValueTask.FromResult(Write(get.Result, destination));
        }

        return AwaitAndWriteAsync(get, destination);

        static async ValueTask<bool> AwaitAndWriteAsync(ValueTask<byte[]?> get, PipeWriter destination)
            => Write(await get.ConfigureAwait(false), destination);

        static bool Write(byte[]? page, PipeWriter destination)
        {
            if (page is null)
            {
                return false;
            }

            destination.Write(page);
            return true;
        }
    }

    public ValueTask SetAsync(string key, byte[] value, string[]? tags, TimeSpan validFor, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(value);
        return SetAsync(key, new ReadOnlySequence<byte>(value), tags ?? [], validFor, cancellationToken);
    }

    public ValueTask SetAsync(string key, ReadOnlySequence<byte> value, ReadOnlyMemory<string> tags, TimeSpan validFor, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(key);
        if (key.Length == 0)
        {
            Log.EmptyKeyIgnored(_logger);
            return ValueTask.CompletedTask;
        }

        var httpContext = _httpContextAccessor?.HttpContext;
        LocalClaim? claim = null;
        if (httpContext?.Features.Get<RegenerationFeature>() is { } regeneration)
        {
            if (!regeneration.TryGetStorageKey(key, out var storageKey))
            {
                // The copy's policies built another key than the claim's: its page is not the claimed page. Nothing
                // is stored; the regenerator reports it, and the page is refreshed in the foreground.
                return ValueTask.CompletedTask;
            }

            key = storageKey;
            claim = regeneration.Claim;
        }

        var watch = httpContext?.Features.Get<ClaimWatchFeature>();
        claim ??= watch?.Find(key) ?? TableClaim(key, direct: httpContext is null);
        if (validFor <= TimeSpan.Zero)
        {
            // Nothing to store: the claim passes on at once, as no regeneration failed.
            if (claim is not null)
            {
                EndClaim(key, claim, failed: false);
            }

            return ValueTask.CompletedTask;
        }

        if (claim is { Refresh: true } && NotCacheable(httpContext) is { } answer)
        {
            // A regeneration the origin answered "not cacheable": the stale page ends farm-wide (design invariant 10).
            return new ValueTask(EvictGoneAsync(key, claim, answer));
        }

        var userTags = WithPathTag(key, ReservedTags.Split(tags.Span, _logger, out var directives), httpContext);
        var stale = ResponseStaleDirectives(httpContext);
        var lifetime = new EntryLifetime(
            validFor,
            stale.StaleWhileRevalidate ?? directives.Grace ?? _options.Grace,
            stale.StaleIfError ?? _options.FailSafe ?? TimeSpan.Zero,
            directives.EagerRefresh ?? _options.EagerRefreshThreshold);
        var fence = new StoreFence(claim?.Ticket, claim?.EvictionMark ?? watch?.EvictionMark ?? 0, watch?.MissedAt ?? 0);
        if (claim is { Revoked: true })
        {
            // A heartbeat learned that an eviction revoked the claim, which the backend may since have forgotten.
            EndClaim(key, claim, failed: false);
            OnStored(StoreOutcome.Revoked);
            return ValueTask.CompletedTask;
        }

        ValueTask<StoreOutcome> set;
        try
        {
            set = _backend.SetAsync(key, value, userTags, lifetime, fence, cancellationToken);
        }
        catch (Exception ex)
        {
            OnStoreFailed(key, claim, ex);
            return ValueTask.CompletedTask;
        }

        if (set.IsCompletedSuccessfully)
        {
            OnStored(key, claim, set.Result);
            return ValueTask.CompletedTask;
        }

        return AwaitSetAsync(key, claim, set);
    }

    /// <summary>The response's own RFC 5861 windows, which override the policy's and the options' (as in Varnish and nginx).</summary>
    private StaleDirectives ResponseStaleDirectives(HttpContext? httpContext)
    {
        if (!_options.HonorResponseStaleDirectives || httpContext is null)
        {
            return default;
        }

        var directives = StaleDirectives.Parse(httpContext.Response.Headers.CacheControl, out var rejected);
        if (rejected is not null)
        {
            Log.StaleDirectiveIgnored(_logger, rejected);
        }

        return directives;
    }

    /// <summary>
    /// The claim of this process on the key, for a store whose request holds none of its own. Within a request, only a
    /// live one: the request shared the lookup that won it (the middleware coalesces lookups and executions per key),
    /// so it renders for that claim. Outside a request (a direct caller), the process itself is the holder, lapsed or not.
    /// </summary>
    private LocalClaim? TableClaim(string key, bool direct)
        => _claims.TryGet(key, out var held) && (direct || held.IsLiveAt(Now())) ? held : null;

    private async ValueTask AwaitSetAsync(string key, LocalClaim? claim, ValueTask<StoreOutcome> set)
    {
        try
        {
            OnStored(key, claim, await set.ConfigureAwait(false));
        }
        catch (Exception ex)
        {
            OnStoreFailed(key, claim, ex);
        }
    }

    private void OnStored(string key, LocalClaim? claim, StoreOutcome outcome)
    {
        if (claim is not null)
        {
            // Stored or refused, the backend released the claim if it still owned it.
            TryEndClaim(key, claim);
        }

        OnStored(outcome);
    }

    private void OnStored(StoreOutcome outcome)
    {
        if (outcome == StoreOutcome.Stored)
        {
            Log.EntryStored(_logger, _backend.Name);
        }
        else
        {
            Log.FencedWriteRefused(_logger, _backend.Name, outcome);
        }
    }

    /// <summary>A store that threw (cancelled, or a backend failure the backend did not absorb): the regeneration failed.</summary>
    private void OnStoreFailed(string key, LocalClaim? claim, Exception exception)
    {
        if (exception is not OperationCanceledException)
        {
            Log.StoreFailed(_logger, _backend.Name, exception);
        }

        if (claim is not null)
        {
            FailClaim(key, claim);
        }
    }

    public ValueTask EvictByTagAsync(string tag, CancellationToken cancellationToken)
        => EvictAsync(tag, soft: false, cancellationToken);

    public ValueTask MarkStaleByTagAsync(string tag, CancellationToken cancellationToken = default)
        => EvictAsync(tag, soft: true, cancellationToken);

    private async ValueTask EvictAsync(string tag, bool soft, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(tag);
        if (tag.Length == 0 || ReservedTags.IsReserved(tag))
        {
            // A reserved marker is a policy setting, never a tag of an entry: it evicts nothing.
            return;
        }

        await EvictTagAsync(tag, soft, cancellationToken).ConfigureAwait(false);
    }

    private async ValueTask EvictTagAsync(string tag, bool soft, CancellationToken cancellationToken)
    {
        try
        {
            await _backend.EvictByTagAsync(tag, soft, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // Thrown on, as the built-in Redis store does: a purge endpoint must be able to answer that the purge did
            // not happen. The middleware never evicts, so no page request sees it.
            Log.EvictFailed(_logger, _backend.Name, ex);
            throw;
        }
    }

    private long Now() => _timeProvider.GetUtcNow().UtcTicks;
}
