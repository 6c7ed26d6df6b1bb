using System.Buffers;
using System.Buffers.Binary;
using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.OutputCaching;
using Microsoft.Extensions.Primitives;
using Microsoft.Net.Http.Headers;

namespace MintCache.AspNetCore.Refresh;

/// <summary>
/// What a background regeneration sends through the pipeline: the method, URL and the request headers the entry's
/// vary rules read, and nothing else (no cookies, no credentials, no client identity). Stored with the entry, so any
/// process sharing the backend can regenerate it.
/// </summary>
/// <remarks>
/// Serialized layout (append only; version first):
/// <code>
/// byte    version (1)
/// string  method, scheme, host, path base, path, query string   (each: int32 LE byte length, UTF-8 bytes)
/// int32   header count, then per header: string name, string value (values joined by ',')
/// </code>
/// </remarks>
internal sealed class RegenerationRequest
{
    private const byte Version = 1;

    // Headers a regeneration must never carry, even when a page varies by them: they identify a user.
    private static readonly string[] PersonalHeaders = [HeaderNames.Cookie, HeaderNames.Authorization, HeaderNames.ProxyAuthorization];

    private RegenerationRequest(string method, string scheme, string host, string pathBase, string path, string queryString, KeyValuePair<string, string>[] headers)
    {
        Method = method;
        Scheme = scheme;
        Host = host;
        PathBase = pathBase;
        Path = path;
        QueryString = queryString;
        Headers = headers;
    }

    public string Method { get; }

    public string Scheme { get; }

    public string Host { get; }

    public string PathBase { get; }

    public string Path { get; }

    public string QueryString { get; }

    public KeyValuePair<string, string>[] Headers { get; }

    /// <summary>
    /// Describes the request that produced a page, if a request without the user's identity would produce the same
    /// page under the same key; otherwise the page must be refreshed in the foreground.
    /// </summary>
    /// <remarks>On <see langword="null"/>, <c>reason</c> says why, for the logs.</remarks>
    public static RegenerationRequest? TryCapture(HttpContext httpContext, OutputCacheContext cacheContext, out string? reason)
    {
        var request = httpContext.Request;
        reason = null;
        if (!HttpMethods.IsGet(request.Method) && !HttpMethods.IsHead(request.Method))
        {
            reason = "the method is neither GET nor HEAD";
            return null;
        }

        if (httpContext.User.Identity?.IsAuthenticated == true)
        {
            reason = "the request was authenticated";
            return null;
        }

        var rules = cacheContext.CacheVaryByRules;
        if (rules.VaryByValues.Count > 0)
        {
            // A custom value may come from anything (a claim, a cookie): a regeneration could store it elsewhere.
            reason = "the policy varies by custom values";
            return null;
        }

        var headers = new KeyValuePair<string, string>[rules.HeaderNames.Count];
        for (var i = 0; i < headers.Length; i++)
        {
            var name = rules.HeaderNames[i] ?? string.Empty;
            if (PersonalHeaders.Contains(name, StringComparer.OrdinalIgnoreCase))
            {
                reason = $"the policy varies by the {name} header";
                return null;
            }

            headers[i] = new(name, request.Headers[name].ToString());
        }

        return new RegenerationRequest(
            request.Method,
            request.Scheme,
            request.Host.Value ?? string.Empty,
            request.PathBase.Value ?? string.Empty,
            request.Path.Value ?? string.Empty,
            request.QueryString.Value ?? string.Empty,
            headers);
    }

    public byte[] Serialize()
    {
        var writer = new ArrayBufferWriter<byte>(256);
        writer.GetSpan(1)[0] = Version;
        writer.Advance(1);
        foreach (var value in (ReadOnlySpan<string>)[Method, Scheme, Host, PathBase, Path, QueryString])
        {
            WriteString(writer, value);
        }

        WriteInt32(writer, Headers.Length);
        foreach (var (name, value) in Headers)
        {
            WriteString(writer, name);
            WriteString(writer, value);
        }

        return writer.WrittenSpan.ToArray();
    }

    /// <summary>Reads a serialized request; <see langword="null"/> for bytes of another version or damaged ones.</summary>
    public static RegenerationRequest? TryDeserialize(ReadOnlySpan<byte> bytes)
    {
        if (bytes.IsEmpty || bytes[0] != Version)
        {
            return null;
        }

        var reader = bytes[1..];
        var fields = new string[6];
        for (var i = 0; i < fields.Length; i++)
        {
            if (!TryReadString(ref reader, out fields[i]))
            {
                return null;
            }
        }

        if (!TryReadInt32(ref reader, out var count) || count < 0 || count > 64)
        {
            return null;
        }

        var headers = new KeyValuePair<string, string>[count];
        for (var i = 0; i < count; i++)
        {
            if (!TryReadString(ref reader, out var name) || !TryReadString(ref reader, out var value))
            {
                return null;
            }

            headers[i] = new(name, value);
        }

        return reader.IsEmpty ? new RegenerationRequest(fields[0], fields[1], fields[2], fields[3], fields[4], fields[5], headers) : null;
    }

    /// <summary>Copies the request onto a request feature of a regeneration.</summary>
    public void ApplyTo(Microsoft.AspNetCore.Http.Features.IHttpRequestFeature feature)
    {
        feature.Protocol = "HTTP/1.1";
        feature.Method = Method;
        feature.Scheme = Scheme;
        feature.PathBase = PathBase;
        feature.Path = Path;
        feature.QueryString = QueryString;
        feature.RawTarget = PathBase + Path + QueryString;
        feature.Headers[HeaderNames.Host] = Host;
        foreach (var (name, value) in Headers)
        {
            if (value.Length > 0)
            {
                feature.Headers[name] = new StringValues(value);
            }
        }
    }

    private static void WriteString(ArrayBufferWriter<byte> writer, string value)
    {
        var length = Encoding.UTF8.GetByteCount(value);
        WriteInt32(writer, length);
        Encoding.UTF8.GetBytes(value, writer.GetSpan(length));
        writer.Advance(length);
    }

    private static void WriteInt32(ArrayBufferWriter<byte> writer, int value)
    {
        BinaryPrimitives.WriteInt32LittleEndian(writer.GetSpan(4), value);
        writer.Advance(4);
    }

    private static bool TryReadInt32(ref ReadOnlySpan<byte> reader, out int value)
    {
        if (reader.Length < 4)
        {
            value = 0;
            return false;
        }

        value = BinaryPrimitives.ReadInt32LittleEndian(reader);
        reader = reader[4..];
        return true;
    }

    private static bool TryReadString(ref ReadOnlySpan<byte> reader, out string value)
    {
        value = string.Empty;
        if (!TryReadInt32(ref reader, out var length) || length < 0 || length > reader.Length)
        {
            return false;
        }

        value = Encoding.UTF8.GetString(reader[..length]);
        reader = reader[length..];
        return true;
    }
}
