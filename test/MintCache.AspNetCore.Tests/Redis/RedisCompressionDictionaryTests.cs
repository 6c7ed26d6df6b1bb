using System.Buffers;
using System.Globalization;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.OutputCaching;
using Microsoft.Extensions.DependencyInjection;
using MintCache.AspNetCore.Backends.Redis;
using MintCache.AspNetCore.Diagnostics;
using MintCache.AspNetCore.Entries;
using MintCache.AspNetCore.Tests.Fixtures;
using StackExchange.Redis;

namespace MintCache.AspNetCore.Tests.Redis;

/// <summary>
/// The farm's compression dictionary (RedisPageDictionaries): made from the first pages compressed, named once in
/// Redis and adopted by every host, so a page one host writes with it is read byte for byte by another; a host that does
/// not hold it yet answers a logged miss and fetches it; a dictionary Redis lost is put back; foreign or damaged bytes
/// are logged misses (design.md §2, invariant 4).
/// </summary>
public sealed class RedisCompressionDictionaryTests(RedisServerFixture redis) : IClassFixture<RedisServerFixture>
{
    private static readonly TimeSpan Long = TimeSpan.FromMinutes(5);

    [Fact]
    public async Task FirstPagesMakeTheDictionary_EveryHostReadsItsPages_ByteForByte_HalfBrotlisSize()
    {
        var prefix = RedisHost.UniquePrefix();
        var pages = new Pages();
        await using var writer = await StartAsync(prefix, pages);
        await MakeDictionaryAsync(writer, pages);

        Assert.Equal(Pages.Html(9), await writer.Client.GetByteArrayAsync("/page/9"));
        var (codec, stored) = await RawAsync(writer, "/page/9");
        Assert.Equal((byte)RedisPageCodec.Codec.ZstdDictionary, codec);
        var brotli = RedisPageCodec.Encode(new ReadOnlySequence<byte>(Pages.Html(9)), threshold: 0).Length - RedisWire.HeaderSize;
        Assert.True(stored * 2 < brotli, $"stored {stored} bytes with the dictionary, {brotli} with Brotli alone");

        // Hosts that read the page from Redis: through plain reads, and through the lookup script alone.
        await using var plainReads = await StartAsync(prefix, pages);
        await using var scriptOnly = await StartAsync(prefix, pages);
        scriptOnly.Backend.FastReads.Enabled = false;
        await plainReads.Backend.Dictionaries.SyncNowAsync();
        await scriptOnly.Backend.Dictionaries.SyncNowAsync();
        Assert.Equal(writer.Backend.Dictionaries.Current!.Id, plainReads.Backend.Dictionaries.Current?.Id);
        Assert.Equal(writer.Backend.Dictionaries.Current.Id, scriptOnly.Backend.Dictionaries.Current?.Id);

        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(Pages.Html(9), await plainReads.Client.GetByteArrayAsync("/page/9"));
            Assert.Equal(Pages.Html(9), await scriptOnly.Client.GetByteArrayAsync("/page/9"));
        }

        Assert.Equal(5, pages.Executions);
        Assert.Equal(0, plainReads.CountLogs(Log.IdRedisPageNotDecoded) + scriptOnly.CountLogs(Log.IdRedisPageNotDecoded));

