using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using Microsoft.Extensions.Time.Testing;

namespace MintCache.AspNetCore.Tests.Fixtures;

/// <summary>
/// A real Kestrel host on 127.0.0.1 (a free port) with output caching on MintCache's memory backend and a fake clock:
/// for what only a real server has (its features, its execution context per request). <paramref name="front"/> runs
/// in front of <c>UseOutputCache()</c>, as request logging and telemetry enrichers do.
/// </summary>
internal sealed class KestrelApp : IAsyncDisposable
{
    private readonly WebApplication _app;

    private KestrelApp(WebApplication app, FakeTimeProvider time, LogEvents logs, Uri address)
    {
        _app = app;
        Time = time;
        Logs = logs;
        Client = new HttpClient { BaseAddress = address, Timeout = TimeSpan.FromSeconds(30) };
    }

    public FakeTimeProvider Time { get; }

    public LogEvents Logs { get; }

    public HttpClient Client { get; }

    public IServiceProvider Services => _app.Services;

    public static async Task<KestrelApp> StartAsync(
        Action<MintCacheOptions> configureMint,
        Action<WebApplication> map,
        Func<HttpContext, RequestDelegate, Task>? front = null,
        Action<IServiceCollection>? configureServices = null)
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
        var logs = new LogEvents();
        var builder = WebApplication.CreateSlimBuilder();
        builder.Configuration.Sources.Clear();
        builder.WebHost.UseKestrel(k => k.Listen(System.Net.IPAddress.Loopback, 0));
        builder.Logging.ClearProviders().AddProvider(new FakeLoggerProvider(logs.Collector)).AddFilter<FakeLoggerProvider>(null, LogLevel.Debug);
        builder.Services.AddSingleton<TimeProvider>(time);
        builder.Services.AddHttpContextAccessor();
        builder.Services.AddOutputCache().AddMintStore(configureMint);
        configureServices?.Invoke(builder.Services);

        var app = builder.Build();
        if (front is not null)
        {
            app.Use(front);
        }

        app.UseOutputCache();
        map(app);
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new KestrelApp(app, time, logs, new Uri(address));
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
