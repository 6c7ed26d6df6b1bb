using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.OutputCaching;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using Microsoft.Extensions.Time.Testing;

namespace MintCache.AspNetCore.Tests.Fixtures;

/// <summary>
/// A real ASP.NET Core host on <see cref="TestServer"/>, with output caching on MintCache, a fake clock for the
/// store, a gated page as a minimal API (<c>/page</c>) and as an MVC action (<c>/mvc/page</c>), and log counts.
/// </summary>
internal sealed class TestApp : IAsyncDisposable
{
    public static readonly TimeSpan Fresh = TimeSpan.FromSeconds(10);

    private readonly WebApplication _app;

    private TestApp(WebApplication app, FakeTimeProvider time, LogEvents logs)
    {
        _app = app;
        Time = time;
        Logs = logs;
        Page = app.Services.GetRequiredService<GatedPage>();
        Client = app.GetTestClient();
        Client.Timeout = TimeSpan.FromSeconds(30); // a stuck request fails the test instead of hanging it
    }

    public FakeTimeProvider Time { get; }

    public LogEvents Logs { get; }

    public GatedPage Page { get; }

    public HttpClient Client { get; }

    public IServiceProvider Services => _app.Services;

    /// <summary>The server itself: <c>Server.SendAsync</c> sets what a client cannot, such as the connection's addresses.</summary>
    public TestServer Server => _app.GetTestServer();

    /// <summary>Sends a GET through <see cref="Server"/>, after <paramref name="configure"/> sets up the request; returns the body.</summary>
    public Task<string> SendAsync(string path, Action<HttpContext> configure) => Server.GetBodyAsync(path, configure);

    /// <summary>Stops the host (as a shutdown would) before disposal.</summary>
    public Task StopAsync() => _app.StopAsync();

    public static async Task<TestApp> StartAsync(
        Action<MintCacheOptions>? configureMint = null,
        Action<OutputCachePolicyBuilder>? pagePolicy = null,
        Action<IServiceCollection>? configureServices = null,
        FakeTimeProvider? time = null,
        Action<WebApplication>? mapMore = null,
        TimeProvider? clock = null,
        TimeSpan? fresh = null)
    {
        time ??= new FakeTimeProvider(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
        var logs = new LogEvents();
        var builder = WebApplication.CreateBuilder();

        // The test output holds the sample's appsettings.json (copied with the WebDemo reference): the host must
        // run on the options each test gives, not the sample's.
        builder.Configuration.Sources.Clear();
        builder.WebHost.UseTestServer();
        builder.Logging.ClearProviders().AddProvider(new FakeLoggerProvider(logs.Collector)).AddFilter<FakeLoggerProvider>(null, LogLevel.Debug);
        // The host decides on the fake clock unless it is given another: a Redis host decides on the server's clock,
        // and its leases are renewed on real time.
        builder.Services.AddSingleton<TimeProvider>(clock ?? time);
        builder.Services.AddSingleton<GatedPage>();
        builder.Services.AddControllers().AddApplicationPart(typeof(TestApp).Assembly);
        builder.Services.AddOutputCache(o =>
        {
            o.AddPolicy("gated", p =>
            {
                p.Expire(fresh ?? Fresh);
                pagePolicy?.Invoke(p);
            });
        }).AddMintStore(o =>
        {
            // Most tests here pin down the foreground path (the request that wins the claim renders); the tests of the
            // background path, the default, ask for it, and the tests of the defaults start from new options.
            o.RefreshMode = RefreshMode.Foreground;
            configureMint?.Invoke(o);
        });
        configureServices?.Invoke(builder.Services);

        var app = builder.Build();
        app.UseOutputCache();
        app.MapGet("/page", async (GatedPage page, HttpContext context) =>
        {
            var credentials = $"{context.Request.Headers.Cookie}|{context.Request.Headers.Authorization}";
            var (status, body) = await page.RenderAsync(context.RequestAborted, credentials, context.IsBackgroundRegeneration());
            return Results.Text(body, statusCode: status);
        }).CacheOutput("gated");
        app.MapControllers();
        mapMore?.Invoke(app);
        await app.StartAsync();
        return new TestApp(app, time, logs);
    }

    /// <summary>
    /// Renders the page, then refreshes it once through the claim path, ungated: afterwards "v2" is cached and fresh.
    /// A storm measured next sees warmed code, as in a process that has served for a while: the first claim of a
    /// process pays for JIT compilation inside the lookup the middleware shares.
    /// </summary>
    public async Task WarmUpClaimPathAsync(string path)
    {
        Page.UngatedExecutions = 2;
        Assert.Equal("v1", await Client.GetStringAsync(path));
        Time.Advance(Fresh);
        Assert.Equal("v2", await Client.GetStringAsync(path)); // the lone lookup past stale-at wins the claim
        await Logs.WaitUntilAsync(l => l["EntryStored"] >= 2, TimeSpan.FromSeconds(30));
        Assert.Equal("v2", await Client.GetStringAsync(path));
        Assert.Equal(2, Page.Executions);
    }

    public async ValueTask DisposeAsync()
    {
        Page.OpenGate();
        Client.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}

/// <summary>The gated page as an MVC action, cached through the same named policy.</summary>
[ApiController]
[Route("mvc/page")]
public sealed class GatedPageController(GatedPage page) : ControllerBase
{
    [HttpGet]
    [OutputCache(PolicyName = "gated")]
    public async Task<IActionResult> Get()
    {
        var (status, body) = await page.RenderAsync(HttpContext.RequestAborted);
        return new ContentResult { StatusCode = status, Content = body, ContentType = "text/plain" };
    }
}
