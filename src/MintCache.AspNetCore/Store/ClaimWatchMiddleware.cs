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
            _ = _store.ReleaseUnstoredClaimsAsync(context, threw: true);
            throw;
        }

        return pipeline.IsCompletedSuccessfully
            ? _store.ReleaseUnstoredClaimsAsync(context, threw: false)
            : AwaitPipelineAsync(pipeline, context);
    }

    private async Task AwaitPipelineAsync(Task pipeline, HttpContext context)
    {
        try
        {
            await pipeline.ConfigureAwait(false);
        }
        catch
        {
            _ = _store.ReleaseUnstoredClaimsAsync(context, threw: true);
            throw;
        }

        // Awaited: a page its origin said is gone is evicted before this response ends.
        await _store.ReleaseUnstoredClaimsAsync(context, threw: false).ConfigureAwait(false);
    }
}
