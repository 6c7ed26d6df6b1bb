using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.OutputCaching;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Routing.Patterns;
using Microsoft.Extensions.DependencyInjection;

// A concrete type stays in MintCache's own namespace; only extension classes join another owner's.
namespace MintCache.AspNetCore;

/// <summary>
/// Caches an MVC controller's or action's responses with MintCache's settings: what
/// <c>.CacheOutput(p =&gt; p.Expire(...).Grace(...).Refresh(...).Tag(...).SetVaryByQuery(...))</c> does for a minimal API.
/// </summary>
/// <remarks>
/// <para>
/// It is endpoint metadata implementing <see cref="IOutputCachePolicy"/>, which the output-cache middleware runs; each
/// setting left out falls back as it would in a policy built without it (<c>OutputCacheOptions.DefaultExpirationTimeSpan</c>,
/// <c>MintCacheOptions.Grace</c>, <c>MintCacheOptions.RefreshMode</c>). The policy includes ASP.NET Core's default
/// policy, as <c>[OutputCache]</c> without a policy name does: GET and HEAD requests with status 200, no
/// <c>Authorization</c> header and no <c>Set-Cookie</c> in the response.
/// </para>
/// <para>
/// <b>Beside <c>[OutputCache]</c></b> (on the same action, or one on the controller and one on the action, in either
/// order): both apply. <c>[OutputCache]</c> is not an <see cref="IOutputCachePolicy"/>; the middleware runs the
/// endpoint's policy (this attribute) first and <c>[OutputCache]</c>'s own after it, so where both set the same thing
/// (<c>Duration</c>, a vary-by list, a grace or refresh mode from its named policy) <c>[OutputCache]</c>'s value wins,
/// and tags add up. <b>WARNING:</b> <c>[OutputCache]</c>'s policy includes ASP.NET Core's default policy (its named
/// policy usually does too), which varies by every query key: beside it, <see cref="VaryByQueryKeys"/> is replaced by
/// <c>*</c>; give <c>[OutputCache]</c> the query keys instead.
/// </para>
/// <para>
/// <b>When it is not the endpoint's last <see cref="IOutputCachePolicy"/></b>, ASP.NET Core runs only the last one, so
/// this attribute does nothing: an action's <c>[MintOutputCache]</c> replaces its controller's entirely (settings are
/// not merged), and a <c>CacheOutput(...)</c> convention applied to the endpoint after its attributes (for example on
/// <c>MapControllers()</c>) replaces both.
/// </para>
/// </remarks>
[AttributeUsage(AttributeTargets.Class | AttributeTargets.Method, AllowMultiple = false, Inherited = true)]
public sealed class MintOutputCacheAttribute : Attribute, IOutputCachePolicy
{
    // Attribute arguments cannot be nullable: these remember whether a setting was given at all.
    private int? _duration;
    private int? _grace;
    private RefreshMode? _refresh;
    private double? _eagerRefresh;
    private IOutputCachePolicy? _policy;

    /// <summary>Gets or sets how long, in seconds, a response stays fresh, as <c>.Expire(TimeSpan)</c> does.</summary>
    /// <value>Zero or more; when not set, <c>OutputCacheOptions.DefaultExpirationTimeSpan</c> (60 seconds by default).</value>
    /// <exception cref="ArgumentOutOfRangeException">The value is negative.</exception>
    public int Duration
    {
        get => _duration ?? 0;
        init
        {
            ArgumentOutOfRangeException.ThrowIfNegative(value);
            _duration = value;
        }
    }

    /// <summary>
    /// Gets or sets how long, in seconds, past its freshness a response may be served stale while one request
    /// regenerates it, as <c>.Grace(TimeSpan)</c> does.
    /// </summary>
    /// <value>From 1 to 2,592,000 (30 days); when not set, <c>MintCacheOptions.Grace</c>.</value>
    /// <exception cref="ArgumentOutOfRangeException">The value is out of range.</exception>
    public int Grace
    {
        get => _grace ?? 0;
        init
        {
            // Checked here, so that a bad value fails when MVC builds its endpoints rather than on a request.
            MintPolicyBuilderExtensions.CheckGrace(TimeSpan.FromSeconds(value), nameof(Grace));
            _grace = value;
        }
    }

    /// <summary>Gets or sets who regenerates stale responses, as <c>.Refresh(RefreshMode)</c> does.</summary>
    /// <value>When not set, <c>MintCacheOptions.RefreshMode</c> (and reading it returns <see cref="RefreshMode.Background"/>, that option's default).</value>
    /// <exception cref="ArgumentOutOfRangeException">The value is not a <see cref="RefreshMode"/>.</exception>
    public RefreshMode Refresh
    {
        get => _refresh ?? RefreshMode.Background;
        init
        {
            MintPolicyBuilderExtensions.CheckRefresh(value, nameof(Refresh));
            _refresh = value;
        }
    }

