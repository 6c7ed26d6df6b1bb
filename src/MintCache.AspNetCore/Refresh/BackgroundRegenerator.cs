using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Microsoft.Net.Http.Headers;
using MintCache.AspNetCore.Diagnostics;
using MintCache.AspNetCore.Store;

namespace MintCache.AspNetCore.Refresh;

/// <summary>
/// Runs background regenerations: in-memory copies of the requests that won a refresh claim (<see cref="RequestCopy"/>),
/// sent through the application's own pipeline after those requests were served the stale page, so that the page is
/// rendered as for them and stored through the normal output-cache path (policies, vary rules, tags and
/// <c>validFor</c> apply as for a user).
/// </summary>
/// <remarks>
/// Bounded: at most <see cref="MintCacheOptions.MaxConcurrentRegenerations"/> at once, each cancelled after
/// <see cref="MintCacheOptions.RegenerationTimeout"/>; none starts once the host is stopping, and those running are
/// cancelled then.
/// </remarks>
internal sealed class BackgroundRegenerator : IDisposable
{
    private readonly MintCacheOptions _options;
    private readonly TimeProvider _timeProvider;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stopping = new();
    private readonly CancellationTokenRegistration _stoppingRegistration;
    private RequestDelegate? _pipeline;
    private IHttpContextFactory? _httpContextFactory;
    private int _running;

    public BackgroundRegenerator(
        IOptions<MintCacheOptions> options,
        TimeProvider timeProvider,
        ILogger<BackgroundRegenerator> logger,
        IHostApplicationLifetime? lifetime = null)
    {
        _options = options.Value;
        _timeProvider = timeProvider;
        _logger = logger;
        if (lifetime is not null)
        {
            _stoppingRegistration = lifetime.ApplicationStopping.Register(static state => ((BackgroundRegenerator)state!).Stop(), this);
        }
    }

    /// <summary>Whether the pipeline is known, so regenerations can run at all.</summary>
    public bool IsAttached => Volatile.Read(ref _pipeline) is not null;

    /// <summary>For tests: regenerations running now.</summary>
    internal int Running => Volatile.Read(ref _running);

    /// <summary>Given the application's pipeline by <see cref="ClaimWatchMiddleware"/>, which runs first in it.</summary>
    public void Attach(RequestDelegate pipeline, IHttpContextFactory httpContextFactory)
    {
        _httpContextFactory = httpContextFactory;
        Volatile.Write(ref _pipeline, pipeline);
    }

    /// <summary>Starts a regeneration of <paramref name="copy"/> on the thread pool, unless the host is stopping or every slot is taken.</summary>
    public RegenerationStart TryStart(MintOutputCacheStore store, RegenerationFeature regeneration, RequestCopy copy)
    {
        var pipeline = Volatile.Read(ref _pipeline);
        if (pipeline is null || _httpContextFactory is null || _stopping.IsCancellationRequested)
        {
            return RegenerationStart.Stopping;
        }

        if (Interlocked.Increment(ref _running) > _options.MaxConcurrentRegenerations)
        {
            Interlocked.Decrement(ref _running);
            Log.RegenerationSlotsFull(_logger, _options.MaxConcurrentRegenerations);
            return RegenerationStart.SlotsFull;
        }

        // Never inline: the lookup that won the claim belongs to a user's request, which is served the stale page.
        _ = Task.Run(() => RunAsync(pipeline, _httpContextFactory, store, regeneration, copy));
        return RegenerationStart.Started;
    }

    private async Task RunAsync(RequestDelegate pipeline, IHttpContextFactory factory, MintOutputCacheStore store, RegenerationFeature regeneration, RequestCopy copy)
    {
        var claim = regeneration.Claim;
        var answeredFromCache = false;
        var originFailed = true;
        using var activity = Activities.StartRegeneration(copy.Method, copy.Path);
        try
        {
            using var timeout = new CancellationTokenSource(_options.RegenerationTimeout, _timeProvider);
            using var aborted = CancellationTokenSource.CreateLinkedTokenSource(timeout.Token, _stopping.Token);

            var features = new FeatureCollection();
            copy.ApplyTo(features);
            var response = new RegenerationResponseFeature();
            features.Set<IHttpResponseFeature>(response);
            features.Set<IHttpResponseBodyFeature>(response);
            features.Set<IHttpRequestLifetimeFeature>(new HttpRequestLifetimeFeature { RequestAborted = aborted.Token });
            features.Set(regeneration);

            var context = factory.Create(features);
            try
            {
                await pipeline(context).ConfigureAwait(false);
                await response.CompleteAsync().ConfigureAwait(false);
            }
            finally
            {
                await response.FireOnCompletedAsync().ConfigureAwait(false);
                factory.Dispose(context);
            }

            // A store under the claim, accepted or refused by the fence, ended it. The output cache puts an Age header
            // on every response it serves from the cache, never on one the endpoint rendered.
            if (!claim.Ended)
            {
                answeredFromCache = response.Headers.ContainsKey(HeaderNames.Age);
                originFailed = response.StatusCode >= StatusCodes.Status500InternalServerError;
                Log.BackgroundRegenerationNotStored(_logger, response.StatusCode);
            }
        }
        catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
        {
            Log.BackgroundRegenerationCancelled(_logger);
        }
        catch (Exception ex)
        {
            Log.BackgroundRegenerationFailed(_logger, ex);
            Activities.Failed(activity, ex);
        }
        finally
        {
            Interlocked.Decrement(ref _running);
            if (!claim.Ended)
            {
                store.BackgroundRegenerationNotStored(regeneration, answeredFromCache, originFailed);
            }
        }
    }

    private void Stop()
    {
        try
        {
            _stopping.Cancel();
        }
        catch (AggregateException ex)
        {
            Log.BackgroundRegenerationFailed(_logger, ex);
        }
    }

    public void Dispose()
    {
        _stoppingRegistration.Dispose();
        Stop();
        _stopping.Dispose();
    }
}
