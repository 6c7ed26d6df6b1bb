using System.Diagnostics;
using System.Runtime.CompilerServices;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.OutputCaching;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using MintCache.AspNetCore.Backends;
using MintCache.AspNetCore.Backends.Redis;
using MintCache.AspNetCore.Store;

namespace MintCache.AspNetCore.Tests.Fixtures;

/// <summary>
/// One app host on a <see cref="TestServer"/> with its own service provider and MintCache store on a shared Redis:
/// what one process of a farm is. <c>GET /page</c> runs <see cref="Endpoint"/> under an output-cache policy.
/// </summary>
internal sealed class RedisHost : IAsyncDisposable
{
    private readonly WebApplication _app;

    private RedisHost(WebApplication app)
    {
        _app = app;
        Client = app.GetTestClient();
        Store = app.Services.GetRequiredService<MintOutputCacheStore>();
        Backend = (RedisBackend)app.Services.GetRequiredService<IMintBackend>();
        Logs = app.Services.GetRequiredService<FakeLogCollector>();
    }

    public HttpClient Client { get; }

    public MintOutputCacheStore Store { get; }

    public RedisBackend Backend { get; }

    public FakeLogCollector Logs { get; }

    public IServiceProvider Services => _app.Services;

    public static async Task<RedisHost> StartAsync(
        string redis,
        string prefix,
        GatedEndpoint endpoint,
        TimeSpan validFor,
        TimeSpan grace,
        Action<MintCacheOptions>? configure = null,
        TimeProvider? timeProvider = null,
        Action<WebApplication>? mapMore = null,
        Action<IServiceCollection>? configureServices = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseTestServer();

        // The content root is the test's output folder, which holds the sample's appsettings.json: not this host's.
        builder.Configuration.Sources.Clear();
        builder.Logging.ClearProviders();
        builder.Logging.AddFakeLogging();
        builder.Logging.SetMinimumLevel(LogLevel.Debug);
        if (timeProvider is not null)
        {
            builder.Services.AddSingleton(timeProvider);
        }

        builder.Services.AddOutputCache().AddMintStore(RedisStoreHarness.TestOptions(redis, prefix, configure));
        configureServices?.Invoke(builder.Services);

        var app = builder.Build();
        app.UseOutputCache();
        app.MapGet("/page", (Delegate)endpoint.HandleAsync)
            .CacheOutput(p => p.Expire(validFor).Grace(grace).Tag("pages"));
        app.MapGet("/other", (Delegate)endpoint.HandleAsync)
            .CacheOutput(p => p.Expire(TimeSpan.FromMinutes(5)).Tag("other"));
        mapMore?.Invoke(app);
        await app.StartAsync();
        return new RedisHost(app);
    }

    /// <summary>A key prefix no other test uses, so tests can share one server.</summary>
    public static string UniquePrefix([CallerMemberName] string test = "")
        => $"t:{test}:{Guid.NewGuid().ToString("N")[..8]}:";

    public int CountLogs(int eventId) => Logs.GetSnapshot().Count(r => r.Id.Id == eventId);

    /// <summary>Every record logged at <paramref name="minimum"/> or above, one a line, for an assertion's message.</summary>
    public string LogDigest(LogLevel minimum = LogLevel.Information) => Fixtures.LogDigest.Of(Logs, minimum);

    /// <summary>The server itself: <c>Server.SendAsync</c> sets what a client cannot, such as the Host or the connection.</summary>
    public TestServer Server => _app.GetTestServer();

    /// <summary>Stops the host as a shutdown would: the application's stopping token fires at once.</summary>
    public Task StopAsync() => _app.StopAsync();

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await _app.DisposeAsync();
    }
}

/// <summary>
/// An endpoint shared by every host of a test: counts its executions and, while <see cref="Close"/>d, holds each
/// execution until <see cref="Open"/>. Answers "page N" for the N-th execution.
/// </summary>
internal sealed class GatedEndpoint
{
    private static readonly TimeSpan GateTimeout = TimeSpan.FromSeconds(20);

    private TaskCompletionSource _gate = NewGate(open: true);
    private int _executions;
    private int _waiting;

    public int Executions => Volatile.Read(ref _executions);

    /// <summary>How many executions wait at the closed gate now.</summary>
    public int Waiting => Volatile.Read(ref _waiting);

    public bool IsClosed => !Volatile.Read(ref _gate).Task.IsCompleted;

    /// <summary>The status code each execution answers with; 200 unless a test says otherwise.</summary>
    public Func<int>? OnExecution { get; set; }

    public void Close() => Volatile.Write(ref _gate, NewGate(open: false));

    public void Open() => Volatile.Read(ref _gate).TrySetResult();

    public async Task<IResult> HandleAsync(HttpContext context)
    {
        var execution = Interlocked.Increment(ref _executions);
        Interlocked.Increment(ref _waiting);
        try
        {
            // Bounded: a bug that never opens the gate fails the test instead of hanging it.
            await Volatile.Read(ref _gate).Task.WaitAsync(GateTimeout, context.RequestAborted);
        }
        finally
        {
            Interlocked.Decrement(ref _waiting);
        }

        var status = OnExecution?.Invoke() ?? 200;
        return Results.Text("page " + execution, statusCode: status);
    }

    private static TaskCompletionSource NewGate(bool open)
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        if (open)
        {
            gate.SetResult();
        }

        return gate;
    }
}

/// <summary>Polls a condition until it holds or a deadline passes; never a fixed sleep standing in for a signal.</summary>
internal static class Eventually
{
    public static async Task<TimeSpan> HoldsAsync(Func<Task<bool>> condition, TimeSpan timeout, string what, Func<string>? explain = null)
    {
        var clock = Stopwatch.StartNew();
        while (!await condition())
        {
            if (clock.Elapsed > timeout)
            {
                throw new TimeoutException($"Not within {timeout}: {what}.{(explain is null ? "" : Environment.NewLine + explain())}");
            }

            await Task.Delay(10);
        }

        return clock.Elapsed;
    }

    public static Task<TimeSpan> HoldsAsync(Func<bool> condition, TimeSpan timeout, string what, Func<string>? explain = null)
        => HoldsAsync(() => Task.FromResult(condition()), timeout, what, explain);
}
