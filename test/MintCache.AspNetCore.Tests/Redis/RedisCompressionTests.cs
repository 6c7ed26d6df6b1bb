using System.Buffers;
using System.Buffers.Binary;
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
/// Pages stored compressed in Redis: every read path (plain reads, the lookup script, the near copy) serves the bytes
/// the endpoint wrote, the header names the codec, a page that does not shrink or is under the threshold is stored as
/// it is, and a damaged compressed value is a logged miss (design.md §2, invariant 4).
/// </summary>
public sealed class RedisCompressionTests(RedisServerFixture redis) : IClassFixture<RedisServerFixture>
{
    private static readonly TimeSpan Long = TimeSpan.FromMinutes(5);

    [Fact]
    public async Task CompressedPage_RoundTripsByteForByte_OnEveryReadPath()
    {
        var prefix = RedisHost.UniquePrefix();
        var page = Html(20_000);
        var endpoint = new BytesEndpoint(page);
        await using var writer = await StartAsync(prefix, endpoint);
        await using var plainReads = await StartAsync(prefix, endpoint);
        await using var scriptOnly = await StartAsync(prefix, endpoint);
        scriptOnly.Backend.FastReads.Enabled = false;

        Assert.Equal(page, await writer.Client.GetByteArrayAsync("/bytes"));
        var (codec, stored) = await RawAsync(writer);
        Assert.Equal((byte)RedisPageCodec.Codec.Brotli, codec);
        Assert.True(stored < page.Length / 2, $"stored {stored} bytes for a page of {page.Length}");

        // Another host reads it from Redis (plain reads, then the script), then from its near copy.
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(page, await plainReads.Client.GetByteArrayAsync("/bytes"));
            Assert.Equal(page, await scriptOnly.Client.GetByteArrayAsync("/bytes"));
        }

