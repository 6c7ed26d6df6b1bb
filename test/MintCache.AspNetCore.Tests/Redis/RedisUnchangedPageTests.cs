using System.Diagnostics;
using System.Globalization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.OutputCaching;
using Microsoft.Extensions.DependencyInjection;
using MintCache.AspNetCore.Backends.Redis;
using MintCache.AspNetCore.Tests.Fixtures;
using StackExchange.Redis;
using Xunit.Abstractions;

namespace MintCache.AspNetCore.Tests.Redis;

/// <summary>
/// Unchanged pages cost nothing: a refresh that renders the same response moves only the entry's times on Redis, sends
/// no page bytes, and near copies on other hosts stay in service with the new times; a changed page replaces the old one
/// everywhere; an eviction before the refresh lands still wins (design.md §2 invariant 8).
/// </summary>
public sealed class RedisUnchangedPageTests(ITestOutputHelper output)
{
    private const int BodySize = 8000;
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);

    // Long enough that host B reads its near copy within the touched page's freshness on a busy machine, and that the
    // second render falls in another second than the first (so its Date header differs).
    private static readonly TimeSpan ValidFor = TimeSpan.FromSeconds(3);

    [Theory]
    [InlineData(RefreshMode.Background, true)]
    [InlineData(RefreshMode.Foreground, true)]
    [InlineData(RefreshMode.Background, false)]
    public async Task UnchangedRefresh_NoPageBytesSent_PageAndETagKept_NearCopyOnOtherHostServedWithNewTimes(RefreshMode mode, bool compressed)
    {
        using var server = await RedisServerFixture.StartDedicatedAsync();
        await using var farm = await Farm.StartAsync(server.Endpoint, mode, compressed);
        var first = await farm.A.Client.GetAsync("/same");
        var firstBody = await first.Content.ReadAsStringAsync();
        Assert.Equal("\"v1\"", first.Headers.ETag?.Tag);
        Assert.Equal(compressed ? RedisPageCodec.Codec.Brotli : RedisPageCodec.Codec.Identity, await farm.CodecAsync());

        // Host B reads the page from Redis and keeps it near.
        await Eventually.HoldsAsync(
            async () => await farm.B.Client.GetStringAsync("/same") == firstBody && farm.B.Backend.NearCache!.Count == 1,
            Deadline,
            "host B keeps a near copy");
        await farm.WaitUntilStaleAsync();

        var bytesBefore = await farm.NetInputBytesAsync();
        var lookupsOnB = farm.B.Backend.RedisLookups;
        var encodedOnA = farm.A.Backend.PagesEncoded;
        await farm.RefreshOnAAsync(executions: 2, handedOff: mode == RefreshMode.Foreground);
        var written = await farm.NetInputBytesAsync() - bytesBefore;
        Assert.Equal(encodedOnA, farm.A.Backend.PagesEncoded);
        output.WriteLine($"mode={mode}, compressed={compressed}: unchanged refresh of a {BodySize} B body: {written} B sent to Redis by the farm");
        Assert.True(written < BodySize / 4, $"{written} B sent to Redis for an unchanged refresh of a {BodySize} B page");

        // Host B still serves its near copy, without Redis, with the new render time: Age starts again.
        var onB = await farm.B.Client.GetAsync("/same");
        Assert.Equal(firstBody, await onB.Content.ReadAsStringAsync());
        Assert.Equal("\"v1\"", onB.Headers.ETag?.Tag);
        Assert.Equal(lookupsOnB, farm.B.Backend.RedisLookups);
        Assert.True(onB.Headers.Age < ValidFor, $"Age {onB.Headers.Age} after the page was refreshed");

        // Host A too, from Redis: the same page and validator.
        var onA = await farm.A.Client.GetAsync("/same");
        Assert.Equal(firstBody, await onA.Content.ReadAsStringAsync());
        Assert.Equal("\"v1\"", onA.Headers.ETag?.Tag);
        Assert.True(onA.Headers.Age < ValidFor, $"Age {onA.Headers.Age} after the page was refreshed");
        Assert.Equal(2, farm.Endpoint.Executions);
    }

    [Fact]
    public async Task ChangedRefresh_ReplacesPageOnEveryHost()
    {
        using var server = await RedisServerFixture.StartDedicatedAsync();
        await using var farm = await Farm.StartAsync(server.Endpoint, RefreshMode.Background);
        await farm.A.Client.GetStringAsync("/same");
        await farm.B.Client.GetStringAsync("/same");
        await farm.WaitUntilStaleAsync();

        farm.Endpoint.Content = "v2";
        var bytesBefore = await farm.NetInputBytesAsync();
        var encodedOnA = farm.A.Backend.PagesEncoded;
        await farm.RefreshOnAAsync(executions: 2);
        var written = await farm.NetInputBytesAsync() - bytesBefore;
        Assert.Equal(encodedOnA + 1, farm.A.Backend.PagesEncoded);
        output.WriteLine($"changed refresh of a {BodySize} B body: {written} B sent to Redis by the farm");
        Assert.True(written > BodySize / 2, $"only {written} B sent to Redis for a changed page");

        foreach (var host in new[] { farm.B, farm.A })
        {
            var response = await host.Client.GetAsync("/same");
            Assert.StartsWith("v2", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
            Assert.Equal("\"v2\"", response.Headers.ETag?.Tag);
        }

        Assert.Equal(2, farm.Endpoint.Executions);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task EvictionBetweenLookupAndUnchangedStore_Wins(bool soft)
    {
        using var server = await RedisServerFixture.StartDedicatedAsync();
        await using var farm = await Farm.StartAsync(server.Endpoint, RefreshMode.Background);
        await farm.A.Client.GetStringAsync("/same");
        await farm.WaitUntilStaleAsync();

        // A wins the claim; its regeneration renders the same page but is held until after the eviction.
        farm.Endpoint.Close();
        await farm.A.Client.GetStringAsync("/same");
        await Eventually.HoldsAsync(() => farm.Endpoint.Waiting == 1, Deadline, "the regeneration runs");
        if (soft)
        {
            await farm.B.Store.MarkStaleByTagAsync("same", default);
        }
        else
        {
            await farm.B.Store.EvictByTagAsync("same", default);
        }

        farm.Endpoint.Open();
        await Eventually.HoldsAsync(() => farm.Endpoint.Waiting == 0 && farm.A.Store.LocalClaimCount == 0, Deadline, "the regeneration ends");

        // Its touch is refused: the page is not made fresh again (a soft eviction leaves it stale, a hard one gone), and
        // the next request regenerates it.
        if (soft)
        {
            Assert.True(await farm.IsStaleAsync(), "the page was made fresh by a regeneration that began before the eviction");
        }
        else
        {
            Assert.Empty(await farm.EntryKeysAsync());
        }

        Assert.StartsWith("v1", await farm.B.Client.GetStringAsync("/same"), StringComparison.Ordinal);
        await Eventually.HoldsAsync(() => farm.Endpoint.Executions == 3, Deadline, "the page is regenerated after the eviction");
    }

    /// <summary>Two hosts on one Redis serving <c>GET /same</c>, whose body and ETag change only when a test says so.</summary>
    private sealed class Farm : IAsyncDisposable
    {
        private readonly ConnectionMultiplexer _redis;
        private readonly string _prefix;

        private Farm(ConnectionMultiplexer redis, string prefix, ContentEndpoint endpoint, RedisHost a, RedisHost b)
        {
            _redis = redis;
            _prefix = prefix;
            Endpoint = endpoint;
            A = a;
            B = b;
        }

        public RedisHost A { get; }

        public RedisHost B { get; }

        public ContentEndpoint Endpoint { get; }

        public static async Task<Farm> StartAsync(string redis, RefreshMode mode, bool compressed = true)
        {
            var prefix = RedisHost.UniquePrefix();
            var endpoint = new ContentEndpoint();
            void Map(WebApplication app) => app.MapGet("/same", (Delegate)endpoint.HandleAsync)
                .CacheOutput(p => p.Expire(ValidFor).Grace(TimeSpan.FromMinutes(1)).Tag("same"));
            void Configure(MintCacheOptions o)
            {
                o.RefreshMode = mode;
                if (!compressed)
                {
                    o.Redis.CompressionThreshold = null;
                }
            }

            var a = await RedisHost.StartAsync(redis, prefix, new GatedEndpoint(), ValidFor, TimeSpan.FromMinutes(1), Configure, mapMore: Map);
            var b = await RedisHost.StartAsync(redis, prefix, new GatedEndpoint(), ValidFor, TimeSpan.FromMinutes(1), Configure, mapMore: Map);
            var multiplexer = await ConnectionMultiplexer.ConnectAsync($"{redis},abortConnect=false,connectTimeout=5000,allowAdmin=true");

            // Near copies are kept, and touch notices heard, only once a host's subscription is live.
            await Eventually.HoldsAsync(() => a.Backend.Notifications.IsLive && b.Backend.Notifications.IsLive, Deadline, "both hosts hear the farm's changes");
            return new Farm(multiplexer, prefix, endpoint, a, b);
        }

        /// <summary>What every client has sent the server so far, in bytes (<c>INFO stats</c>).</summary>
        public async Task<long> NetInputBytesAsync()
        {
            var stats = await Server.InfoAsync("stats");
            return long.Parse(stats.SelectMany(g => g).First(p => p.Key == "total_net_input_bytes").Value, CultureInfo.InvariantCulture);
        }

        public async Task<RedisKey[]> EntryKeysAsync()
        {
            var keys = new List<RedisKey>();
            await foreach (var key in Server.KeysAsync(pattern: _prefix + "{*}:e"))
            {
                keys.Add(key);
            }

            return [.. keys];
        }

        public Task WaitUntilStaleAsync() => Eventually.HoldsAsync(IsStaleAsync, Deadline, "the page goes stale");

        public async Task<bool> IsStaleAsync() => await StaleAtAsync() <= await ServerNowAsync();

        /// <summary>
        /// A request on host A wins the stale page's claim; waits until the page it regenerated is fresh on Redis. In the
        /// foreground mode a Redis lookup that wins serves the stale page and hands its miss to the next request on A
        /// (<paramref name="handedOff"/>), which regenerates.
        /// </summary>
        public async Task RefreshOnAAsync(int executions, bool handedOff = false)
        {
            var staleAt = await StaleAtAsync();
            await A.Client.GetStringAsync("/same");
            await Eventually.HoldsAsync(
                async () => (!handedOff || Endpoint.Executions == executions || await A.Client.GetStringAsync("/same") is not null)
                    && Endpoint.Executions == executions && A.Store.LocalClaimCount == 0 && await StaleAtAsync() > staleAt,
                Deadline,
                "the refreshed page lands on Redis");
        }

        private IServer Server => _redis.GetServer(_redis.GetEndPoints()[0]);

        /// <summary>How the page is stored on Redis (header byte <see cref="RedisWire.CodecOffset"/>).</summary>
        public async Task<RedisPageCodec.Codec> CodecAsync()
        {
            var keys = await EntryKeysAsync();
            Assert.Single(keys);
            return (RedisPageCodec.Codec)((byte[])(await _redis.GetDatabase().StringGetAsync(keys[0]))!)[RedisWire.CodecOffset];
        }

        private async Task<long> StaleAtAsync()
        {
            var keys = await EntryKeysAsync();
            Assert.Single(keys);
            RedisEntryFormat.TryReadHeader((byte[])(await _redis.GetDatabase().StringGetAsync(keys[0]))!, out var staleAt, out _, out _);
            return staleAt;
        }

        private async Task<long> ServerNowAsync() => new DateTimeOffset(await Server.TimeAsync(), TimeSpan.Zero).ToUnixTimeMilliseconds();

        public async ValueTask DisposeAsync()
        {
            await A.DisposeAsync();
            await B.DisposeAsync();
            await _redis.DisposeAsync();
        }
    }

    /// <summary>Renders the same body and ETag for the same <see cref="Content"/>; held while <see cref="Close"/>d.</summary>
    private sealed class ContentEndpoint
    {
        private TaskCompletionSource _gate = Open(true);
        private int _executions;
        private int _waiting;

        public volatile string Content = "v1";

        public int Executions => Volatile.Read(ref _executions);

        public int Waiting => Volatile.Read(ref _waiting);

        public void Close() => Volatile.Write(ref _gate, Open(false));

        public void Open() => Volatile.Read(ref _gate).TrySetResult();

        public async Task<IResult> HandleAsync(HttpContext context)
        {
            Interlocked.Increment(ref _executions);
            Interlocked.Increment(ref _waiting);
            try
            {
                await Volatile.Read(ref _gate).Task.WaitAsync(Deadline, context.RequestAborted);
            }
            finally
            {
                Interlocked.Decrement(ref _waiting);
            }

            var content = Content;
            context.Response.Headers.ETag = $"\"{content}\"";
            return Results.Text(BodyOf(content));
        }

        // As compressible as real text, not more (Brotli stores it at about three quarters): the same for the same content.
        private static string BodyOf(string content)
        {
            var bytes = new byte[BodySize * 3 / 4];
            new Random(content.Length * 31 + content[^1]).NextBytes(bytes);
            return (content + Convert.ToBase64String(bytes))[..BodySize];
        }

        private static TaskCompletionSource Open(bool open)
        {
            var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            if (open)
            {
                gate.SetResult();
            }

            return gate;
        }
    }
}
