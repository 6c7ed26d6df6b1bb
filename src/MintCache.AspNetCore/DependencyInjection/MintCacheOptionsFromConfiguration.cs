using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

namespace MintCache.AspNetCore.DependencyInjection;

/// <summary>
/// Binds the <c>"MintCache"</c> configuration section, when the application has configuration and the section
/// exists. Unlike <c>BindConfiguration</c>, a container without <see cref="IConfiguration"/> is not an error.
/// </summary>
internal sealed class MintCacheOptionsFromConfiguration(IConfiguration? configuration = null) : IConfigureOptions<MintCacheOptions>
{
    public void Configure(MintCacheOptions options)
    {
        var section = configuration?.GetSection(MintCacheOptions.SectionName);
        if (section is not null && section.Exists())
        {
            section.Bind(options);
            options.Redis.PlainValueInConfiguration = !string.IsNullOrEmpty(section.GetSection(nameof(MintCacheOptions.Redis)).Value);
        }
    }
}
