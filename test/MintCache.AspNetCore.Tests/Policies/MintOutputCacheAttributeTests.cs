using System.Collections.Concurrent;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.OutputCaching;
using Microsoft.Extensions.DependencyInjection;
using MintCache.AspNetCore.Policies;
using MintCache.AspNetCore.Store;
using MintCache.AspNetCore.Tests.Fixtures;

namespace MintCache.AspNetCore.Tests.Policies;

/// <summary>
/// <c>[MintOutputCache]</c> on MVC controllers and actions through a real host: it hands the store what the builder
/// extensions hand it, and composes with <c>[OutputCache]</c> as its remarks say.
/// </summary>
public sealed class MintOutputCacheAttributeTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan DefaultGrace = TimeSpan.FromSeconds(5);

    [Fact]
    public async Task OnAction_StoresExactlyWhatTheBuilderExtensionsStore()
    {
        await using var app = await StartAsync(mapMore: web => web
            .MapGet("/mint-builder/all/{id}", (string id, RenderCounter counter) => $"{id}:{counter.Next()}")
            .CacheOutput(p => p
                .SetVaryByQuery("q").SetVaryByHeader("X-Variant").SetVaryByRouteValue("id")
                .Tag("news", "front").Expire(TimeSpan.FromSeconds(10)).Grace(TimeSpan.FromSeconds(60)).Refresh(RefreshMode.Background)));
        var store = app.Services.GetRequiredService<RecordingStore>();

        await GetAsync(app, "/mint-builder/all/1?q=a", variant: "x");
        await GetAsync(app, "/mint-attr/all/1?q=a", variant: "x");

        var (builder, attribute) = (store.Single("/MINT-BUILDER/"), store.Single("/MINT-ATTR/"));
        Assert.Equal(builder.ValidFor, attribute.ValidFor);
        AssertTags(builder.Tags, attribute.Tags);
        Assert.Contains(ReservedTags.ForGrace(TimeSpan.FromSeconds(60)), attribute.Tags);
        Assert.Contains(ReservedTags.ForRefresh(RefreshMode.Background), attribute.Tags);

        // Same vary-by rules: the keys differ by their path only.
        Assert.Equal(builder.Key.Replace("/MINT-BUILDER/", "/MINT-ATTR/", StringComparison.Ordinal), attribute.Key);
    }

    [Fact]
    public async Task OnAction_VariesByQueryKeysHeaderNamesAndRouteValues()
    {
        await using var app = await StartAsync();

        Assert.Equal("1:1", await GetAsync(app, "/mint-attr/all/1?q=a"));
        Assert.Equal("1:1", await GetAsync(app, "/mint-attr/all/1?q=a&other=z")); // not a vary-by key
        Assert.Equal("1:2", await GetAsync(app, "/mint-attr/all/1?q=b"));
        Assert.Equal("1:3", await GetAsync(app, "/mint-attr/all/1?q=a", variant: "x"));
        Assert.Equal("2:4", await GetAsync(app, "/mint-attr/all/2?q=a"));
        Assert.Equal("1:3", await GetAsync(app, "/mint-attr/all/1?q=a", variant: "x"));
    }

    [Fact]
    public async Task Grace_OnMvcAction_KeepsServingStaleBeyondTheDefaultGrace()
    {
        await using var app = await StartAsync();

        Assert.Equal("v1", await app.Client.GetStringAsync("/mint-attr/gated"));
        app.Time.Advance(TimeSpan.FromSeconds(10) + TimeSpan.FromSeconds(30));

        var regeneration = app.Client.GetStringAsync("/mint-attr/gated");
        await app.Page.RegenerationStarted.WaitAsync(Deadline);

        // Past the default grace (5 s) but within the attribute's (60 s): served stale while the regeneration is gated.
        Assert.Equal("v1", await app.Client.GetStringAsync("/mint-attr/gated"));
        app.Page.OpenGate();
        Assert.Equal("v2", await regeneration.WaitAsync(Deadline));
    }

    /// <summary>
    /// <c>[OutputCache]</c> is not an <see cref="IOutputCachePolicy"/>: the middleware runs the endpoint's last policy
    /// (this attribute) and then <c>[OutputCache]</c>'s, whatever the order or place they are declared in.
    /// </summary>
    [Theory]
    [InlineData("/mint-attr/beside-mint-first")]
    [InlineData("/mint-attr/beside-oc-first")]
    [InlineData("/mint-on-controller/beside")]
    [InlineData("/oc-on-controller/beside")]
    public async Task BesideOutputCache_BothApply_OutputCacheWinsWhereBothSet_TagsAddUp(string path)
    {
        await using var app = await StartAsync();
        var store = app.Services.GetRequiredService<RecordingStore>();

        var first = await GetAsync(app, path);
        Assert.Equal(first, await GetAsync(app, path)); // cached

        var stored = Assert.Single(store.Stored);
        Assert.Equal(TimeSpan.FromSeconds(5), stored.ValidFor); // [OutputCache(Duration = 5)] over [MintOutputCache(Duration = 20)]
        AssertTags(["mint", "oc", ReservedTags.ForGrace(TimeSpan.FromSeconds(60))], stored.Tags);
    }

    [Fact]
    public async Task BesideOutputCache_ItsDefaultPolicyVariesByEveryQueryKey()
    {
        await using var app = await StartAsync();

        // Alone, [MintOutputCache(VaryByQueryKeys = ["q"])] ignores "other" (OnAction_VariesBy...); beside a plain
        // [OutputCache], whose default policy runs after it and varies by "*", it no longer does.
        Assert.Equal("1", await GetAsync(app, "/mint-attr/beside-query?q=a&other=1"));
        Assert.Equal("2", await GetAsync(app, "/mint-attr/beside-query?q=a&other=2"));
        Assert.Equal("1", await GetAsync(app, "/mint-attr/beside-query?q=a&other=1"));
    }

    [Fact]
    public async Task OnActionAndController_ActionReplacesControllerWhole()
    {
        await using var app = await StartAsync();
        var store = app.Services.GetRequiredService<RecordingStore>();

        await GetAsync(app, "/mint-on-controller/replaced");

        var stored = Assert.Single(store.Stored);
        AssertTags(["action", ReservedTags.ForGrace(TimeSpan.FromSeconds(30))], stored.Tags);
        Assert.Equal(TimeSpan.FromSeconds(60), stored.ValidFor); // the controller's Duration = 20 is not merged in
    }

    [Fact]
    public async Task NotTheLastPolicy_DoesNothing_LastPolicy_Applies()
    {
        await using var app = await StartAsync(mapMore: web =>
        {
            web.MapGet("/hidden", (RenderCounter counter) => $"{counter.Next()}")
                .WithMetadata(new MintOutputCacheAttribute { Grace = 60, Tags = ["mint"] })
                .CacheOutput(p => p.Tag("later"));
            web.MapGet("/last", (RenderCounter counter) => $"{counter.Next()}")
                .CacheOutput(p => p.Tag("earlier"))
                .WithMetadata(new MintOutputCacheAttribute { Grace = 60, Tags = ["mint"] });
        });
        var store = app.Services.GetRequiredService<RecordingStore>();

        await GetAsync(app, "/hidden");
        await GetAsync(app, "/last");

        AssertTags(["later"], store.Single("/HIDDEN").Tags);
        AssertTags(["mint", ReservedTags.ForGrace(TimeSpan.FromSeconds(60))], store.Single("/LAST").Tags);
    }

    [Fact]
    public void OutOfRange_ThrowsWhenTheAttributeIsMade()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new MintOutputCacheAttribute { Grace = 0 });
        Assert.Throws<ArgumentOutOfRangeException>(() => new MintOutputCacheAttribute { Grace = 30 * 24 * 3600 + 1 });
        Assert.Throws<ArgumentOutOfRangeException>(() => new MintOutputCacheAttribute { Duration = -1 });
        Assert.Throws<ArgumentOutOfRangeException>(() => new MintOutputCacheAttribute { Refresh = (RefreshMode)7 });
        Assert.Throws<ArgumentOutOfRangeException>(() => new MintOutputCacheAttribute { EagerRefresh = 1 });
        Assert.Throws<ArgumentOutOfRangeException>(() => new MintOutputCacheAttribute { EagerRefresh = double.NaN });
    }

    [Fact]
    public void EagerRefresh_TravelsAsAReservedTag_ParsedBackByTheStore()
    {
        var tag = ReservedTags.ForEager(0.8);
        Assert.Null(ReservedTags.Check(tag));
        ReservedTags.Split([tag, "news"], logger: null, out var directives);
        Assert.Equal(0.8, directives.EagerRefresh);
        Assert.NotNull(ReservedTags.Check(ReservedTags.Prefix + "eager=1.2"));
        Assert.NotNull(ReservedTags.Check(ReservedTags.Prefix + "eager=abc"));
        Assert.Throws<ArgumentOutOfRangeException>(() => new Microsoft.AspNetCore.OutputCaching.OutputCacheOptions().AddPolicy("p", b => b.EagerRefresh(0)));
    }

    private static void AssertTags(string[] expected, string[] actual)
        => Assert.Equal(expected.Order(StringComparer.Ordinal), actual.Order(StringComparer.Ordinal));

    private static Task<TestApp> StartAsync(Action<WebApplication>? mapMore = null) => TestApp.StartAsync(
        o => o.Grace = DefaultGrace,
        configureServices: services =>
        {
            services.AddSingleton<RenderCounter>();

            // Records what reaches the store, then stores it in MintCache as usual.
            services.AddSingleton(sp => new RecordingStore(sp.GetRequiredService<MintOutputCacheStore>()));
            services.AddSingleton<IOutputCacheStore>(sp => sp.GetRequiredService<RecordingStore>());
        },
        mapMore: mapMore);

    private static async Task<string> GetAsync(TestApp app, string path, string? variant = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        if (variant is not null)
        {
            request.Headers.Add("X-Variant", variant);
        }

        using var response = await app.Client.SendAsync(request);
        response.EnsureSuccessStatusCode();
        return await response.Content.ReadAsStringAsync();
    }

    /// <summary>The store the middleware sees, recording each store call before MintCache's store takes it.</summary>
    private sealed class RecordingStore(IOutputCacheStore inner) : IOutputCacheStore
    {
        public ConcurrentQueue<(string Key, string[] Tags, TimeSpan ValidFor)> Stored { get; } = new();

        public (string Key, string[] Tags, TimeSpan ValidFor) Single(string path)
            => Assert.Single(Stored, s => s.Key.Contains(path, StringComparison.Ordinal));

        public ValueTask EvictByTagAsync(string tag, CancellationToken cancellationToken) => inner.EvictByTagAsync(tag, cancellationToken);

        public ValueTask<byte[]?> GetAsync(string key, CancellationToken cancellationToken) => inner.GetAsync(key, cancellationToken);

        public ValueTask SetAsync(string key, byte[] value, string[]? tags, TimeSpan validFor, CancellationToken cancellationToken)
        {
            Stored.Enqueue((key, tags ?? [], validFor));
            return inner.SetAsync(key, value, tags, validFor, cancellationToken);
        }
    }
}

