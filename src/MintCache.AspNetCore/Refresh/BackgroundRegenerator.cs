using System.Diagnostics;
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
/// cancelled then, and awaited, their claims released, up to the host's shutdown timeout (it is a hosted service for
/// that alone).
/// </remarks>
internal sealed class BackgroundRegenerator : IHostedService, IDisposable
{
    // The copy's own log scope, in place of the request's it no longer inherits.
    private const string RegenerationScope = "MintCache background regeneration of {Method} {Path}";

    private readonly MintCacheOptions _options;
    private readonly TimeProvider _timeProvider;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stopping = new();
    private readonly CancellationTokenRegistration _stoppingRegistration;
    private readonly TaskCompletionSource _drained = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private RequestDelegate? _pipeline;
    private IHttpContextFactory? _httpContextFactory;
    private int _running;
    private int _disposed;

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

    /// <summary>Whether a regeneration started now would find a slot (it may still not, when another takes it first).</summary>
    public bool HasFreeSlot => Volatile.Read(ref _running) < _options.MaxConcurrentRegenerations;

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
            EndRun();
            Log.RegenerationSlotsFull(_logger, _options.MaxConcurrentRegenerations);
            return RegenerationStart.SlotsFull;
        }

        // Never inline: the lookup that won the claim belongs to a user's request, which is served the stale page. And
        // nothing of that request's flow goes with the copy (design invariant 9): with the execution context, the copy
        // would inherit the request's IHttpContextAccessor holder (which its own context's creation then clears), its
        // Activity and its log scopes. The request's activity is only linked.
        var run = new Run(this, pipeline, _httpContextFactory, store, regeneration, copy, Activity.Current?.Context ?? default);
        if (ExecutionContext.IsFlowSuppressed())
        {
            _ = Task.Run(run.ExecuteAsync);
        }
        else
        {
            using (ExecutionContext.SuppressFlow())
            {
                _ = Task.Run(run.ExecuteAsync);
            }
        }

        return RegenerationStart.Started;
    }

    /// <summary>
    /// Cancels the running regenerations (as the host's stopping token already did) and waits for them, their claims
    /// released, until <paramref name="cancellationToken"/> (the host's shutdown timeout) is cancelled.
    /// </summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        // A host may stop its hosted services after the container disposed this singleton, which stopped it already.
        if (Volatile.Read(ref _disposed) == 1)
        {
            return;
        }

        Stop();
        if (Running == 0)
        {
            return;
        }

        try
        {
            await _drained.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // Their claims lapse after one lease, as a dead host's do.
            Log.RegenerationsAbandonedAtShutdown(_logger, Running);
        }
    }

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    private void EndRun()
    {
        if (Interlocked.Decrement(ref _running) == 0 && _stopping.IsCancellationRequested)
        {
            _drained.TrySetResult();
        }
    }

    private async Task RunAsync(RequestDelegate pipeline, IHttpContextFactory factory, MintOutputCacheStore store, RegenerationFeature regeneration, RequestCopy copy, ActivityContext cause)
    {
        // Everything, the telemetry included, inside the try: whatever throws, the slot and the claim are given back.
        var claim = regeneration.Claim;
        var end = RegenerationEnd.OriginFailed;
        var status = 0;
        Activity? activity = null;
        IDisposable? scope = null;
        try
        {
            try
            {
                activity = Activities.StartRegeneration(copy.Method, copy.Path, cause);
                scope = _logger.BeginScope(RegenerationScope, copy.Method, copy.Path);
            }
            catch (Exception ex)
            {
                Log.RegenerationTelemetryFailed(_logger, ex);
            }

            using var timeout = new CancellationTokenSource(_options.RegenerationTimeout, _timeProvider);
            using var aborted = CancellationTokenSource.CreateLinkedTokenSource(timeout.Token, _stopping.Token);

            var features = new CopyFeatures();
            copy.ApplyTo(features);
            var response = new RegenerationResponseFeature();
            features.Set<IHttpResponseFeature>(response);
            features.Set<IHttpResponseBodyFeature>(response);
            features.Set<IHttpRequestLifetimeFeature>(new HttpRequestLifetimeFeature { RequestAborted = aborted.Token });
            features.Set<IHttpUpgradeFeature>(CopyFeatures.NotUpgradable.Instance);
            features.Set(regeneration);

            var context = factory.Create(features);
            try
            {
                await pipeline(context).ConfigureAwait(false);
                await response.CompleteAsync().ConfigureAwait(false);
            }
            catch (Exception ex) when (!_stopping.IsCancellationRequested && features.LackedAskedFor is { } lacked)
            {
                Log.BackgroundRegenerationFailed(_logger, ex);
                Activities.Failed(activity, ex);
                end = CopyFailed(regeneration, lacked);
            }
            finally
            {
                try
                {
                    await response.FireOnCompletedAsync(_logger).ConfigureAwait(false);
                }
                finally
                {
                    factory.Dispose(context);
                }
            }

            // A store under the claim, accepted or refused by the fence, ended it. The output cache puts an Age header
            // on every response it serves from the cache, never on one the endpoint rendered.
            if (!claim.Ended && end != RegenerationEnd.CopyFailed)
            {
                status = response.StatusCode;
                end = response.Headers.ContainsKey(HeaderNames.Age) ? RegenerationEnd.AnsweredFromCache
                    : status is StatusCodes.Status404NotFound or StatusCodes.Status410Gone ? RegenerationEnd.Gone
                    : status < StatusCodes.Status500InternalServerError ? RegenerationEnd.NotStored
                    : features.LackedAskedFor is { } lacked ? CopyFailed(regeneration, lacked)
                    : RegenerationEnd.OriginFailed;
                Log.BackgroundRegenerationNotStored(_logger, status);
            }
        }
        catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
        {
            Log.BackgroundRegenerationCancelled(_logger);
            end = RegenerationEnd.Stopped;
        }
        catch (Exception ex)
        {
            Log.BackgroundRegenerationFailed(_logger, ex);
            Activities.Failed(activity, ex);
        }
        finally
        {
            if (!claim.Ended)
            {
                if (_stopping.IsCancellationRequested)
                {
                    end = RegenerationEnd.Stopped;
                }

                try
                {
                    await store.BackgroundRegenerationEndedAsync(regeneration, end, status).ConfigureAwait(false);
                }
                catch (Exception ex)
                {
                    Log.BackgroundRegenerationFailed(_logger, ex);
                }
            }

            try
            {
                scope?.Dispose();
                activity?.Dispose();
            }
            catch (Exception ex)
            {
                Log.RegenerationTelemetryFailed(_logger, ex);
            }

            EndRun();
        }
    }

    /// <summary>A failure only a copy has: logged once per endpoint, by the store.</summary>
    private static RegenerationEnd CopyFailed(RegenerationFeature regeneration, Type lacked)
    {
        regeneration.LackedFeature = lacked;
        return RegenerationEnd.CopyFailed;
    }

    private void Stop()
    {
        try
        {
            _stopping.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // Disposed while the host stopped: Dispose cancelled it already.
        }
        catch (AggregateException ex)
        {
            Log.BackgroundRegenerationFailed(_logger, ex);
        }
    }

    /// <summary>One regeneration's arguments, so the thread pool starts it without a closure over the caller's locals.</summary>
    private sealed record Run(BackgroundRegenerator Self, RequestDelegate Pipeline, IHttpContextFactory Factory, MintOutputCacheStore Store, RegenerationFeature Regeneration, RequestCopy Copy, ActivityContext Cause)
    {
        public Task ExecuteAsync() => Self.RunAsync(Pipeline, Factory, Store, Regeneration, Copy, Cause);
    }

    public void Dispose()
    {
        // Twice: the container tracks it both as itself and as the hosted service its factory returns.
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        _stoppingRegistration.Dispose();
        Stop();
        _stopping.Dispose();
    }
}
