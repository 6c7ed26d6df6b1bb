using Microsoft.AspNetCore.Http;
using MintCache.AspNetCore.Refresh;

namespace MintCache.AspNetCore;

/// <summary>What MintCache tells an application about a request.</summary>
public static class MintHttpContextExtensions
{
    /// <summary>
    /// Whether this request is a background regeneration that MintCache sent through the pipeline itself, not a
    /// user's request: useful to leave it out of analytics, access logs or per-user work.
    /// </summary>
    /// <param name="context">The request's context.</param>
    /// <returns><see langword="true"/> for a background regeneration.</returns>
    /// <remarks>It cannot be forged from outside: it is a request feature only MintCache sets, not a header.</remarks>
    public static bool IsBackgroundRegeneration(this HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return context.Features.Get<RegenerationFeature>() is not null;
    }
}
