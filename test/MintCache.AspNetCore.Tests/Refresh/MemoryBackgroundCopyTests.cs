using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.OutputCaching;
using Microsoft.Extensions.DependencyInjection;
using MintCache.AspNetCore.Diagnostics;
using MintCache.AspNetCore.Tests.Fixtures;

namespace MintCache.AspNetCore.Tests.Refresh;

/// <summary>
/// Background refresh with hosts of this process sharing one memory backend, on a fake clock; and the copy's own
/// promises: the copy is exactly the winning request (its connection), and nothing a client sends can start, force,
/// skip or redirect a regeneration.
/// </summary>
/// <remarks>
/// The tests of the copy itself run here only: the copy is made from the request in the host before any backend is
/// asked, so another backend would change nothing they prove.
/// </remarks>
public sealed class MemoryBackgroundCopyTests : BackgroundCopyTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Copy_HasTheWinnersConnection_AndIsMarkedAsARegeneration()
    {
        await using var app = await TestApp.StartAsync(
            o => o.RefreshMode = RefreshMode.Background,
            mapMore: web => web.MapGet("/who", (HttpContext c) =>
                    $"{c.Connection.RemoteIpAddress}:{c.Connection.RemotePort} -> {c.Connection.LocalIpAddress}:{c.Connection.LocalPort} {c.Request.Scheme} regeneration={c.IsBackgroundRegeneration()}")
                .CacheOutput(p => p.Expire(TestApp.Fresh)));
        Assert.Equal("198.51.100.1:1111 -> 10.0.0.1:443 http regeneration=False", await SendAsync(app, "198.51.100.1", 1111));

        app.Time.Advance(TestApp.Fresh);
        Assert.Equal("198.51.100.1:1111 -> 10.0.0.1:443 http regeneration=False", await SendAsync(app, "203.0.113.7", 2222));
        await app.Logs.WaitUntilAsync(l => l["EntryStored"] >= 2, Deadline);

        // Not a null address, which some apps take for a local, trusted caller: the winner's, port for port.
        Assert.Equal("203.0.113.7:2222 -> 10.0.0.1:443 http regeneration=True", await SendAsync(app, "198.51.100.1", 1111));

        static Task<string> SendAsync(TestApp app, string remote, int port) => app.SendAsync("/who", c =>
        {
            c.Connection.RemoteIpAddress = IPAddress.Parse(remote);
            c.Connection.RemotePort = port;
            c.Connection.LocalIpAddress = IPAddress.Parse("10.0.0.1");
            c.Connection.LocalPort = 443;
        });
    }

    public static TheoryData<string, string> ForgedInputs => new()
    {
        { "X-MintCache-Regeneration", "1" },
        { "mint.regeneration", "1" },
        { "Cache-Control", "no-cache" },
        { "Pragma", "no-cache" },
        { "X-Forwarded-Host", "evil.example" },
    };

    [Theory]
    [MemberData(nameof(ForgedInputs))]
    public async Task ForgedHeader_NeitherStartsNorForcesNorSkipsARegeneration(string header, string value)
    {
        await using var app = await TestApp.StartAsync(o => o.RefreshMode = RefreshMode.Background);
        Assert.Equal("v1", await app.Client.GetStringAsync("/page"));

        // Fresh: served from the cache, nothing starts.
        Assert.Equal("v1", await ForgedAsync(app, header, value));
        Assert.Equal(0, app.Logs["ClaimWon"] + app.Logs["BackgroundRegenerationStarted"]);
        Assert.Equal(1, app.Page.Executions);

        // Stale: served stale like everyone; one regeneration, the normal one.
        app.Time.Advance(TestApp.Fresh);
        for (var i = 0; i < 5; i++)
        {
            Assert.Equal("v1", await ForgedAsync(app, header, value));
        }

        await app.Page.RegenerationStarted.WaitAsync(Deadline);
        Assert.Equal(1, app.Logs["BackgroundRegenerationStarted"]);
        Assert.Equal(2, app.Page.Executions);
        app.Page.OpenGate();
        await app.Logs.WaitUntilAsync(l => l["EntryStored"] >= 2, Deadline);
        Assert.Equal("v2", await ForgedAsync(app, header, value));
        Assert.Equal(2, app.Page.Executions);

        static async Task<string> ForgedAsync(TestApp app, string header, string value)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "/page");
            request.Headers.TryAddWithoutValidation(header, value);
            return await (await app.Client.SendAsync(request)).Content.ReadAsStringAsync();
        }
    }

    [Fact]
    public async Task QueryNamedLikeTheMarker_IsAnOrdinaryVaryByQuery_ServedFromTheCache()
    {
        // A page that varies by a query key spelled like MintCache's marker: the key then holds the marker's text, and
        // still only a regeneration's own request is treated as one.
        await using var app = await TestApp.StartAsync(o => o.RefreshMode = RefreshMode.Background, pagePolicy: p => p.SetVaryByQuery("mint.regeneration"));
        Assert.Equal("v1", await app.Client.GetStringAsync("/page?mint.regeneration=1"));
        Assert.Equal("v1", await app.Client.GetStringAsync("/page?mint.regeneration=1"));
        Assert.Equal(1, app.Page.Executions);
        Assert.Equal(0, app.Logs["BackgroundRegenerationStarted"]);
    }

    [Fact]
    public async Task CopyKeyedApart_IsRefreshedInTheForeground_LoggedOncePerEndpoint()
    {
        // A vary-by value that the copy does not reproduce: its page would belong under another key than the claim's.
        await using var app = await TestApp.StartAsync(
            o =>
            {
                o.RefreshMode = RefreshMode.Background;
                o.FailureBackoff = TimeSpan.FromSeconds(1);
            },
            pagePolicy: p => p.VaryByValue(c => new KeyValuePair<string, string>("origin", c.IsBackgroundRegeneration() ? "copy" : "user")));
        app.Page.UngatedExecutions = int.MaxValue;
        Assert.Equal("v1", await app.Client.GetStringAsync("/page"));
        app.Time.Advance(TestApp.Fresh);

        // The copy renders but stores nothing, and says why, once.
        Assert.Equal("v1", await app.Client.GetStringAsync("/page"));
        // Waited for by the claim's release, which starts the backoff on the fake clock before the test moves it.
        await app.Logs.WaitUntilAsync(l => l["BackgroundRegenerationImpossible"] == 1 && l["RegenerationNotStored"] == 1, Deadline);
        Assert.Equal(2, app.Page.Executions);
        Assert.Equal(1, app.Logs["EntryStored"]);

        // After the backoff the next winner renders in the foreground, and so do the endpoint's later refreshes.
        app.Time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal("v3", await app.Client.GetStringAsync("/page"));
        app.Time.Advance(TestApp.Fresh);
        Assert.Equal("v4", await app.Client.GetStringAsync("/page"));
        Assert.Equal("v4", await app.Client.GetStringAsync("/page"));
        Assert.Equal(1, app.Logs["BackgroundRegenerationStarted"]);
        Assert.Equal(1, app.Logs["BackgroundRegenerationImpossible"]);
        Assert.Equal(Log.IdBackgroundRegenerationImpossible, app.Logs.Collector.GetSnapshot().Single(r => r.Id.Name == "BackgroundRegenerationImpossible").Id.Id);
    }

    [Fact]
    public async Task CopyAnsweredWithAnUncachedStatus_NextRefreshRunsInTheForeground()
    {
        // The copy lacks something its original had (here: it is answered 401), so its response is not stored: the
        // next claim renders in the foreground, and the page is refreshed after all.
        await using var app = await TestApp.StartAsync(
            o =>
            {
                o.RefreshMode = RefreshMode.Background;
                o.FailureBackoff = TimeSpan.FromSeconds(1);
            },
            mapMore: web => web.MapGet("/fussy", (HttpContext c) => c.IsBackgroundRegeneration() ? Results.Unauthorized() : Results.Text("fresh for users"))
                .CacheOutput(p => p.Expire(TestApp.Fresh)));
        Assert.Equal("fresh for users", await app.Client.GetStringAsync("/fussy"));
        app.Time.Advance(TestApp.Fresh);

        Assert.Equal("fresh for users", await app.Client.GetStringAsync("/fussy"));
        await app.Logs.WaitUntilAsync(l => l["BackgroundRegenerationNotStored"] == 1 && l["RegenerationNotStored"] == 1, Deadline);

        app.Time.Advance(TimeSpan.FromSeconds(1));
        using var foreground = await app.Client.GetAsync("/fussy");
        Assert.Equal(HttpStatusCode.OK, foreground.StatusCode);
        await app.Logs.WaitUntilAsync(l => l["EntryStored"] >= 2, Deadline);
        Assert.Equal(1, app.Logs["BackgroundRegenerationStarted"]);
        Assert.Equal(1, app.Logs["ForegroundFallback"]);
    }

    private protected override async Task<HostFarm> StartFarmAsync(FarmSetup setup, string test) => await MemoryFarm.StartAsync(setup);
}
