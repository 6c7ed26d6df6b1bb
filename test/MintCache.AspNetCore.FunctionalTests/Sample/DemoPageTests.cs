using System.Net;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;
using MintCache.AspNetCore.Tests.Fixtures;
using Xunit.Abstractions;

namespace MintCache.AspNetCore.FunctionalTests.Sample;

/// <summary>
/// The sample's live demo page in headless Chromium (Debian's <c>chromium</c>, driven by Playwright; no browser is
/// downloaded): a storm fired from the page at a stale <c>/slow</c> shows exactly one regeneration.
/// </summary>
/// <remarks>
/// Under <c>CI=true</c> a missing browser fails the test: CI must install it (<c>.ci/run</c> does). Elsewhere it skips.
/// </remarks>
[Collection(SerialCollection.Name)]
public sealed class DemoPageTests(ITestOutputHelper output)
{
    private const string Chromium = "/usr/bin/chromium";
    private const int StormSize = 60;
    private static readonly TimeSpan Fresh = TimeSpan.FromSeconds(2); // /slow's expiration in the sample

    [SkippableFact]
    public async Task DemoPage_StormFromBrowser_OneBackgroundRegeneration_EveryRequestServedStale()
    {
        if (!File.Exists(Chromium))
        {
            Assert.False(
                string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase),
                $"{Chromium} is missing under CI=true: install Debian's chromium package (.ci/run does).");
            Skip.If(true, $"{Chromium} is missing (apt-get install -y chromium); CI is not set, so the test skips.");
        }

        // The sample as a user runs it, on Kestrel: a real browser needs a real socket.
        // The store's clock is a fake one the test moves, so the page is stale exactly when the test says so.
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var root = new WebApplicationFactory<Program>();
        // A regeneration far longer than the sample's 300 ms, so that even a browser slowed by a busy machine sends
        // the rest of its storm while the page is being regenerated.
        await using var factory = root.WithWebHostBuilder(web => web
            .UseSetting("Demo:GenerationDelayMs", "3000")
            .ConfigureTestServices(services => services.AddSingleton<TimeProvider>(time)));
        factory.UseKestrel(o => o.Listen(IPAddress.Loopback, 0));
        factory.StartServer();
        var address = factory.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        using var http = new HttpClient { BaseAddress = new Uri(address), Timeout = TimeSpan.FromSeconds(30) };

        // Stale: stored once, then past its two seconds of freshness (well inside its grace).
        await http.GetStringAsync("/slow");

        // The middleware stores the page after the client has read it: wait (bounded) until it is served from the
        // cache, so that the clock moves past the freshness of a page that is really stored.
        for (var attempt = 0; ; attempt++)
        {
            using var probe = await http.GetAsync("/slow");
            if (probe.Headers.TryGetValues("Cache-Status", out var status) && status.Any(v => v.Contains("; hit", StringComparison.Ordinal)))
            {
                break;
            }

            Assert.True(attempt < 100, "the first render of /slow was never stored");
        }

        time.Advance(Fresh);
        (await http.PostAsync("/stats/reset", null)).EnsureSuccessStatusCode();

        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new()
        {
            ExecutablePath = Chromium,
            Headless = true,
            Timeout = 30_000,
            Args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
        });
        var page = await browser.NewPageAsync(new() { ViewportSize = new() { Width = 1000, Height = 900 } });
        page.SetDefaultTimeout(30_000);
        await page.GotoAsync(address);

        await page.FillAsync("#count", StormSize.ToString(System.Globalization.CultureInfo.InvariantCulture));
        await page.ClickAsync("#fire");
        await Assertions.Expect(page.Locator("#status")).ToHaveAttributeAsync("data-done", "1");

        var fresh = await NumberAsync(page, "#count-fresh");
        var stale = await NumberAsync(page, "#count-stale");
        var regenerated = await NumberAsync(page, "#count-regenerated");
        var executions = await NumberAsync(page, "#storm-executions");
        output.WriteLine($"storm of {StormSize} from the browser: {fresh} fresh, {stale} stale, {regenerated} regenerated, {executions} endpoint executions; slowest {await page.TextContentAsync("#storm-slowest")} ms");

        // The default background refresh: no request waits for the regeneration, a copy of the first one runs it.
        Assert.Equal(0, regenerated);
        Assert.Equal(1, executions);
        Assert.Equal(StormSize, fresh + stale);
        Assert.True(stale > 0, "no request was served the stale page");

        // The server's own metrics, polled by the page, agree: one claim won, one regeneration stored, and every
        // lookup of the storm a hit (the stale ones included); none found the page absent.
        await Assertions.Expect(page.Locator("#server-claims")).ToHaveTextAsync("1");
        await Assertions.Expect(page.Locator("#server-miss-stale")).ToHaveTextAsync("0");
        await Assertions.Expect(page.Locator("#server-miss-absent")).ToHaveTextAsync("0");
        await Assertions.Expect(page.Locator("#server-hit-stale")).ToHaveTextAsync(new Regex("^[1-9][0-9]*$"));
        await Assertions.Expect(page.Locator("#server-regenerations")).ToHaveTextAsync("1");
        await Assertions.Expect(page.Locator("#server-executions")).ToHaveTextAsync("1");

        var screenshot = Path.Combine(AppContext.BaseDirectory, "screenshots", "demo-page.png");
        Directory.CreateDirectory(Path.GetDirectoryName(screenshot)!);
        await page.ScreenshotAsync(new() { Path = screenshot, FullPage = true });
        output.WriteLine($"screenshot: {screenshot}");
    }

    [Fact]
    public async Task Help_KeepsTheTextMenu()
    {
        await using var factory = new WebApplicationFactory<Program>();
        using var client = factory.CreateClient();
        Assert.Contains("POST /evict/{tag}", await client.GetStringAsync("/help"), StringComparison.Ordinal);
        Assert.Contains("MintCache live demo", await client.GetStringAsync("/"), StringComparison.Ordinal);
    }

    private static async Task<int> NumberAsync(IPage page, string selector)
        => int.Parse(await page.TextContentAsync(selector) ?? "", System.Globalization.CultureInfo.InvariantCulture);
}
