using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.OutputCaching;
using Microsoft.Extensions.DependencyInjection;

namespace MintCache.AspNetCore.Tests.Fixtures;

/// <summary>
/// What every host of a <see cref="HostFarm"/> is started with, as <see cref="TestApp.StartAsync"/> takes it. An
/// instance registered in <see cref="ConfigureServices"/> (a page the test holds) is one object shared by every host.
/// </summary>
internal sealed class FarmSetup
{
    /// <summary>How many hosts share the backend.</summary>
    public int Hosts { get; init; } = 2;

    public Action<MintCacheOptions>? ConfigureMint { get; init; }

    public Action<OutputCachePolicyBuilder>? PagePolicy { get; init; }

    public Action<IServiceCollection>? ConfigureServices { get; init; }

    /// <summary>Maps the test's own endpoints, given how long the farm's pages stay fresh.</summary>
    public Action<WebApplication, TimeSpan>? MapMore { get; init; }

    /// <summary>How long <c>/page</c> is fresh; by default the farm's <see cref="HostFarm.Fresh"/>.</summary>
    public TimeSpan? Fresh { get; init; }
}