/// <summary>Counts renders, so that a test sees which requests reached an action.</summary>
public sealed class RenderCounter
{
    private int _renders;

    public int Next() => Interlocked.Increment(ref _renders);
}

/// <summary>Actions cached by <c>[MintOutputCache]</c>, alone and beside <c>[OutputCache]</c> in both orders.</summary>
[ApiController]
[Route("mint-attr")]
public sealed class MintAttributeController : ControllerBase
{
    [HttpGet("all/{id}")]
    [MintOutputCache(
        Duration = 10, Grace = 60, Refresh = RefreshMode.Background, Tags = ["news", "front"],
        VaryByQueryKeys = ["q"], VaryByHeaderNames = ["X-Variant"], VaryByRouteValueNames = ["id"])]
    public string All(string id, [FromServices] RenderCounter counter) => $"{id}:{counter.Next()}";

    [HttpGet("gated")]
    [MintOutputCache(Duration = 10, Grace = 60)]
    public async Task<IActionResult> Gated([FromServices] GatedPage page)
    {
        var (status, body) = await page.RenderAsync(HttpContext.RequestAborted);
        return new ContentResult { StatusCode = status, Content = body, ContentType = "text/plain" };
    }

    [HttpGet("beside-mint-first")]
    [MintOutputCache(Duration = 20, Grace = 60, Tags = ["mint"])]
    [OutputCache(Duration = 5, Tags = ["oc"])]
    public string MintFirst([FromServices] RenderCounter counter) => $"{counter.Next()}";

