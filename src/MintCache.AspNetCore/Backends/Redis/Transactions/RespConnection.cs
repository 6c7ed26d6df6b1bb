using System.Buffers;
using System.Buffers.Text;
using System.Net.Security;
using System.Net.Sockets;
using System.Text;

namespace MintCache.AspNetCore.Backends.Redis.Transactions;

/// <summary>
/// One plain RESP2 connection to the primary, used by one store at a time: StackExchange.Redis multiplexes every
/// caller onto one connection, so it cannot hold a <c>WATCH</c> between a store's reads and its <c>EXEC</c>.
/// </summary>
/// <remarks>
/// Commands are queued, then sent together by <see cref="FlushAsync"/>; replies are read in order. Any failure leaves
/// the connection in an unknown state: its owner disposes it and never uses it again.
/// </remarks>
internal sealed class RespConnection : IDisposable
{
    private readonly Stream _stream;
    private readonly ArrayBufferWriter<byte> _out = new(4096);
    private readonly byte[] _crlf = new byte[2];
    private byte[] _in = new byte[4096];
    private int _start;
    private int _end;

    private RespConnection(RespEndpoint endpoint, Stream stream)
    {
        Endpoint = endpoint;
        _stream = stream;
    }

    public RespEndpoint Endpoint { get; }

