using Microsoft.AspNetCore.Http;

namespace MintCache.AspNetCore.Store;

/// <summary>
/// Runs first in the pipeline and, when a request that was answered "miss" for a refresh ends, tells the store, so a
/// regeneration that threw, answered an uncached status or was aborted passes its claim on after the failure
/// backoff instead of the whole lease.
/// </summary>
/// <remarks>
/// A <c>finally</c> here sees requests that end in an exception, which <c>Response.OnCompleted</c> does not see on
/// every server. Requests that won no claim pay one feature lookup.
/// </remarks>
internal sealed class ClaimWatchMiddleware(RequestDelegate next, MintOutputCacheStore store)
{
    public Task InvokeAsync(HttpContext context)
    {
        Task pipeline;
        try
        {
            pipeline = next(context);
        }
        catch
        {
            store.ReleaseUnstoredClaims(context);
            throw;
        }

        if (pipeline.IsCompletedSuccessfully)
        {
            store.ReleaseUnstoredClaims(context);
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
            store.ReleaseUnstoredClaims(context);
        }
    }
}
