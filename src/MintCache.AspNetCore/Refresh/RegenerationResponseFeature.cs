using System.IO.Pipelines;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;
using MintCache.AspNetCore.Diagnostics;

namespace MintCache.AspNetCore.Refresh;

/// <summary>
/// The response side of a background regeneration: headers and status are kept for the output cache to capture,
/// the body goes nowhere (the output cache has its own copy), and OnStarting / OnCompleted callbacks run as a
/// server would run them.
/// </summary>
internal sealed class RegenerationResponseFeature : IHttpResponseFeature, IHttpResponseBodyFeature
{
    private readonly List<(Func<object, Task> Callback, object State)> _onStarting = [];
    private readonly List<(Func<object, Task> Callback, object State)> _onCompleted = [];
    private readonly StartingStream _stream;
    private PipeWriter? _writer;

    public RegenerationResponseFeature() => _stream = new StartingStream(this);

    public int StatusCode { get; set; } = StatusCodes.Status200OK;

    public string? ReasonPhrase { get; set; }

    public IHeaderDictionary Headers { get; set; } = new HeaderDictionary();

    public Stream Body
    {
        get => _stream;
        set => throw new NotSupportedException("A regeneration's response body cannot be replaced through this feature.");
    }

    public bool HasStarted { get; private set; }

    Stream IHttpResponseBodyFeature.Stream => _stream;

    public PipeWriter Writer => _writer ??= PipeWriter.Create(_stream, new StreamPipeWriterOptions(leaveOpen: true));

    public void OnStarting(Func<object, Task> callback, object state)
    {
        if (HasStarted)
        {
            throw new InvalidOperationException("The response has already started.");
        }

        _onStarting.Add((callback, state));
    }

    public void OnCompleted(Func<object, Task> callback, object state) => _onCompleted.Add((callback, state));

    public void DisableBuffering()
    {
    }

    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        if (HasStarted)
        {
            return;
        }

        HasStarted = true;

        // Like a server: the callbacks registered last run first.
        for (var i = _onStarting.Count - 1; i >= 0; i--)
        {
            await _onStarting[i].Callback(_onStarting[i].State).ConfigureAwait(false);
        }
    }

    public Task SendFileAsync(string path, long offset, long? count, CancellationToken cancellationToken = default)
        => StartAsync(cancellationToken);

    public async Task CompleteAsync()
    {
        await StartAsync().ConfigureAwait(false);
        if (_writer is not null)
        {
            await _writer.CompleteAsync().ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Runs every completion callback, last registered first, each in its own try/catch as a server does: one that
    /// throws must not skip the others (among them the disposal of the request's services).
    /// </summary>
    public async Task FireOnCompletedAsync(ILogger logger)
    {
        for (var i = _onCompleted.Count - 1; i >= 0; i--)
        {
            try
            {
                await _onCompleted[i].Callback(_onCompleted[i].State).ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                Log.CompletionCallbackFailed(logger, ex);
            }
        }
    }

    /// <summary>Discards what is written, after starting the response on the first write.</summary>
    private sealed class StartingStream(RegenerationResponseFeature owner) : Stream
    {
        public override bool CanRead => false;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => throw new NotSupportedException();

        public override long Position
        {
            get => throw new NotSupportedException();
            set => throw new NotSupportedException();
        }

        public override void Flush()
        {
        }

        public override Task FlushAsync(CancellationToken cancellationToken) => owner.StartAsync(cancellationToken);

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count)
        {
            if (!owner.HasStarted)
            {
                owner.StartAsync().GetAwaiter().GetResult();
            }
        }

        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
            => await owner.StartAsync(cancellationToken).ConfigureAwait(false);

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
            => owner.StartAsync(cancellationToken);
    }
}