        Assert.Equal(1, endpoint.Executions);
        Assert.True(plainReads.Backend.NearHits > 0 && scriptOnly.Backend.NearHits > 0, "the later hits are served from the near copies");
        Assert.Equal(0, plainReads.CountLogs(Log.IdRedisPageNotDecoded) + scriptOnly.CountLogs(Log.IdRedisPageNotDecoded));
    }

    [Fact]
    public async Task CorruptCompressedValue_IsLoggedMiss_ThenReplaced()
    {
        var (prefix, page, endpoint, entry) = await StoredByAHostAsync();

        // The Brotli stream damaged in its middle, the header left intact: only decoding can tell.
        await redis.Database.StringSetRangeAsync(entry, RedisWire.HeaderSize + 100, (RedisValue)Enumerable.Repeat((byte)0xFF, 64).ToArray());

        await using var reader = await StartAsync(prefix, endpoint);
        var response = await reader.Client.GetAsync("/bytes");

        Assert.Equal(System.Net.HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(page, await response.Content.ReadAsByteArrayAsync());
        Assert.Equal(2, endpoint.Executions);
        Assert.True(reader.CountLogs(Log.IdRedisPageNotDecoded) >= 1, "the damaged page is logged");
        Assert.False(reader.Backend.IsDegraded);

        // The render replaced it: the next host reads the page without a render or a log.
        await using var next = await StartAsync(prefix, endpoint);
        Assert.Equal(page, await next.Client.GetByteArrayAsync("/bytes"));
        Assert.Equal(2, endpoint.Executions);
        Assert.Equal(0, next.CountLogs(Log.IdRedisPageNotDecoded));
    }

    [Fact]
    public async Task CompressedValueDecodingToAnotherPage_IsLoggedMiss_OnPlainReadsAndTheScript()
    {
        var (prefix, page, endpoint, entry) = await StoredByAHostAsync();

        // A valid Brotli stream of the same length, one byte of the page changed, under the stored header: it decodes.
        var value = (byte[])(await redis.Database.StringGetAsync(entry))!;
        Assert.NotEqual(0UL, BinaryPrimitives.ReadUInt64BigEndian(value.AsSpan(RedisWire.PageHashOffset)));
        Assert.Equal(RedisPageCodec.Failure.None, RedisPageCodec.TryDecodeValue(value, out var stored));
        stored[^1] ^= 0x20;
        var other = RedisPageCodec.Encode(new ReadOnlySequence<byte>(stored), threshold: 0);
        value.AsSpan(0, RedisWire.HeaderSize).CopyTo(other);
        BinaryPrimitives.WriteUInt32BigEndian(other.AsSpan(RedisWire.PageLengthOffset), (uint)(other.Length - RedisWire.HeaderSize));
        Assert.True(await redis.Database.StringSetAsync(entry, other, Long));

        await using var plainReads = await StartAsync(prefix, endpoint);
        await using var scriptOnly = await StartAsync(prefix, endpoint);
        scriptOnly.Backend.FastReads.Enabled = false;
        Assert.Equal(page, await scriptOnly.Client.GetByteArrayAsync("/bytes"));
        Assert.True(scriptOnly.CountLogs(Log.IdRedisPageNotDecoded) >= 1, "the script's page is checked");

        // Rewritten by that render: damaged once more for the plain reads.
        Assert.True(await redis.Database.StringSetAsync(entry, other, Long));
        Assert.Equal(page, await plainReads.Client.GetByteArrayAsync("/bytes"));
        Assert.True(plainReads.CountLogs(Log.IdRedisPageNotDecoded) >= 1, "the plain read's page is checked");
        Assert.Equal(3, endpoint.Executions);
    }

    [Fact]
    public async Task DeclaredLengthPastTheBound_IsLoggedMiss_NothingAllocated()
    {
        await using var host = new RedisStoreHarness(redis.Endpoint, RedisStoreHarness.UniquePrefix());
        await host.Store.SetAsync("k", Html(8_000), [], Long, default);
        var entry = host.Backend.Keys.Entry("k");
        var length = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(length, uint.MaxValue);
        await redis.Database.StringSetRangeAsync(entry, RedisWire.HeaderSize, length);
        await using var reader = new RedisStoreHarness(redis.Endpoint, host.Backend.Keys.Prefix);

        Assert.Null(await reader.Store.GetAsync("k", default));
        Assert.Contains(reader.Logs.GetSnapshot(), r => r.Id.Id == Log.IdRedisPageNotDecoded && r.Message.Contains(nameof(RedisPageCodec.Failure.TooLarge), StringComparison.Ordinal));
    }

    [Fact]
    public void Decode_StreamLongerThanDeclared_IsRefused()
    {
        var page = Html(8_000);
        var value = RedisPageCodec.Encode(new ReadOnlySequence<byte>(page), threshold: 0);
        Assert.Equal(RedisPageCodec.Failure.None, RedisPageCodec.TryDecodeValue(value, out var decoded));
        Assert.Equal(page, decoded);

        // One byte less declared than the stream holds: refused, never written past.
        BinaryPrimitives.WriteUInt32BigEndian(value.AsSpan(RedisWire.HeaderSize), (uint)page.Length - 1);
        Assert.Equal(RedisPageCodec.Failure.Corrupt, RedisPageCodec.TryDecodeValue(value, out _));

        value[RedisWire.CodecOffset] = 200;
        Assert.Equal(RedisPageCodec.Failure.UnknownCodec, RedisPageCodec.TryDecodeValue(value, out _));
    }

    [Fact]
    public async Task IncompressiblePage_IsStoredAsIs()
    {
        var prefix = RedisHost.UniquePrefix();
        var page = new byte[20_000];
        new Random(7).NextBytes(page);
        var endpoint = new BytesEndpoint(page);
        await using var writer = await StartAsync(prefix, endpoint);
        await using var reader = await StartAsync(prefix, endpoint);

        Assert.Equal(page, await writer.Client.GetByteArrayAsync("/bytes"));
        var (codec, stored) = await RawAsync(writer);
        Assert.Equal((byte)RedisPageCodec.Codec.Identity, codec);
        Assert.True(stored > page.Length, "the middleware's whole entry, the page in it, as it is");
        Assert.Equal(page, await reader.Client.GetByteArrayAsync("/bytes"));
        Assert.Equal(1, endpoint.Executions);
    }

    [Fact]
    public async Task Threshold_PagesBelowAsIs_FromItCompressed_NullNever()
    {
        var prefix = RedisStoreHarness.UniquePrefix();
        await using var host = new RedisStoreHarness(redis.Endpoint, prefix, o => o.Redis.CompressionThreshold = 4096);
        await using var off = new RedisStoreHarness(redis.Endpoint, prefix, o => o.Redis.CompressionThreshold = null);
        await using var reader = new RedisStoreHarness(redis.Endpoint, prefix);
        var below = Html(4095);
        var at = Html(4096);

        await host.Store.SetAsync("below", below, [], Long, default);
        await host.Store.SetAsync("at", at, [], Long, default);
        await off.Store.SetAsync("off", at, [], Long, default);

        Assert.Equal((byte)RedisPageCodec.Codec.Identity, await CodecAsync(host, "below"));
        Assert.Equal((byte)RedisPageCodec.Codec.Brotli, await CodecAsync(host, "at"));
        Assert.Equal((byte)RedisPageCodec.Codec.Identity, await CodecAsync(off, "off"));
        Assert.Equal(below, await reader.Store.GetAsync("below", default));
        Assert.Equal(at, await reader.Store.GetAsync("at", default));
        Assert.Equal(at, await reader.Store.GetAsync("off", default));
    }

    private async Task<byte> CodecAsync(RedisStoreHarness host, string key)
    {
        var raw = (byte[])(await redis.Database.StringGetAsync(host.Backend.Keys.Entry(key)))!;
        Assert.Equal(EntryRejectReason.None, RedisEntryFormat.TryReadHeader(raw, out _, out _, out _));
        return raw[RedisWire.CodecOffset];
    }

    /// <summary>A 20,000-byte page rendered and stored (compressed) by a host that is gone again, and its entry key.</summary>
    private async Task<(string Prefix, byte[] Page, BytesEndpoint Endpoint, RedisKey Entry)> StoredByAHostAsync()
    {
        var prefix = RedisHost.UniquePrefix();
        var page = Html(20_000);
        var endpoint = new BytesEndpoint(page);
        await using (var writer = await StartAsync(prefix, endpoint))
        {
            Assert.Equal(page, await writer.Client.GetByteArrayAsync("/bytes"));
        }

        return (prefix, page, endpoint, await EntryKeyAsync(prefix));
    }

    private Task<RedisHost> StartAsync(string prefix, BytesEndpoint endpoint)
        => RedisHost.StartAsync(redis.Endpoint, prefix, new GatedEndpoint(), Long, Long, mapMore: app =>
            app.MapGet("/bytes", endpoint.Handle).CacheOutput(p => p.Expire(Long)));

    /// <summary>The codec byte and the stored length after the header of the one entry under the prefix.</summary>
    private async Task<(byte Codec, int Stored)> RawAsync(RedisHost host)
    {
        var raw = (byte[])(await redis.Database.StringGetAsync(await EntryKeyAsync(host.Backend.Keys.Prefix)))!;
        Assert.Equal(EntryRejectReason.None, RedisEntryFormat.TryReadHeader(raw, out _, out _, out _));
        return (raw[RedisWire.CodecOffset], raw.Length - RedisWire.HeaderSize);
    }

    private async Task<RedisKey> EntryKeyAsync(string prefix) => Assert.Single(await redis.EntryKeysAsync(prefix));

    /// <summary>HTML-like text of <paramref name="size"/> bytes: markup that repeats, numbers that do not.</summary>
    private static byte[] Html(int size)
    {
        var text = new StringBuilder("<!DOCTYPE html><html><body><ul class=\"products\">");
        for (var i = 0; text.Length < size; i++)
        {
            text.Append(CultureInfo.InvariantCulture, $"<li class=\"product\"><a href=\"/item/{i * 7919 % 100_000}\">Item {i}</a> <span class=\"price\">{i * 31 % 997}.{i % 100:00}</span></li>\n");
        }

        return Encoding.UTF8.GetBytes(text.ToString(0, size));
    }

    private sealed class BytesEndpoint(byte[] page)
    {
        private int _executions;

        public int Executions => Volatile.Read(ref _executions);

        public IResult Handle()
        {
            Interlocked.Increment(ref _executions);
            return Results.Bytes(page, "text/html");
        }
    }
}
