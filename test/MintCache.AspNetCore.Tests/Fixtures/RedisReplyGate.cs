using System.Net;
using System.Net.Sockets;

namespace MintCache.AspNetCore.Tests.Fixtures;

/// <summary>
/// A loopback TCP proxy in front of a Redis server that can hold every reply until told: a lookup stays in flight for
/// exactly as long as a test needs, which a <c>CLIENT PAUSE</c> (ended only by its own timer) cannot promise.
/// </summary>
internal sealed class RedisReplyGate : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly IPEndPoint _target;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<TcpClient> _sockets = [];
    private TaskCompletionSource _open = Opened();

    public RedisReplyGate(string target)
    {
        // "host:port", as the server fixtures give it (before any option).
        var parts = target.Split(',')[0].Split(':');
        var host = parts[0] == "localhost" ? IPAddress.Loopback : IPAddress.Parse(parts[0]);
        _target = new IPEndPoint(host, int.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture));
        _listener.Start();
        _ = AcceptAsync();
    }

    /// <summary>The proxy's endpoint, for a StackExchange.Redis configuration string.</summary>
    public string Endpoint => "127.0.0.1:" + ((IPEndPoint)_listener.LocalEndpoint).Port.ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>From now on, replies wait in the proxy.</summary>
    public void Hold() => Volatile.Write(ref _open, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));

    /// <summary>Lets the held replies through, and every later one.</summary>
    public void Release() => Volatile.Read(ref _open).TrySetResult();

    public async ValueTask DisposeAsync()
    {
        Release();
        await _stop.CancelAsync();
        _listener.Stop();
        lock (_sockets)
        {
            foreach (var socket in _sockets)
            {
                socket.Dispose();
            }
        }

        _stop.Dispose();
    }

    private static TaskCompletionSource Opened()
    {
        var open = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        open.SetResult();
        return open;
    }

    private async Task AcceptAsync()
    {
        try
        {
            while (true)
            {
                var client = await _listener.AcceptTcpClientAsync(_stop.Token);
                var server = new TcpClient();
                lock (_sockets)
                {
                    _sockets.Add(client);
                    _sockets.Add(server);
                }

                await server.ConnectAsync(_target, _stop.Token);
                _ = PumpAsync(client, server, held: false);
                _ = PumpAsync(server, client, held: true);
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
        {
            // Disposed.
        }
    }

    private async Task PumpAsync(TcpClient from, TcpClient to, bool held)
    {
        var buffer = new byte[16 * 1024];
        try
        {
            while (true)
            {
                var read = await from.GetStream().ReadAsync(buffer, _stop.Token);
                if (read == 0)
                {
                    break;
                }

                if (held)
                {
                    await Volatile.Read(ref _open).Task.WaitAsync(_stop.Token);
                }

                await to.GetStream().WriteAsync(buffer.AsMemory(0, read), _stop.Token);
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException or SocketException or ObjectDisposedException)
        {
            // One side closed, or the proxy was disposed.
        }
        finally
        {
            from.Dispose();
            to.Dispose();
        }
    }
}
