using System.Net.Sockets;
using System.Text;

namespace MintCache.AspNetCore.Tests.Fixtures;

/// <summary>
/// Redis's <c>MONITOR</c> on a connection of its own: every command the server runs, in the order it runs them, which a
/// client's profiler cannot give (it times each command without its keys).
/// </summary>
internal sealed class RedisMonitor : IAsyncDisposable
{
    private readonly TcpClient _client;
    private readonly StreamReader _reader;

    private RedisMonitor(TcpClient client, StreamReader reader)
    {
        _client = client;
        _reader = reader;
    }

    /// <summary>Starts monitoring the server at <paramref name="endpoint"/> ("host:port", as the fixtures give it).</summary>
    public static async Task<RedisMonitor> StartAsync(string endpoint)
    {
        var parts = endpoint.Split(',')[0].Split(':');
        var client = new TcpClient();
        await client.ConnectAsync(parts[0], int.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture));
        var stream = client.GetStream();
        await stream.WriteAsync("MONITOR\r\n"u8.ToArray());
        var reader = new StreamReader(stream, Encoding.UTF8);
        var ok = await reader.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(30));
        if (ok != "+OK")
        {
            client.Dispose();
            throw new InvalidOperationException($"MONITOR answered {ok}");
        }

        return new RedisMonitor(client, reader);
    }

    /// <summary>
    /// The commands that mention <paramref name="fragment"/> (a key's distinctive part), as the server logged them, until
    /// <paramref name="count"/> have come; fails after <paramref name="timeout"/>.
    /// </summary>
    public async Task<List<string>> CommandsMentioningAsync(string fragment, int count, TimeSpan timeout)
    {
        var seen = new List<string>();
        using var deadline = new CancellationTokenSource(timeout);
        while (seen.Count < count)
        {
            var line = await _reader.ReadLineAsync(deadline.Token) ?? throw new InvalidOperationException("MONITOR ended");
            if (line.Contains(fragment, StringComparison.Ordinal))
            {
                seen.Add(line);
            }
        }

        return seen;
    }

    public ValueTask DisposeAsync()
    {
        _reader.Dispose();
        _client.Dispose();
        return ValueTask.CompletedTask;
    }
}