        // They write with it too, and the writer reads what they wrote.
        Assert.Equal(Pages.Html(10), await plainReads.Client.GetByteArrayAsync("/page/10"));
        Assert.Equal((byte)RedisPageCodec.Codec.ZstdDictionary, (await RawAsync(writer, "/page/10")).Codec);
        Assert.Equal(Pages.Html(10), await writer.Client.GetByteArrayAsync("/page/10"));
        Assert.Equal(6, pages.Executions);
    }

    [Fact]
    public async Task HostWithoutTheDictionary_FetchesItBeforeDecoding_NoRender()
    {
        var prefix = RedisHost.UniquePrefix();
        var pages = new Pages();

        // Started before the farm had a dictionary: their first sync found none, and they store nothing that would
        // start another.
        await using var plainReads = await StartAsync(prefix, pages);
        await using var scriptOnly = await StartAsync(prefix, pages);
        scriptOnly.Backend.FastReads.Enabled = false;
        await plainReads.Backend.Dictionaries.SyncNowAsync();
        await scriptOnly.Backend.Dictionaries.SyncNowAsync();
        Assert.Null(plainReads.Backend.Dictionaries.Current);
        Assert.Null(scriptOnly.Backend.Dictionaries.Current);

        await using var writer = await StartAsync(prefix, pages);
        await MakeDictionaryAsync(writer, pages);
        Assert.Equal(Pages.Html(9), await writer.Client.GetByteArrayAsync("/page/9"));
        Assert.Equal(Pages.Html(10), await writer.Client.GetByteArrayAsync("/page/10"));
        Assert.Equal((byte)RedisPageCodec.Codec.ZstdDictionary, (await RawAsync(writer, "/page/9")).Codec);
        Assert.Equal(6, pages.Executions);

        // A page written with a dictionary they lack costs them a round trip (its fetch), not a render.
        Assert.Equal(Pages.Html(9), await plainReads.Client.GetByteArrayAsync("/page/9"));
        Assert.Equal(Pages.Html(10), await scriptOnly.Client.GetByteArrayAsync("/page/10"));
        Assert.Equal(6, pages.Executions);
        Assert.Equal(0, plainReads.CountLogs(Log.IdRedisPageNotDecoded) + scriptOnly.CountLogs(Log.IdRedisPageNotDecoded));
        Assert.True(plainReads.Backend.Dictionaries.TryGet(writer.Backend.Dictionaries.Current!.Id, out _));
        Assert.False(plainReads.Backend.IsDegraded || scriptOnly.Backend.IsDegraded);
    }

    [Fact]
    public async Task DamagedDictionaryPage_IsLoggedMiss_ThenReplaced()
    {
        var prefix = RedisHost.UniquePrefix();
        var pages = new Pages();
        await using (var writer = await StartAsync(prefix, pages))
        {
            await MakeDictionaryAsync(writer, pages);
            Assert.Equal(Pages.Html(9), await writer.Client.GetByteArrayAsync("/page/9"));
            Assert.Equal((byte)RedisPageCodec.Codec.ZstdDictionary, (await RawAsync(writer, "/page/9")).Codec);

            // The frame damaged in its middle, the header left intact: only decoding, or the page's hash, can tell.
            var entry = await EntryKeyAsync(writer, "/page/9");
            var length = await redis.Database.StringLengthAsync(entry);
            await redis.Database.StringSetRangeAsync(entry, (RedisWire.HeaderSize + length) / 2, (RedisValue)Enumerable.Repeat((byte)0x5A, 16).ToArray());
        }

        await using var reader = await StartAsync(prefix, pages);
        await reader.Backend.Dictionaries.SyncNowAsync();
        var response = await reader.Client.GetAsync("/page/9");
        Assert.Equal(System.Net.HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(Pages.Html(9), await response.Content.ReadAsByteArrayAsync());
        Assert.Equal(6, pages.Executions);
        Assert.Contains(reader.Logs.GetSnapshot(), r => r.Id.Id == Log.IdRedisPageNotDecoded
            && r.Message.Contains(nameof(RedisPageCodec.Failure.Corrupt), StringComparison.Ordinal));

        // The render replaced it: the next host reads the page without a render or a log.
        await using var next = await StartAsync(prefix, pages);
        await next.Backend.Dictionaries.SyncNowAsync();
        Assert.Equal(Pages.Html(9), await next.Client.GetByteArrayAsync("/page/9"));
        Assert.Equal(6, pages.Executions);
        Assert.Equal(0, next.CountLogs(Log.IdRedisPageNotDecoded));
    }

    [Fact]
    public async Task DictionaryLostFromRedis_IsPutBackByAHostThatWritesWithIt()
    {
        var prefix = RedisHost.UniquePrefix();
        var pages = new Pages();
        await using var writer = await StartAsync(prefix, pages);
        await MakeDictionaryAsync(writer, pages);
        var id = writer.Backend.Dictionaries.Current!.Id;

        // Emptied, or evicted under allkeys-*: the name and the content both gone.
        Assert.Equal(2, await redis.Database.KeyDeleteAsync([writer.Backend.Keys.DictionaryName, writer.Backend.Keys.Dictionary(id)]));
        await writer.Backend.Dictionaries.SyncNowAsync();

        Assert.Equal(RedisPageDictionaries.NameOf(id), (string?)await redis.Database.StringGetAsync(writer.Backend.Keys.DictionaryName));
        Assert.Equal(writer.Backend.Dictionaries.Current.Content, (byte[]?)await redis.Database.StringGetAsync(writer.Backend.Keys.Dictionary(id)));

        // A host that joins now reads the writer's pages.
        Assert.Equal(Pages.Html(9), await writer.Client.GetByteArrayAsync("/page/9"));
        await using var joiner = await StartAsync(prefix, pages);
        await joiner.Backend.Dictionaries.SyncNowAsync();
        Assert.Equal(Pages.Html(9), await joiner.Client.GetByteArrayAsync("/page/9"));
        Assert.Equal(5, pages.Executions);
    }

    [Fact]
    public async Task ForeignDictionaryContent_IsLoggedAndIgnored_PagesStillServed()
    {
        var prefix = RedisHost.UniquePrefix();
        var keys = new RedisKeys(prefix);

        // A name that points at content that does not hash to it: another program's, or damaged.
        const uint id = 0x1234abcd;
        await redis.Database.StringSetAsync(keys.DictionaryName, RedisPageDictionaries.NameOf(id));
        await redis.Database.StringSetAsync(keys.Dictionary(id), "MINTDICT not the content named 1234abcd");

        var pages = new Pages();
        await using var host = await StartAsync(prefix, pages);
        await host.Backend.Dictionaries.SyncNowAsync();
        Assert.Contains(host.Logs.GetSnapshot(), r => r.Id.Id == Log.IdRedisPageDictionaryForeign);
        Assert.Null(host.Backend.Dictionaries.Current);

        // A page that names it is a logged miss, then stored again.
        Assert.Equal(Pages.Html(1), await host.Client.GetByteArrayAsync("/page/1"));
        var entry = await EntryKeyAsync(host, "/page/1");
        var value = (byte[])(await redis.Database.StringGetAsync(entry))!;
        var forged = new byte[RedisWire.HeaderSize + 4 + 16];
        value.AsSpan(0, RedisWire.HeaderSize).CopyTo(forged);
        forged[RedisWire.CodecOffset] = (byte)RedisPageCodec.Codec.ZstdDictionary;
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(forged.AsSpan(RedisWire.PageLengthOffset), 4 + 16);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(forged.AsSpan(RedisWire.HeaderSize), id);
        Assert.True(await redis.Database.StringSetAsync(entry, forged, Long));

        await using var reader = await StartAsync(prefix, pages);
        var response = await reader.Client.GetAsync("/page/1");
        Assert.Equal(System.Net.HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(Pages.Html(1), await response.Content.ReadAsByteArrayAsync());
        Assert.Equal(2, pages.Executions);
        Assert.True(reader.CountLogs(Log.IdRedisPageNotDecoded) >= 1, "the page is a logged miss");
        Assert.Contains(reader.Logs.GetSnapshot(), r => r.Id.Id == Log.IdRedisPageDictionaryForeign);
        Assert.False(reader.Backend.IsDegraded);
    }

    [Fact]
    public void DamagedFrame_IsCorrupt_NeverAnException()
    {
        var dictionary = RedisPageDictionary.FromSamples([Pages.Html(1), Pages.Html(2)]);
        var page = Pages.Html(3);
        var frame = new byte[page.Length];
        Assert.True(dictionary.TryCompress(page, frame, out var written));
        Assert.Equal(page, dictionary.TryDecompress(frame.AsSpan(0, written), page.Length, out _));

        // Damaged in the middle, cut short, or declaring more than the bound.
        var damaged = frame[..written];
        damaged[written / 2] ^= 0xFF;
        var decoded = dictionary.TryDecompress(damaged, page.Length, out _);
        Assert.True(decoded is null || !decoded.AsSpan().SequenceEqual(page), "a damaged frame never decodes to the page unnoticed");
        Assert.Null(dictionary.TryDecompress(frame.AsSpan(0, written / 2), page.Length, out _));
        Assert.Null(dictionary.TryDecompress(frame.AsSpan(0, written), page.Length - 1, out var tooLarge));
        Assert.True(tooLarge);
        Assert.Null(RedisPageDictionary.FromContent(dictionary.Id + 1, dictionary.Content));
        Assert.NotNull(RedisPageDictionary.FromContent(dictionary.Id, dictionary.Content));
    }

    [Fact]
    public async Task TurnedOff_PagesAreBrotlis_DictionaryPagesStillRead()
    {
        var prefix = RedisHost.UniquePrefix();
        var pages = new Pages();
        await using var off = await StartAsync(prefix, pages, o => o.Redis.CompressionDictionary = false);
        Assert.False(off.Backend.Dictionaries.Compresses);
        for (var i = 1; i <= RedisPageDictionaries.Samples + 1; i++)
        {
            Assert.Equal(Pages.Html(i), await off.Client.GetByteArrayAsync($"/page/{i}"));
        }

        await off.Backend.Dictionaries.SyncNowAsync();
        Assert.Null(off.Backend.Dictionaries.Current);
        Assert.Equal((byte)RedisPageCodec.Codec.Brotli, (await RawAsync(off, $"/page/{RedisPageDictionaries.Samples + 1}")).Codec);
        Assert.False(await redis.Database.KeyExistsAsync(off.Backend.Keys.DictionaryName));

        // A host of the same farm with it on (a rolling change): the host with it off reads its pages.
        await using var on = await StartAsync(prefix, pages);
        await MakeDictionaryAsync(on, pages, first: 11);
        Assert.Equal(Pages.Html(20), await on.Client.GetByteArrayAsync("/page/20"));
        Assert.Equal(Pages.Html(21), await on.Client.GetByteArrayAsync("/page/21"));
        var executions = pages.Executions;
        Assert.Equal((byte)RedisPageCodec.Codec.ZstdDictionary, (await RawAsync(on, "/page/20")).Codec);
        Assert.Equal(Pages.Html(20), await off.Client.GetByteArrayAsync("/page/20"));
        Assert.Equal(Pages.Html(21), await off.Client.GetByteArrayAsync("/page/21"));
        Assert.Equal(executions, pages.Executions);
        Assert.Null(off.Backend.Dictionaries.Current);
    }

    /// <summary><see cref="RedisPageDictionaries.Samples"/> pages from <paramref name="first"/> rendered (the samples), then the dictionary named and adopted.</summary>
    private static async Task MakeDictionaryAsync(RedisHost host, Pages pages, int first = 1)
    {
        var before = pages.Executions;
        for (var i = first; i < first + RedisPageDictionaries.Samples; i++)
        {
            Assert.Equal(Pages.Html(i), await host.Client.GetByteArrayAsync($"/page/{i}"));
        }

        Assert.Equal(before + RedisPageDictionaries.Samples, pages.Executions);
        await host.Backend.Dictionaries.SyncNowAsync();
        Assert.NotNull(host.Backend.Dictionaries.Current);
    }

    private Task<RedisHost> StartAsync(string prefix, Pages pages, Action<MintCacheOptions>? configure = null)
        => RedisHost.StartAsync(redis.Endpoint, prefix, new GatedEndpoint(), Long, Long, configure, mapMore: app =>
            app.MapGet("/page/{id:int}", pages.Handle).CacheOutput(p => p.Expire(Long)));

    private async Task<(byte Codec, int Stored)> RawAsync(RedisHost host, string path)
    {
        var raw = (byte[])(await redis.Database.StringGetAsync(await EntryKeyAsync(host, path)))!;
        Assert.Equal(EntryRejectReason.None, RedisEntryFormat.TryReadHeader(raw, out _, out _, out _));
        return (raw[RedisWire.CodecOffset], raw.Length - RedisWire.HeaderSize);
    }

    private async Task<RedisKey> EntryKeyAsync(RedisHost host, string path)
    {
        // The cache key's path, then a separator or the end of the hash tag: "/PAGE/1" is not "/PAGE/10".
        var upper = path.ToUpperInvariant();
        return Assert.Single(
            await redis.EntryKeysAsync(host.Backend.Keys.Prefix),
            key => key.ToString().Contains(upper + "\u001e", StringComparison.Ordinal) || key.ToString().EndsWith(upper + "}:e", StringComparison.Ordinal));
    }

    /// <summary><c>GET /page/{id}</c>: a product page of its own per id, in one shared template, as a site's pages are.</summary>
    private sealed class Pages
    {
        private int _executions;

        public int Executions => Volatile.Read(ref _executions);

        public IResult Handle(int id)
        {
            Interlocked.Increment(ref _executions);
            return Results.Bytes(Html(id), "text/html");
        }

        public static byte[] Html(int id)
        {
            var text = new StringBuilder("""
                <!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Shop</title>
                <link rel="stylesheet" href="/assets/site.5f3a9c1e.css"><script defer src="/assets/app.8d21b7a4.js"></script></head>
                <body><header class="site-header"><nav><a href="/">Home</a> <a href="/deals">Deals</a> <a href="/garden">Garden</a>
                <a href="/kitchen">Kitchen</a> <a href="/office">Office</a> <a href="/account">Your account</a></nav></header>
                <main class="product">
                """);
            text.Append(CultureInfo.InvariantCulture, $"<h1>Product {id}</h1><p class=\"price\">{id * 31 % 997}.{id % 100:00}</p><table class=\"specs\">");
            for (var row = 0; row < 40; row++)
            {
                text.Append(CultureInfo.InvariantCulture, $"<tr><th>Property {row}</th><td>{(id * 7919 + row * 104729) % 100_000}</td></tr>\n");
            }

            text.Append("""
                </table></main><footer class="site-footer"><p>Free delivery on orders over 50. Returns within 30 days.</p>
                <ul><li><a href="/help">Help</a></li><li><a href="/privacy">Privacy</a></li><li><a href="/terms">Terms</a></li></ul>
                </footer></body></html>
                """);
            return Encoding.UTF8.GetBytes(text.ToString());
        }
    }
}
