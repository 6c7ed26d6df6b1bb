using System.Buffers;
using Microsoft.Extensions.Options;

namespace MintCache.AspNetCore.DependencyInjection;

/// <summary>Checks the rules that tie options together, which annotations on single properties cannot express.</summary>
internal sealed class MintCacheOptionsRules : IValidateOptions<MintCacheOptions>
{
    // RFC 9110 token: the characters a header name may hold.
    private static readonly SearchValues<char> TokenChars =
        SearchValues.Create("!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz");

    public ValidateOptionsResult Validate(string? name, MintCacheOptions options)
    {
        var failures = new ValidateOptionsResultBuilder();
        if (options.FailureBackoff > options.LeaseDuration)
        {
            failures.AddError(
                $"FailureBackoff ({options.FailureBackoff}) must not exceed LeaseDuration ({options.LeaseDuration}): a failed regeneration would hold its claim longer than a lost one.",
                nameof(MintCacheOptions.FailureBackoff));
        }

        if (options.FailSafe is { } failSafe && failSafe < options.RegenerationTimeout + options.FailureBackoff)
        {
            failures.AddError(
                $"FailSafe ({failSafe}) must be at least RegenerationTimeout + FailureBackoff ({options.RegenerationTimeout + options.FailureBackoff}): a regeneration that hangs until its timeout would otherwise outlive the page the fail-safe keeps in service, and users would run the failing origin themselves.",
                nameof(MintCacheOptions.FailSafe));
        }

        if (options.EagerRefreshThreshold is { } eager && !(eager > 0 && eager < 1))
        {
            failures.AddError(
                $"EagerRefreshThreshold ({eager}) must be greater than 0 and less than 1: the share of a page's freshness after which it is refreshed early; null turns eager refresh off.",
                nameof(MintCacheOptions.EagerRefreshThreshold));
        }

        if (options.UsesRedis && options.Redis.KeyPrefix is { } prefix && prefix.AsSpan().IndexOfAny('{', '}') >= 0)
        {
            failures.AddError(
                "Redis.KeyPrefix must not contain '{' or '}': MintCache places each cache key in its own hash tag, and a brace in the prefix would put every key on one Redis Cluster slot.",
                RedisMember(nameof(MintRedisOptions.KeyPrefix)));
        }

        if (options.ResponseTagHeader is { Length: > 0 } header && !IsToken(header))
        {
            failures.AddError(
                $"ResponseTagHeader ('{header}') must be an HTTP header name (letters, digits and !#$%&'*+-.^_`|~); null or empty turns response tags off.",
                nameof(MintCacheOptions.ResponseTagHeader));
        }

        if (!string.IsNullOrWhiteSpace(options.Redis.Configuration) && !IsValidRedisConfiguration(options.Redis.Configuration))
        {
            // Never echo the string or the parser's message: either may hold the password.
            failures.AddError(
                "Redis.Configuration is not a valid StackExchange.Redis configuration string (its value is not shown, as it may hold a password).",
                RedisMember(nameof(MintRedisOptions.Configuration)));
        }

        if (options.Redis.PlainValueInConfiguration)
        {
            // Never echo the value: it may hold a password.
            failures.AddError(
                "MintCache:Redis holds a value, but it is the section of the Redis options: put the StackExchange.Redis configuration string in MintCache:Redis:Configuration (MintCache__Redis__Configuration in the environment).",
                RedisMember(nameof(MintRedisOptions.Configuration)));
        }

        return failures.Build();
    }

    private static string RedisMember(string name) => $"{nameof(MintCacheOptions.Redis)}.{name}";

    private static bool IsToken(string name) => name.AsSpan().IndexOfAnyExcept(TokenChars) < 0;

    private static bool IsValidRedisConfiguration(string configuration)
    {
        try
        {
            _ = StackExchange.Redis.ConfigurationOptions.Parse(configuration);
            return true;
        }
        catch (Exception ex) when (ex is ArgumentException or FormatException or NotSupportedException)
        {
            return false;
        }
    }
}