    /// <summary>Connects, negotiates TLS when configured, and authenticates, selects the database and names the client.</summary>
    public static async Task<RespConnection> OpenAsync(RespEndpoint endpoint, CancellationToken cancellationToken)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        Stream? stream = null;
        try
        {
            await socket.ConnectAsync(endpoint.Address, cancellationToken).ConfigureAwait(false);
            stream = new NetworkStream(socket, ownsSocket: true);
            if (endpoint.Tls)
            {
                var tls = new SslStream(stream, leaveInnerStreamOpen: false);
                stream = tls;
                var options = new SslClientAuthenticationOptions { TargetHost = endpoint.TargetHost };
                if (endpoint.TlsProtocols is { } protocols)
                {
                    options.EnabledSslProtocols = protocols;
                }

                await tls.AuthenticateAsClientAsync(options, cancellationToken).ConfigureAwait(false);
            }

            var connection = new RespConnection(endpoint, stream);
            await connection.HandshakeAsync(cancellationToken).ConfigureAwait(false);
            return connection;
        }
        catch
        {
            if (stream is not null)
            {
                await stream.DisposeAsync().ConfigureAwait(false);
            }
            else
            {
                socket.Dispose();
            }

            throw;
        }
    }

    /// <summary>Queues a command of <paramref name="parts"/> parts (its name included), each added next.</summary>
    public RespConnection Command(int parts)
    {
        Header((byte)'*', parts);
        return this;
    }

    public RespConnection Add(ReadOnlySpan<byte> part)
    {
        Header((byte)'$', part.Length);
        _out.Write(part);
        Crlf();
        return this;
    }

    public RespConnection Add(string part)
    {
        var length = Encoding.UTF8.GetByteCount(part);
        Header((byte)'$', length);
        _out.Advance(Encoding.UTF8.GetBytes(part, _out.GetSpan(length)));
        Crlf();
        return this;
    }

    public RespConnection Add(long part)
    {
        Span<byte> digits = stackalloc byte[20];
        Utf8Formatter.TryFormat(part, digits, out var length);
        return Add(digits[..length]);
    }

    /// <summary>Sends every queued command.</summary>
    public async ValueTask FlushAsync(CancellationToken cancellationToken)
    {
        await _stream.WriteAsync(_out.WrittenMemory, cancellationToken).ConfigureAwait(false);
        _out.ResetWrittenCount();
    }

    /// <summary>The next reply, in the order the commands were sent.</summary>
    public async ValueTask<RespReply> ReadAsync(CancellationToken cancellationToken)
    {
        var (kind, line) = await LineAsync(cancellationToken).ConfigureAwait(false);
        switch (kind)
        {
            case (byte)'+':
                return RespReply.Status(line);
            case (byte)'-':
                return RespReply.Error(line);
            case (byte)':':
                return RespReply.Of(Number(line));
            case (byte)'$':
                var length = Number(line);
                if (length < 0)
                {
                    return RespReply.Nil;
                }

                var bulk = new byte[length];
                await FillAsync(bulk, cancellationToken).ConfigureAwait(false);
                await FillAsync(_crlf, cancellationToken).ConfigureAwait(false);
                return RespReply.Bulk(bulk);
            case (byte)'*':
                var count = Number(line);
                if (count < 0)
                {
                    return RespReply.Nil;
                }

                var elements = new RespReply[count];
                for (var i = 0; i < elements.Length; i++)
                {
                    elements[i] = await ReadAsync(cancellationToken).ConfigureAwait(false);
                }

                return RespReply.Array(elements);
            default:
                throw new RespProtocolException("The server's reply is not RESP2.");
        }
    }

    /// <summary>Reads <paramref name="count"/> replies and keeps only the last (a transaction's <c>EXEC</c>).</summary>
    public async ValueTask<RespReply> ReadLastAsync(int count, CancellationToken cancellationToken)
    {
        var reply = RespReply.Nil;
        for (var i = 0; i < count; i++)
        {
            reply = await ReadAsync(cancellationToken).ConfigureAwait(false);
        }

        return reply;
    }

    public void Dispose() => _stream.Dispose();

    private async Task HandshakeAsync(CancellationToken cancellationToken)
    {
        var replies = 1;
        if (Endpoint.Password is { } password)
        {
            if (Endpoint.User is { } user)
            {
                Command(3).Add("AUTH").Add(user).Add(password);
            }
            else
            {
                Command(2).Add("AUTH").Add(password);
            }

            replies++;
        }

        if (Endpoint.Database != 0)
        {
            Command(2).Add("SELECT").Add(Endpoint.Database);
            replies++;
        }

        Command(3).Add("CLIENT").Add("SETNAME").Add(Endpoint.ClientName.Replace(' ', '-'));
        await FlushAsync(cancellationToken).ConfigureAwait(false);
        for (var i = 0; i < replies; i++)
        {
            var reply = await ReadAsync(cancellationToken).ConfigureAwait(false);
            if (reply.IsError)
            {
                // The server's own words (NOAUTH, WRONGPASS, ...), never the credentials.
                throw new RespProtocolException("The server refused the connection's set-up: " + reply.Text);
            }
        }
    }

    private void Header(byte kind, int count)
    {
        var span = _out.GetSpan(16);
        span[0] = kind;
        Utf8Formatter.TryFormat(count, span[1..], out var length);
        span[1 + length] = (byte)'\r';
        span[2 + length] = (byte)'\n';
        _out.Advance(3 + length);
    }

    private void Crlf() => _out.Write("\r\n"u8);

    private static long Number(string line)
        => long.TryParse(line, System.Globalization.NumberStyles.AllowLeadingSign, System.Globalization.CultureInfo.InvariantCulture, out var n)
            ? n
            : throw new RespProtocolException("The server's reply holds no number where RESP2 has one.");

    private async ValueTask<(byte Kind, string Line)> LineAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            var at = Array.IndexOf(_in, (byte)'\n', _start, _end - _start);
            if (at >= 0)
            {
                if (at - _start < 2)
                {
                    throw new RespProtocolException("The server's reply is not RESP2.");
                }

                var line = (_in[_start], Encoding.UTF8.GetString(_in, _start + 1, at - _start - 2));
                _start = at + 1;
                return line;
            }

            await MoreAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    private async ValueTask FillAsync(byte[] target, CancellationToken cancellationToken)
    {
        var filled = 0;
        while (filled < target.Length)
        {
            if (_start == _end)
            {
                await MoreAsync(cancellationToken).ConfigureAwait(false);
            }

            var take = Math.Min(target.Length - filled, _end - _start);
            Buffer.BlockCopy(_in, _start, target, filled, take);
            _start += take;
            filled += take;
        }
    }

    private async ValueTask MoreAsync(CancellationToken cancellationToken)
    {
        if (_start > 0)
        {
            Buffer.BlockCopy(_in, _start, _in, 0, _end - _start);
            _end -= _start;
            _start = 0;
        }

        if (_end == _in.Length)
        {
            // A line longer than the buffer (a long error message): room for it.
            Array.Resize(ref _in, _in.Length * 2);
        }

        var read = await _stream.ReadAsync(_in.AsMemory(_end), cancellationToken).ConfigureAwait(false);
        if (read == 0)
        {
            throw new RespProtocolException("The server closed the connection.");
        }

        _end += read;
    }
}

/// <summary>A connection of MintCache's own broke, or its server answered outside the protocol.</summary>
internal sealed class RespProtocolException(string message) : IOException(message);
