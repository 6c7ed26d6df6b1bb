using Microsoft.AspNetCore.Http;
using MintCache.AspNetCore.Refresh;

namespace MintCache.AspNetCore.Store;

/// <summary>
/// Runs first in the pipeline and, when a request that was answered "miss" for a refresh ends, tells the store, so a
/// regeneration that threw, answered an uncached status or was aborted passes its claim on after the failure
/// backoff instead of the whole lease.
/// </summary>
/// <remarks>
/// Being first, it also hands the rest of the pipeline to <see cref="BackgroundRegenerator"/>.
/// A <c>finally</c> here sees requests that end in an exception, which <c>Response.OnCompleted</c> does not see on
/// every server. Requests that won no claim pay one feature lookup.
/// </remarks>
internal sealed class ClaimWatchMiddleware
{
    private readonly RequestDelegate _next;
    private readonly MintOutputCacheStore _store;

    public ClaimWatchMiddleware(RequestDelegate next, MintOutputCacheStore store, BackgroundRegenerator regenerator, IHttpContextFactory httpContextFactory)
    {
        _next = next;
        _store = store;

        // Everything after this middleware is the application's pipeline: what a background regeneration runs.
        regenerator.Attach(next, httpContextFactory);
    }

    public Task InvokeAsync(HttpContext context)
    {
        Task pipeline;
        try
        {
            pipeline = _next(context);
        }
        catch
        {
            _store.ReleaseUnstoredClaims(context);
            throw;
        }

        if (pipeline.IsCompletedSuccessfully)
        {
            _store.ReleaseUnstoredClaims(context);
            return Task.CompletedTask;
        }

        return AwaitPipelineAsync(pipeline, context);
    }

    private async Task AwaitPipelineAsync(Task pipeline, HttpContext context)
    {
        try
        {
            await pipeline.ConfigureAwait(false);
        }
        finally
        {
            _store.ReleaseUnstoredClaims(context);
        }
    }
}
