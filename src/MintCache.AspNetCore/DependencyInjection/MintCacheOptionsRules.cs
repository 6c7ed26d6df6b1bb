using Microsoft.Extensions.Options;

namespace MintCache.AspNetCore.DependencyInjection;

/// <summary>Checks the rules that tie options together, which annotations on single properties cannot express.</summary>
internal sealed class MintCacheOptionsRules : IValidateOptions<MintCacheOptions>
{
    public ValidateOptionsResult Validate(string? name, MintCacheOptions options)
    {
        var failures = new ValidateOptionsResultBuilder();
        if (options.FailureBackoff > options.LeaseDuration)
        {
            failures.AddError(
                $"FailureBackoff ({options.FailureBackoff}) must not exceed LeaseDuration ({options.LeaseDuration}): a failed regeneration would hold its claim longer than a lost one.",
                nameof(MintCacheOptions.FailureBackoff));
        }

        return failures.Build();
    }
}