    [HttpGet("beside-query")]
    [MintOutputCache(VaryByQueryKeys = ["q"])]
    [OutputCache]
    public string BesideQuery([FromServices] RenderCounter counter) => $"{counter.Next()}";

    [HttpGet("beside-oc-first")]
    [OutputCache(Duration = 5, Tags = ["oc"])]
    [MintOutputCache(Duration = 20, Grace = 60, Tags = ["mint"])]
    public string OutputCacheFirst([FromServices] RenderCounter counter) => $"{counter.Next()}";
}

/// <summary><c>[MintOutputCache]</c> on a controller, beside an action's <c>[OutputCache]</c> or replaced by the action's own.</summary>
[ApiController]
[Route("mint-on-controller")]
[MintOutputCache(Duration = 20, Grace = 60, Tags = ["mint"])]
public sealed class MintOnControllerController : ControllerBase
{
    [HttpGet("beside")]
    [OutputCache(Duration = 5, Tags = ["oc"])]
    public string Beside([FromServices] RenderCounter counter) => $"{counter.Next()}";

    [HttpGet("replaced")]
    [MintOutputCache(Grace = 30, Tags = ["action"])]
    public string Replaced([FromServices] RenderCounter counter) => $"{counter.Next()}";
}

/// <summary><c>[OutputCache]</c> on a controller, <c>[MintOutputCache]</c> on its action.</summary>
[ApiController]
[Route("oc-on-controller")]
[OutputCache(Duration = 5, Tags = ["oc"])]
public sealed class OutputCacheOnControllerController : ControllerBase
{
    [HttpGet("beside")]
    [MintOutputCache(Duration = 20, Grace = 60, Tags = ["mint"])]
    public string Beside([FromServices] RenderCounter counter) => $"{counter.Next()}";
}
