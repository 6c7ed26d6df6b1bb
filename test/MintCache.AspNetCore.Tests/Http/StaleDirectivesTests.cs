using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.OutputCaching;
using Microsoft.Extensions.DependencyInjection;
using MintCache.AspNetCore.Backends.Redis;
using MintCache.AspNetCore.Entries;
using MintCache.AspNetCore.Tests.Fixtures;
using StackExchange.Redis;

namespace MintCache.AspNetCore.Tests.Http;

/// <summary>
/// RFC 5861 from the response itself: <c>stale-while-revalidate=N</c> is the page's grace and <c>stale-if-error=N</c>
/// its fail-safe, over the policy's and the options'. Through real hosts, on both backends.
/// </summary>
public sealed class StaleDirectivesTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task StaleWhileRevalidate_IsThePagesGrace_NotServedPastIt()
    {
        var origin = new Origin("max-age=0, stale-while-revalidate=1");
        var control = new Origin(null);
        await using var app = await StartAsync(origin, control, o => o.Grace = TimeSpan.FromSeconds(10));
        Assert.Equal("v1", await app.Client.GetStringAsync("/swr"));
        Assert.Equal("v1", await app.Client.GetStringAsync("/control"));

        // Fresh 0.5 s, then stale for the response's own second, not the options' ten: at 2.5 s the page is gone.
        app.Time.Advance(TimeSpan.FromSeconds(2.5));
        Assert.Equal("v2", await app.Client.GetStringAsync("/swr"));
        Assert.Equal("v1", await app.Client.GetStringAsync("/control"));
    }

    [Fact]
    public async Task StaleWhileRevalidate_Off_OptionsGraceApplies()
    {
        var origin = new Origin("max-age=0, stale-while-revalidate=1");
        await using var app = await StartAsync(origin, new Origin(null), o =>
        {
            o.Grace = TimeSpan.FromSeconds(10);
            o.HonorResponseStaleDirectives = false;
        });
        Assert.Equal("v1", await app.Client.GetStringAsync("/swr"));
        app.Time.Advance(TimeSpan.FromSeconds(2.5));
        Assert.Equal("v1", await app.Client.GetStringAsync("/swr"));
    }

    [Fact]
    public async Task StaleIfError_KeepsThePageThroughFailures_ForItsWindow()
    {
        var origin = new Origin("max-age=1, stale-if-error=20");
        await using var app = await StartAsync(origin, new Origin(null), o =>
        {
            o.Grace = TimeSpan.FromSeconds(1);
            o.FailureBackoff = TimeSpan.FromMilliseconds(500);
        });
        Assert.Equal("v1", await app.Client.GetStringAsync("/swr"));
        origin.Failing = true;

        // Stale at 0.5 s, expired at 1.5 s without the directive; with it, in service up to 1.5 + 20 s while the
        // background regenerations fail, one every backoff.
        var failures = 0;
        for (var elapsed = TimeSpan.FromSeconds(0.5); elapsed < TimeSpan.FromSeconds(21.5); elapsed += TimeSpan.FromMilliseconds(500))
        {
            app.Time.Advance(elapsed == TimeSpan.FromSeconds(0.5) ? elapsed : TimeSpan.FromMilliseconds(500));
            var response = await app.Client.GetAsync("/swr");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("v1", await response.Content.ReadAsStringAsync());
            failures++;
            await app.Logs.WaitUntilAsync(l => l["RegenerationNotStored"] >= failures, Deadline);
        }

        app.Time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(HttpStatusCode.InternalServerError, (await app.Client.GetAsync("/swr")).StatusCode);
    }

    [Theory]
    [InlineData("stale-while-revalidate=abc")]
    [InlineData("stale-while-revalidate=-5")]
    [InlineData("stale-while-revalidate")]
    public async Task MalformedDirective_Ignored_OptionsGraceApplies(string cacheControl)
    {
        var origin = new Origin(cacheControl);
        await using var app = await StartAsync(origin, new Origin(null), o => o.Grace = TimeSpan.FromSeconds(10));
        Assert.Equal("v1", await app.Client.GetStringAsync("/swr"));
        await app.Logs.WaitUntilAsync(l => l["EntryStored"] == 1, Deadline);
        Assert.Equal(1, app.Logs["StaleDirectiveIgnored"]);
        app.Time.Advance(TimeSpan.FromSeconds(5));
        Assert.Equal("v1", await app.Client.GetStringAsync("/swr"));
    }

    [Fact]
    public void AbsurdDirective_CappedAtTheMaximum()
    {
        var directives = StaleDirectives.Parse("stale-while-revalidate=99999999999999999999, stale-if-error=3000000000", out var rejected);
        Assert.Null(rejected);
        Assert.Equal(StaleDirectives.Max, directives.StaleWhileRevalidate);
        Assert.Equal(StaleDirectives.Max, directives.StaleIfError);
    }

    private static Task<TestApp> StartAsync(Origin origin, Origin control, Action<MintCacheOptions> configure)
        => TestApp.StartAsync(
            o =>
            {
                o.RefreshMode = RefreshMode.Background;
                configure(o);
            },
            mapMore: app =>
            {
                app.MapGet("/swr", (Delegate)origin.HandleAsync).CacheOutput(p => p.Expire(TimeSpan.FromMilliseconds(500)));
                app.MapGet("/control", (Delegate)control.HandleAsync).CacheOutput(p => p.Expire(TimeSpan.FromMilliseconds(500)));
            });

    /// <summary>An endpoint answering "vN" with the given <c>Cache-Control</c>, or a 500 once failing.</summary>
    internal sealed class Origin(string? cacheControl)
    {
        private int _executions;

        public bool Failing { get; set; }

        public Task<IResult> HandleAsync(HttpContext context)
        {
            var execution = Interlocked.Increment(ref _executions);
            if (Failing)
            {
                return Task.FromResult(Results.StatusCode(StatusCodes.Status500InternalServerError));
            }

            if (cacheControl is not null)
            {
                context.Response.Headers.CacheControl = cacheControl;
            }

            return Task.FromResult(Results.Text("v" + execution));
        }
    }
}

