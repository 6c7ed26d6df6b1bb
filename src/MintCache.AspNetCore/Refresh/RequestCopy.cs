using System.Net;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace MintCache.AspNetCore.Refresh;

/// <summary>
/// An in-memory copy of the live request whose lookup won a refresh claim, taken at that lookup: what a background
/// regeneration sends through the application's pipeline in its place, so it renders what that request would have
/// rendered in the foreground. Never serialized, never logged, never stored with the entry.
/// </summary>
/// <remarks>
/// <para>
/// The copy is the request as it reached the output cache: the request line, every header (its cookies and credentials
/// included, exactly as the foreground would have used them) and the connection's addresses, ports and client
/// certificate. What the application derives from those (the user, the route, the session) its own middleware
/// derives again when the copy runs through the pipeline; middleware in front of the output cache therefore sees a
/// request it may already have adjusted (a path base it split off, forwarded headers it applied), which the usual
/// ones (<c>UsePathBase</c>, <c>UseForwardedHeaders</c>, <c>UseHttpsRedirection</c>, routing, authentication) leave
/// as it is.
/// </para>
/// <para>
/// Only <c>GET</c> and <c>HEAD</c> requests are copied: they have no body to replay.
/// </para>
/// </remarks>
internal sealed class RequestCopy
{
    private readonly string _protocol;
    private readonly string _method;
    private readonly string _scheme;
    private readonly string _pathBase;
    private readonly string _path;
    private readonly string _queryString;
    private readonly KeyValuePair<string, Microsoft.Extensions.Primitives.StringValues>[] _headers;
    private readonly IPAddress? _remoteIpAddress;
    private readonly int _remotePort;
    private readonly IPAddress? _localIpAddress;
    private readonly int _localPort;
    private readonly X509Certificate2? _clientCertificate;

    private RequestCopy(HttpContext context)
    {
        var request = context.Request;
        _protocol = request.Protocol;
        _method = request.Method;
        _scheme = request.Scheme;
        _pathBase = request.PathBase.Value ?? string.Empty;
        _path = request.Path.Value ?? string.Empty;
        _queryString = request.QueryString.Value ?? string.Empty;

        // The values are immutable: copying the pairs copies the headers, whatever the server does with its own
        // collection once the request ends.
        _headers = [.. request.Headers];

        var connection = context.Connection;
        _remoteIpAddress = connection.RemoteIpAddress;
        _remotePort = connection.RemotePort;
        _localIpAddress = connection.LocalIpAddress;
        _localPort = connection.LocalPort;

        // Only when the server already has it: reading ClientCertificate could renegotiate with the client.
        _clientCertificate = context.Features.Get<ITlsConnectionFeature>()?.ClientCertificate;
    }

    public string Method => _method;

    public string Path => _path;

    /// <summary>Copies the request, or says why it cannot be regenerated from a copy (for the logs).</summary>
    public static RequestCopy? TryCopy(HttpContext context, out string? reason)
    {
        if (!HttpMethods.IsGet(context.Request.Method) && !HttpMethods.IsHead(context.Request.Method))
        {
            reason = "the method is neither GET nor HEAD";
            return null;
        }

        reason = null;
        return new RequestCopy(context);
    }

    /// <summary>Puts the copy's request and connection on the features of a regeneration.</summary>
    public void ApplyTo(IFeatureCollection features)
    {
        var request = new HttpRequestFeature
        {
            Protocol = _protocol,
            Method = _method,
            Scheme = _scheme,
            PathBase = _pathBase,
            Path = _path,
            QueryString = _queryString,
            RawTarget = _pathBase + _path + _queryString,
        };

        foreach (var (name, value) in _headers)
        {
            request.Headers[name] = value;
        }

        features.Set<IHttpRequestFeature>(request);
        features.Set<IHttpConnectionFeature>(new HttpConnectionFeature
        {
            ConnectionId = "mint-regeneration",
            RemoteIpAddress = _remoteIpAddress,
            RemotePort = _remotePort,
            LocalIpAddress = _localIpAddress,
            LocalPort = _localPort,
        });

        if (_clientCertificate is not null)
        {
            features.Set<ITlsConnectionFeature>(new TlsConnectionFeature { ClientCertificate = _clientCertificate });
        }
    }
}
