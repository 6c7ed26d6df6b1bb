using System.Runtime.CompilerServices;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.OutputCaching;
using Microsoft.Extensions.DependencyInjection;
using MintCache.AspNetCore.Tests.Fixtures;

namespace MintCache.AspNetCore.Tests.Refresh;

/// <summary>
/// Background refresh regenerates from an in-memory copy of the request that won the claim, through hosts sharing one
/// backend: every ordinary policy setting keeps it working, a Host sent once does not come back at later refreshes on
/// any host, and a stopping host ends its copy and passes its claim on at once (design.md §2 invariants 1 and 2).
/// </summary>
public abstract class BackgroundCopyTests
{
    public static TheoryData<string, string> PolicySettings => new()
    {
        { "/page", "endpoint prefix" },
        { "/mvc/page", "endpoint prefix" },
        { "/page", "base prefix" },
        { "/mvc/page", "base prefix" },
        { "/page", "base and endpoint prefix" },
        { "/page", "no vary by host" },
        { "/mvc/page", "no vary by host" },
        { "/page", "vary by value" },
        { "/mvc/page", "vary by value" },
    };

    private protected abstract Task<HostFarm> StartFarmAsync(FarmSetup setup, string test);

    [Theory]
    [MemberData(nameof(PolicySettings))]
    public async Task PolicySetting_BackgroundRefreshStillRegeneratesOnce_NobodyWaits(string path, string setting)
    {
        // Defaults: background refresh is what a new app gets.
        await using var farm = await StartAsync(new FarmSetup
        {
            Hosts = 1,
            ConfigureMint = o =>
            {
                o.Grace = TimeSpan.FromMinutes(1);
                o.RefreshMode = new MintCacheOptions().RefreshMode;
            },
            PagePolicy = p =>
            {
                switch (setting)
                {
                    case "endpoint prefix" or "base and endpoint prefix": p.SetCacheKeyPrefix("tenant-a"); break;
                    case "no vary by host": p.SetVaryByHost(false); break;
                    case "vary by value": p.VaryByValue(c => new KeyValuePair<string, string>("lang", c.Request.Query["lang"].ToString())); break;
                }
            },
            ConfigureServices = services => services.Configure<OutputCacheOptions>(o =>
            {
                if (setting is "base prefix" or "base and endpoint prefix")
                {
                    o.AddBasePolicy(b => b.SetCacheKeyPrefix(c => "site-" + c.Request.Host.Host));
                }
            }),
        });
        var app = farm.A;
        var url = path + "?lang=fr";
        Assert.Equal("v1", await app.Client.GetStringAsync(url));
        await farm.GoStaleAsync();

        // The winner is served the stale page; the copy runs the endpoint behind the gate.
        Assert.Equal("v1", await app.Client.GetStringAsync(url));
        await farm.Page.RegenerationStarted.WaitAsync(HostFarm.Deadline);
        Assert.Equal("v1", await app.Client.GetStringAsync(url));
        farm.Page.OpenGate();
        await app.Logs.WaitUntilAsync(l => l["EntryStored"] >= 2, HostFarm.Deadline);

        await farm.WaitUntilAsync(async () => await app.Client.GetStringAsync(url) == "v2", "the regenerated page is served");
        Assert.Equal(2, farm.Page.Executions);
        Assert.Equal(1, app.Logs["BackgroundRegenerationStarted"]);
        Assert.Equal(0, app.Logs["ForegroundFallback"] + app.Logs["BackgroundRegenerationImpossible"] + app.Logs["BackgroundRegenerationNotStored"]);
    }

    [Fact]
    public async Task HostSentOnce_DoesNotComeBackAtLaterRefreshes_AcrossTwoHosts()
    {
        await using var farm = await StartAsync(new FarmSetup
        {
            ConfigureMint = o =>
            {
                o.Grace = TimeSpan.FromMinutes(1);
                o.RefreshMode = RefreshMode.Background;
            },
            MapMore = (web, fresh) => web.MapGet("/links", (HttpContext c) => $"links to {c.Request.Host}").CacheOutput(p => p.Expire(fresh).SetVaryByHost(false)),
        });
        Assert.Equal("links to www.example", await SendAsync(farm.A, "www.example"));

        // A forged Host wins one refresh on host A: its copy renders what the foreground would have.
        await farm.GoStaleAsync();
        Assert.Equal("links to www.example", await SendAsync(farm.A, "evil.example"));
        await farm.WaitUntilAsync(() => farm["EntryStored"] >= 2, "the forged refresh is stored");
        await farm.WaitUntilAsync(async () => await SendAsync(farm.B, "www.example") == "links to evil.example", "host B serves the forged refresh");

        // Then only honest requests, on host B: the next refresh copies one of them; nothing replays the forged Host.
        await farm.GoStaleAsync();
        Assert.Equal("links to evil.example", await SendAsync(farm.B, "www.example"));
        await farm.WaitUntilAsync(() => farm["EntryStored"] >= 3, "the honest refresh is stored");
        await farm.WaitUntilAsync(async () => await SendAsync(farm.B, "www.example") == "links to www.example", "an honest refresh replaces it");
        Assert.Equal("links to www.example", await SendAsync(farm.A, "www.example"));
        if (farm.IsExact)
        {
            Assert.Equal(2, farm["BackgroundRegenerationStarted"]);
        }

        static Task<string> SendAsync(TestApp host, string hostName) => host.SendAsync("/links", c => c.Request.Host = new HostString(hostName));
    }

    [Fact]
    public async Task HostStops_RunningCopyCancelledAndAwaited_ItsClaimReleasedForTheOtherHostAtOnce()
    {
        // A lease and a backoff far longer than the test: only an immediate release lets host B take the page over.
        await using var farm = await StartAsync(new FarmSetup
        {
            ConfigureMint = o =>
            {
                o.Grace = TimeSpan.FromMinutes(5);
                o.RefreshMode = RefreshMode.Background;
                o.LeaseDuration = TimeSpan.FromMinutes(1);
                o.FailureBackoff = TimeSpan.FromMinutes(1);
            },
        });
        Assert.Equal("v1", await farm.A.Client.GetStringAsync("/page"));
        await farm.GoStaleAsync();

        Assert.Equal("v1", await farm.A.Client.GetStringAsync("/page"));
        await farm.Page.RegenerationStarted.WaitAsync(HostFarm.Deadline);

        // The stop returns once the copy ended and its claim was released.
        await farm.A.StopAsync().WaitAsync(HostFarm.Deadline);
        Assert.Equal(0, farm.A.Services.GetRequiredService<AspNetCore.Refresh.BackgroundRegenerator>().Running);

        farm.Page.OpenGate();
        await farm.WaitUntilAsync(async () => await farm.B.Client.GetStringAsync("/page") == "v3", "B regenerates the page at once");
    }

    private Task<HostFarm> StartAsync(FarmSetup setup, [CallerMemberName] string test = "") => StartFarmAsync(setup, test);
}
