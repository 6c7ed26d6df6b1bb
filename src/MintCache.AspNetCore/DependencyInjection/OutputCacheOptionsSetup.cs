using Microsoft.AspNetCore.OutputCaching;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using MintCache.AspNetCore.Policies;

namespace MintCache.AspNetCore.DependencyInjection;

/// <summary>
/// Adds <see cref="CacheStatusPolicy"/> as a base policy when the <c>Cache-Status</c> header is on,
/// <see cref="RegenerationPolicy"/> as a base policy when background refresh is the default (the options' default), so
/// that every cached endpoint's regenerations get a cache key of their own, and <see cref="ResponseTagsPolicy"/> when a
/// response tag header is set (the options' default).
/// </summary>
/// <remarks>
/// Only then: a base policy makes the output-cache middleware set up its context for every request, cached or not,
/// which an application in the foreground mode should not pay for (nor one with <c>ResponseTagHeader</c> off). A policy
/// that asks for background refresh
/// itself (<c>.Refresh(RefreshMode.Background)</c>) carries the policy in its own chain.
/// </remarks>
internal sealed class OutputCacheOptionsSetup(IOptions<MintCacheOptions> mintOptions, ILoggerFactory? loggerFactory = null) : IPostConfigureOptions<OutputCacheOptions>
{
    public void PostConfigure(string? name, OutputCacheOptions options)
    {
        if (mintOptions.Value.RefreshMode == RefreshMode.Background || mintOptions.Value.EagerRefreshThreshold is not null)
        {
            options.AddBasePolicy(RegenerationPolicy.Instance);
        }

        if (mintOptions.Value.CacheStatusHeader)
        {
            // A base policy sees every request before the lookup, which is when the store needs the feature.
            options.AddBasePolicy(new CacheStatusPolicy(options.DefaultExpirationTimeSpan));
        }

        if (mintOptions.Value.ResponseTagHeader is { Length: > 0 } header)
        {
            // A base policy reads the header of every cached endpoint's response, in the live request and in a copy.
            var logger = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger<ResponseTagsPolicy>();
            options.AddBasePolicy(new ResponseTagsPolicy(header, mintOptions.Value.StripResponseTagHeader, logger));
        }
    }
}
