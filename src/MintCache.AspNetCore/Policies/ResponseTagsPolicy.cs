using Microsoft.AspNetCore.OutputCaching;
using Microsoft.Extensions.Logging;
using MintCache.AspNetCore.Diagnostics;

namespace MintCache.AspNetCore.Policies;

/// <summary>
/// Adds the space-separated values of the response tag header (<see cref="MintCacheOptions.ResponseTagHeader"/>) to the
/// tags of the page being stored, within the caps of <see cref="MintCacheConstants"/>; over them, a tag is ignored and
/// logged, never thrown.
/// </summary>
/// <remarks>
/// <para>
/// The output-cache middleware (.NET 10) calls <c>ServeResponseAsync</c> after the endpoint ran and before it stores the
/// entry with <c>OutputCacheContext.Tags</c>, in the live request and in a background regeneration's copy alike, so
/// the tags are read there. A response with a body has started by then (its headers were captured at its first write).
/// </para>
/// <para>
/// With <see cref="MintCacheOptions.StripResponseTagHeader"/>, the header is read and removed in <c>Response.OnStarting</c>
/// too, which runs after the middleware captured the headers and before they go out: clients never see it, from a
/// fresh or a cached response. The stored entry may still hold it (captured first); it is removed from each hit again.
/// </para>
/// </remarks>
internal sealed class ResponseTagsPolicy(string headerName, bool strip, ILogger logger) : IOutputCachePolicy
{
    public ValueTask CacheRequestAsync(OutputCacheContext context, CancellationToken cancellationToken)
    {
        if (strip)
        {
            context.HttpContext.Response.OnStarting(
                static state =>
                {
                    var (policy, context) = ((ResponseTagsPolicy, OutputCacheContext))state;
                    if (context.EnableOutputCaching)
                    {
                        policy.Collect(context);
                    }

                    return Task.CompletedTask;
                },
                (this, context));
        }

        return ValueTask.CompletedTask;
    }

    public ValueTask ServeFromCacheAsync(OutputCacheContext context, CancellationToken cancellationToken) => ValueTask.CompletedTask;

    public ValueTask ServeResponseAsync(OutputCacheContext context, CancellationToken cancellationToken)
    {
        Collect(context);
        return ValueTask.CompletedTask;
    }

    /// <summary>Adds the header's tags to the context; with <c>strip</c>, removes the header while it still can.</summary>
    private void Collect(OutputCacheContext context)
    {
        var response = context.HttpContext.Response;
        if (!response.Headers.TryGetValue(headerName, out var values) || values.Count == 0)
        {
            return;
        }

        if (strip && !response.HasStarted)
        {
            response.Headers.Remove(headerName);
        }

        int added = 0, tooLong = 0, forbidden = 0, overCap = 0;
        foreach (var value in values)
        {
            foreach (var tag in (value ?? string.Empty).Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries))
            {
                if (tag.Length > MintCacheConstants.MaxResponseTagLength)
                {
                    tooLong++;
                }
                else if (tag.AsSpan().IndexOfAnyInRange('\u0000', '\u001F') >= 0 || tag.Contains('\u007F', StringComparison.Ordinal))
                {
                    // MintCache's reserved tags start with U+001F: a response cannot forge a setting or a path.
                    forbidden++;
                }
                else if (added >= MintCacheConstants.MaxResponseTags)
                {
                    overCap++;
                }
                else if (context.Tags.Add(tag))
                {
                    added++;
                }
            }
        }

        if (tooLong > 0)
        {
            Log.ResponseTagsIgnored(logger, tooLong, headerName, $"longer than {MintCacheConstants.MaxResponseTagLength} characters");
        }

        if (forbidden > 0)
        {
            Log.ResponseTagsIgnored(logger, forbidden, headerName, "a control character, which MintCache's reserved tags start with");
        }

        if (overCap > 0)
        {
            Log.ResponseTagsIgnored(logger, overCap, headerName, $"past the first {MintCacheConstants.MaxResponseTags} tags of a response");
        }
    }
}