/// <summary>The same directives on Redis: the stored header carries the response's windows, and they hold end to end.</summary>
public sealed class RedisStaleDirectivesTests(RedisServerFixture redis) : IClassFixture<RedisServerFixture>
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task ResponseDirectives_AreTheEntrysGraceAndFailSafe_OnRedis()
    {
        var prefix = RedisHost.UniquePrefix();
        var origin = new StaleDirectivesTests.Origin("max-age=0, stale-while-revalidate=1, stale-if-error=20");
        await using var host = await RedisHost.StartAsync(redis.Endpoint, prefix, new GatedEndpoint(), TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(10), o =>
        {
            o.Grace = TimeSpan.FromSeconds(10);
            o.RefreshMode = RefreshMode.Background;
        }, mapMore: app => app.MapGet("/swr", (Delegate)origin.HandleAsync).CacheOutput(p => p.Expire(TimeSpan.FromMilliseconds(500))));
        Assert.Equal("v1", await host.Client.GetStringAsync("/swr"));

        var server = redis.Multiplexer.GetServer(redis.Multiplexer.GetEndPoints()[0]);
        var entryKeys = new List<RedisKey>();
        await foreach (var key in server.KeysAsync(pattern: prefix + "{*}:e"))
        {
            entryKeys.Add(key);
        }

        var value = (byte[])(await redis.Database.StringGetAsync(Assert.Single(entryKeys)))!;
        Assert.Equal(EntryRejectReason.None, RedisEntryFormat.TryReadHeader(value, out var staleAt, out var expiresAt, out _));
        var failSafeUntil = (long)System.Buffers.Binary.BinaryPrimitives.ReadUInt64BigEndian(value.AsSpan(32));
        Assert.Equal(1000, expiresAt - staleAt);
        Assert.Equal(20_000, failSafeUntil - expiresAt);

        // While the origin fails, the page stays in service past its second of grace.
        origin.Failing = true;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromSeconds(3))
        {
            var response = await host.Client.GetAsync("/swr");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("v1", await response.Content.ReadAsStringAsync());
        }
    }

    [Fact]
    public async Task StaleWhileRevalidate_PageNeverServedPastItsOwnWindow_OnRedis()
    {
        // The first try on Redis: cached 0.5 s with stale-while-revalidate=1 under an options grace of 10 s.
        var prefix = RedisHost.UniquePrefix();
        var origin = new StaleDirectivesTests.Origin("max-age=0, stale-while-revalidate=1");
        await using var host = await RedisHost.StartAsync(redis.Endpoint, prefix, new GatedEndpoint(), TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(10), o =>
        {
            o.Grace = TimeSpan.FromSeconds(10);
            o.Redis.NearCache = false;
        }, mapMore: app => app.MapGet("/swr", (Delegate)origin.HandleAsync).CacheOutput(p => p.Expire(TimeSpan.FromMilliseconds(500))));
        Assert.Equal("v1", await host.Client.GetStringAsync("/swr"));

        var server = redis.Multiplexer.GetServer(redis.Multiplexer.GetEndPoints()[0]);
        RedisKey entry = default;
        await foreach (var key in server.KeysAsync(pattern: prefix + "{*}:e"))
        {
            entry = key;
        }

        var value = (byte[])(await redis.Database.StringGetAsync(entry))!;
        Assert.Equal(EntryRejectReason.None, RedisEntryFormat.TryReadHeader(value, out _, out var expiresAt, out _));

        // Past the response's own window, on the server's clock: the page is gone, whatever the options' grace says.
        await redis.WaitUntilServerTimeAsync(expiresAt, Deadline, "the response's stale-while-revalidate ran out");
        Assert.Equal("v2", await host.Client.GetStringAsync("/swr"));
    }
}