    /// <summary>
    /// Gets or sets the share of a response's freshness after which it is refreshed early, in the background, as
    /// <c>.EagerRefresh(double)</c> does.
    /// </summary>
    /// <value>Greater than 0 and less than 1, such as 0.8; when not set, <c>MintCacheOptions.EagerRefreshThreshold</c> (and reading it returns 0).</value>
    /// <exception cref="ArgumentOutOfRangeException">The value is not greater than 0 and less than 1.</exception>
    public double EagerRefresh
    {
        get => _eagerRefresh ?? 0;
        init
        {
            MintPolicyBuilderExtensions.CheckEagerRefresh(value, nameof(EagerRefresh));
            _eagerRefresh = value;
        }
    }

    /// <summary>Gets or sets the tags of the cached responses, for <c>EvictByTagAsync</c> and <c>MarkStaleByTagAsync</c>.</summary>
    public string[]? Tags { get; init; }

    /// <summary>Gets or sets the query keys the cached responses vary by, as <c>.SetVaryByQuery(...)</c> does.</summary>
    public string[]? VaryByQueryKeys { get; init; }

    /// <summary>Gets or sets the request header names the cached responses vary by, as <c>.SetVaryByHeader(...)</c> does.</summary>
    public string[]? VaryByHeaderNames { get; init; }

    /// <summary>Gets or sets the route value names the cached responses vary by, as <c>.SetVaryByRouteValue(...)</c> does.</summary>
    public string[]? VaryByRouteValueNames { get; init; }

    // Built on first use, as [OutputCache] builds its own; two threads may both build it, to the same effect.
    private IOutputCachePolicy Policy => _policy ??= Build();

    ValueTask IOutputCachePolicy.CacheRequestAsync(OutputCacheContext context, CancellationToken cancellation)
        => Policy.CacheRequestAsync(context, cancellation);

    ValueTask IOutputCachePolicy.ServeFromCacheAsync(OutputCacheContext context, CancellationToken cancellation)
        => Policy.ServeFromCacheAsync(context, cancellation);

    ValueTask IOutputCachePolicy.ServeResponseAsync(OutputCacheContext context, CancellationToken cancellation)
        => Policy.ServeResponseAsync(context, cancellation);

    /// <summary>
    /// The one place where the attribute's settings become policy, each through the very builder call a minimal API
    /// makes, so that the attribute hands the store exactly what those calls do (reserved tags included).
    /// </summary>
    /// <remarks>
    /// Seam for eager refresh: when <see cref="MintPolicyBuilderExtensions"/> gains it, it becomes a property above
    /// (nullable-backed, checked in its setter) and one call here; until then the attribute has no such setting.
    /// </remarks>
    private void Configure(OutputCachePolicyBuilder builder)
    {
        if (VaryByQueryKeys is not null)
        {
            builder.SetVaryByQuery(VaryByQueryKeys);
        }

        if (VaryByHeaderNames is not null)
        {
            builder.SetVaryByHeader(VaryByHeaderNames);
        }

        if (VaryByRouteValueNames is not null)
        {
            builder.SetVaryByRouteValue(VaryByRouteValueNames);
        }

        if (Tags is not null)
        {
            builder.Tag(Tags);
        }

        if (_duration is { } duration)
        {
            builder.Expire(TimeSpan.FromSeconds(duration));
        }

        if (_grace is { } grace)
        {
            builder.Grace(TimeSpan.FromSeconds(grace));
        }

        if (_refresh is { } refresh)
        {
            builder.Refresh(refresh);
        }

        if (_eagerRefresh is { } eagerRefresh)
        {
            builder.EagerRefresh(eagerRefresh);
        }
    }

    private IOutputCachePolicy Build()
    {
        // OutputCachePolicyBuilder's constructor and Build() are internal in ASP.NET Core 10; CacheOutput(...) is the
        // public way to have one built, and it hands the policy to an endpoint's metadata, which is caught here.
        var capture = new PolicyCapture();
        capture.CacheOutput(Configure);
        return capture.Policy;
    }

    /// <summary>An endpoint that exists only to receive the policy <c>CacheOutput(...)</c> builds.</summary>
    private sealed class PolicyCapture : IEndpointConventionBuilder
    {
        private readonly RouteEndpointBuilder _endpoint = new(requestDelegate: null, RoutePatternFactory.Parse("/"), order: 0);

        public IOutputCachePolicy Policy => _endpoint.Metadata.OfType<IOutputCachePolicy>().Single();

        public void Add(Action<EndpointBuilder> convention) => convention(_endpoint);
    }
}
