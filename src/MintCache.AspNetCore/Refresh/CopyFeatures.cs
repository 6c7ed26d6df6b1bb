using System.Collections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core.Features;

namespace MintCache.AspNetCore.Refresh;

/// <summary>
/// The features of a background regeneration: those a <see cref="RequestCopy"/> puts on it, and a record of the first
/// server feature the app asked for that a copy lacks, which tells a failure only a copy has from an origin failure.
/// </summary>
/// <remarks>
/// A real server request has the <see cref="Lacked"/> features and a copy does not: they describe a live connection
/// or body (limits, rates, trailers, resets, the handshake) or the server's own activity. Features that framework code
/// probes on every request without needing them (metrics tags, body control, body detection) are left out, so that
/// they do not turn a real origin failure into a copy failure; so are those the framework creates on demand (query,
/// items, cookies, the request body pipe, the identifier, the user). The upgrade feature is there, and says what a
/// server says of a plain GET: not upgradable.
/// </remarks>
internal sealed class CopyFeatures : IFeatureCollection
{
    /// <summary>The server features a copy lacks; listed in docs/refresh-modes.md.</summary>
    internal static readonly Type[] Lacked =
    [
        typeof(IHttpActivityFeature),
        typeof(IHttpMaxRequestBodySizeFeature),
        typeof(IHttpMinRequestBodyDataRateFeature),
        typeof(IHttpMinResponseDataRateFeature),
        typeof(IHttpRequestTrailersFeature),
        typeof(IHttpResponseTrailersFeature),
        typeof(IHttpResetFeature),
        typeof(ITlsHandshakeFeature),
        typeof(IConnectionItemsFeature),
        typeof(IConnectionLifetimeNotificationFeature),
    ];

    private readonly FeatureCollection _features = new();
    private Type? _lackedAskedFor;

    /// <summary>The first feature of <see cref="Lacked"/> the app asked for, found missing; null when none was.</summary>
    public Type? LackedAskedFor => Volatile.Read(ref _lackedAskedFor);

    public bool IsReadOnly => false;

    public int Revision => _features.Revision;

    public object? this[Type key]
    {
        get => Seen(key, _features[key]);
        set => _features[key] = value;
    }

    public TFeature? Get<TFeature>() => (TFeature?)this[typeof(TFeature)];

    public void Set<TFeature>(TFeature? instance) => _features.Set(instance);

    public IEnumerator<KeyValuePair<Type, object>> GetEnumerator() => _features.GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    private object? Seen(Type key, object? feature)
    {
        if (feature is null && _lackedAskedFor is null && Array.IndexOf(Lacked, key) >= 0)
        {
            Interlocked.CompareExchange(ref _lackedAskedFor, key, null);
        }

        return feature;
    }

    /// <summary>What a server's upgrade feature says of a request that asked for no upgrade (a copy never does).</summary>
    internal sealed class NotUpgradable : IHttpUpgradeFeature
    {
        public static readonly NotUpgradable Instance = new();

        public bool IsUpgradableRequest => false;

        public Task<Stream> UpgradeAsync() => throw new InvalidOperationException("A background regeneration is not an upgradable request.");
    }
}
