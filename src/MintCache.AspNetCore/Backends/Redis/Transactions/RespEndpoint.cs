using System.Net;
using System.Security.Authentication;
using StackExchange.Redis;

namespace MintCache.AspNetCore.Backends.Redis.Transactions;

/// <summary>
/// Where and how a connection of MintCache's own reaches the server the multiplexer writes to: its address, and the
/// multiplexer's credentials, TLS settings, database and client name.
/// </summary>
/// <remarks>
/// Taken from the multiplexer's configuration string, so a certificate validation callback or a credential supplied
/// in code does not carry over: such a connection fails to open, and stores use the script (see
/// <see cref="RespConnectionPool"/>).
/// </remarks>
internal sealed record RespEndpoint(
    EndPoint Address, string? User, string? Password, bool Tls, string? TlsHost, SslProtocols? TlsProtocols, int Database, string ClientName)
{
    /// <summary>The one primary of a standalone server the multiplexer is connected to; null for anything else.</summary>
    public static EndPoint? PrimaryOf(IConnectionMultiplexer multiplexer)
    {
        EndPoint? primary = null;
        foreach (var server in multiplexer.GetServers())
        {
            if (server.ServerType != ServerType.Standalone || !server.IsConnected)
            {
                return null;
            }

            if (!server.IsReplica)
            {
                if (primary is not null)
                {
                    return null;
                }

                primary = server.EndPoint;
            }
        }

        return primary;
    }

    /// <summary>The settings for <paramref name="address"/>, from the multiplexer's configuration.</summary>
    public static RespEndpoint For(IConnectionMultiplexer multiplexer, EndPoint address, int database)
    {
        var options = ConfigurationOptions.Parse(multiplexer.Configuration);
        return new RespEndpoint(
            address,
            options.User,
            options.Password,
            options.Ssl,
            options.SslHost,
            options.SslProtocols,
            database,
            (options.ClientName ?? "MintCache") + ":tx");
    }

    /// <summary>The host name TLS checks the certificate against.</summary>
    public string TargetHost => TlsHost ?? Address switch
    {
        DnsEndPoint dns => dns.Host,
        IPEndPoint ip => ip.Address.ToString(),
        _ => Address.ToString() ?? "",
    };

    // The password stays out of logs and exceptions.
    public override string ToString() => Address.ToString() ?? "";
}
