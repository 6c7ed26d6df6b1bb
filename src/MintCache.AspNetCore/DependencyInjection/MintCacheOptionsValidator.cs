using Microsoft.Extensions.Options;

namespace MintCache.AspNetCore.DependencyInjection;

/// <summary>Checks each option against its declared range (generated from the data annotations).</summary>
[OptionsValidator]
internal sealed partial class MintCacheOptionsValidator : IValidateOptions<MintCacheOptions>
{
}
