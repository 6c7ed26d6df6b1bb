using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using Microsoft.Extensions.Logging;
using MintCache.AspNetCore.Diagnostics;
using StackExchange.Redis;

namespace MintCache.AspNetCore.Backends.Redis;

/// <summary>
/// The farm's compression dictionary (<see cref="RedisPageDictionary"/>): made once from the first pages the farm
/// compresses, kept in Redis without expiry under <c>{prefix}dict:{id}</c> and named by <c>{prefix}dict</c>, so every
/// process compresses with the same one and can read any page another wrote.
/// </summary>
/// <remarks>
/// <para>
/// A process reads the name when it connects. While the farm has none, it keeps the first <see cref="Samples"/> pages
/// it compresses, and the first process to have them names its own dictionary (only where no name is set); the others
/// adopt the one named. Pages compressed before then, and those a dictionary does not help, are Brotli's.
/// </para>
/// <para>
/// A page written with a dictionary this process does not hold waits for that dictionary to be read (one round trip,
/// bounded by the timeout) before it is decoded; only one that cannot be read makes it a logged miss. Every
/// <see cref="CheckInterval"/>, on a store, the process reads the name again, adopts a new one, and puts its own
/// dictionary back when Redis lost it (emptied, or evicting under <c>allkeys-*</c>), so the pages it writes stay
/// readable by the rest of the farm. That sync runs in the background, off every request's path, and a failed one is
/// tried again later.
/// </para>
/// </remarks>
internal sealed class RedisPageDictionaries
{
    /// <summary>How many pages a dictionary is made of.</summary>
    public const int Samples = 4;

    /// <summary>The most bytes of one page a dictionary keeps.</summary>
    public const int MaxSampleLength = 16 * 1024;

    /// <summary>Content read back that is longer than this is not a dictionary this library made.</summary>
    private const int MaxContentLength = 1024 * 1024;

    /// <summary>How many dictionaries one process holds at most: more are not fetched (their pages stay misses).</summary>
    private const int MaxKnown = 16;

    /// <summary>How often a process with a dictionary checks the farm's name and its own content in Redis.</summary>
    public static readonly TimeSpan CheckInterval = TimeSpan.FromSeconds(30);

    /// <summary>How soon a process without a dictionary, or missing one a page names, asks Redis again.</summary>
    public static readonly TimeSpan RetryInterval = TimeSpan.FromSeconds(2);

    private readonly RedisKeys _keys;
    private readonly RedisConnection _connection;
    private readonly TimeSpan _timeout;
    private readonly TimeProvider _timeProvider;
    private readonly ILogger _logger;
    private readonly ConcurrentDictionary<uint, RedisPageDictionary> _known = new();
    private readonly Lock _fetching = new();
    private readonly Dictionary<uint, (Task Task, long StartedAt)> _fetches = [];
    private readonly Lock _sampling = new();
    private List<byte[]>? _samples = [];
    private RedisPageDictionary? _current;
    private Task _sync = Task.CompletedTask;
    private int _syncing;
    private long _nextSyncAt;

    public RedisPageDictionaries(RedisKeys keys, RedisConnection connection, TimeSpan timeout, TimeProvider timeProvider, ILogger logger, bool compresses = true)
    {
        Compresses = compresses;
        _keys = keys;
        _connection = connection;
        _timeout = timeout;
        _timeProvider = timeProvider;
        _logger = logger;
    }

    /// <summary>
    /// The farm's dictionaries for a backend with <paramref name="options"/>: read by every process, so one that does not
    /// compress with them (the option off) still reads the pages of those that do.
    /// </summary>
    public static RedisPageDictionaries For(MintRedisOptions options, RedisKeys keys, RedisConnection connection, TimeProvider timeProvider, ILogger logger)
        => new(keys, connection, options.OperationTimeout, timeProvider, logger, options is { CompressionThreshold: not null, CompressionDictionary: true });

    /// <summary>Whether this process compresses with the farm's dictionary (and takes part in making one); it reads them either way.</summary>
    public bool Compresses { get; }

    /// <summary>The dictionary this process compresses with; <see langword="null"/> until the farm has one.</summary>
    public RedisPageDictionary? Current => Volatile.Read(ref _current);

    /// <summary>The dictionary named <paramref name="id"/>; when this process does not hold it, it is fetched for the next call.</summary>
    public bool TryGet(uint id, [NotNullWhen(true)] out RedisPageDictionary? dictionary)
    {
        if (_known.TryGetValue(id, out dictionary))
        {
            return true;
        }

        _ = FetchAsync(id);
        return false;
    }

    /// <summary>
    /// Completes once the dictionary that the page of a lookup script's <paramref name="reply"/> names is held, or could
    /// not be read within the timeout; at once for any other reply. Awaited before the reply is decoded, so that a page
    /// written with a dictionary this process lacks (another process named it a moment ago) costs a round trip, not a
    /// render.
    /// </summary>
    public Task ReadyForAsync(in RedisLookupReply reply)
        => reply.Page is { } page && RedisPageCodec.TryReadDictionaryId(reply.Codec, page, out var id) && !_known.ContainsKey(id)
            ? FetchAsync(id)
            : Task.CompletedTask;

    /// <summary>
    /// Reads dictionary <paramref name="id"/> from Redis: the read in flight, or a new one unless the last began less than
    /// <see cref="RetryInterval"/> ago. Never throws; bounded by the timeout.
    /// </summary>
    internal Task FetchAsync(uint id)
    {
        lock (_fetching)
        {
            if (_known.ContainsKey(id))
            {
                return Task.CompletedTask;
            }

            if (_fetches.TryGetValue(id, out var last))
            {
                if (!last.Task.IsCompleted || _timeProvider.GetElapsedTime(last.StartedAt) < RetryInterval)
                {
                    return last.Task;
                }
            }
            else if (_known.Count >= MaxKnown || _fetches.Count >= 4 * MaxKnown)
            {
                // Bounded: foreign values may name any number of ids.
                return Task.CompletedTask;
            }

            var fetch = ReadKnownAsync(id);
            _fetches[id] = (fetch, _timeProvider.GetTimestamp());
            return fetch;
        }
    }

    /// <summary>
    /// Called with every page about to be compressed: kept as a sample while the farm has no dictionary, and a sync
    /// started when one is due.
    /// </summary>
    public void Offer(ReadOnlySpan<byte> page)
    {
        if (!Compresses)
        {
            return;
        }

        var complete = false;
        if (Current is null && Volatile.Read(ref _samples) is not null)
        {
            lock (_sampling)
            {
                if (_samples is { Count: < Samples } samples)
                {
                    samples.Add(page[..Math.Min(page.Length, MaxSampleLength)].ToArray());
                    complete = samples.Count == Samples;
                }
            }
        }

        if (complete || _timeProvider.GetTimestamp() >= Volatile.Read(ref _nextSyncAt))
        {
            StartSync();
        }
    }

    /// <summary>Starts a sync with Redis in the background, unless one is running.</summary>
    public void StartSync()
    {
        if (Compresses && Interlocked.Exchange(ref _syncing, 1) == 0)
        {
            Volatile.Write(ref _sync, SyncInBackgroundAsync());
        }
    }

    /// <summary>For tests: the sync in flight, if any, then one more, both awaited.</summary>
    internal async Task SyncNowAsync()
    {
        await Volatile.Read(ref _sync).ConfigureAwait(false);
        StartSync();
        await Volatile.Read(ref _sync).ConfigureAwait(false);
    }

    private async Task SyncInBackgroundAsync()
    {
        await Task.Yield();
        try
        {
            await SyncAsync().ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException or OperationCanceledException or ObjectDisposedException)
        {
            Log.RedisPageDictionaryUnread(_logger, ex);
        }
        finally
        {
            // Samples completed while this sync ran are named at the next store.
            var wait = Current is not null ? CheckInterval : SamplesReady ? TimeSpan.Zero : RetryInterval;
            Volatile.Write(ref _nextSyncAt, _timeProvider.GetTimestamp() + (long)(wait.TotalSeconds * _timeProvider.TimestampFrequency));
            Volatile.Write(ref _syncing, 0);
        }
    }

    private async Task SyncAsync()
    {
        var db = await DatabaseAsync().ConfigureAwait(false);
        var name = await db.StringGetAsync(_keys.DictionaryName).WaitAsync(_timeout).ConfigureAwait(false);
        var current = Current;
        if (TryParseName(name, out var id))
        {
            if (id == current?.Id)
            {
                // Redis emptied, or evicting under allkeys-*: put back what this process compresses with.
                if (!await db.KeyExistsAsync(_keys.Dictionary(id)).WaitAsync(_timeout).ConfigureAwait(false))
                {
                    await db.StringSetAsync(_keys.Dictionary(id), current.Content).WaitAsync(_timeout).ConfigureAwait(false);
                }

                return;
            }

            if (_known.TryGetValue(id, out var named) || (named = await ReadAsync(db, id).ConfigureAwait(false)) is not null)
            {
                Adopt(named);
                return;
            }
        }
        else if (!name.IsNull)
        {
            Log.RedisPageDictionaryForeign(_logger, (string)_keys.DictionaryName!);
        }

        // No name, or one whose content is gone: name this process's own, unless another process names one first.
        var mine = current ?? Made();
        if (mine is null)
        {
            return;
        }

        await db.StringSetAsync(_keys.Dictionary(mine.Id), mine.Content).WaitAsync(_timeout).ConfigureAwait(false);
        var naming = db.CreateTransaction();
        naming.AddCondition(name.IsNull ? Condition.KeyNotExists(_keys.DictionaryName) : Condition.StringEqual(_keys.DictionaryName, name));
        _ = naming.StringSetAsync(_keys.DictionaryName, NameOf(mine.Id));
        if (await naming.ExecuteAsync().WaitAsync(_timeout).ConfigureAwait(false))
        {
            Adopt(mine);
        }
        else
        {
            // Another process named one first: adopted at the next sync, which is due now.
            Volatile.Write(ref _nextSyncAt, 0);
        }
    }

    private async Task ReadKnownAsync(uint id)
    {
        await Task.Yield();
        try
        {
            var db = await DatabaseAsync().ConfigureAwait(false);
            if (await ReadAsync(db, id).ConfigureAwait(false) is { } dictionary)
            {
                _known.TryAdd(id, dictionary);
            }
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException or OperationCanceledException or ObjectDisposedException)
        {
            Log.RedisPageDictionaryUnread(_logger, ex);
        }
    }

    // Waits for the connection no longer than one call would: a background read must not outlive the timeout either.
    private async Task<IDatabase> DatabaseAsync()
        => (await _connection.GetAsync(CancellationToken.None).AsTask().WaitAsync(_timeout).ConfigureAwait(false)).GetDatabase();

    private async Task<RedisPageDictionary?> ReadAsync(IDatabase db, uint id)
    {
        var key = _keys.Dictionary(id);
        var content = (byte[]?)await db.StringGetAsync(key).WaitAsync(_timeout).ConfigureAwait(false);
        if (content is null)
        {
            return null;
        }

        if (content.Length > MaxContentLength || RedisPageDictionary.FromContent(id, content) is not { } dictionary)
        {
            Log.RedisPageDictionaryForeign(_logger, (string)key!);
            return null;
        }

        return dictionary;
    }

    private bool SamplesReady
    {
        get
        {
            lock (_sampling)
            {
                return _samples is { Count: Samples };
            }
        }
    }

    private RedisPageDictionary? Made()
    {
        lock (_sampling)
        {
            return _samples is { Count: Samples } samples ? RedisPageDictionary.FromSamples(samples) : null;
        }
    }

    private void Adopt(RedisPageDictionary dictionary)
    {
        _known.TryAdd(dictionary.Id, dictionary);
        Volatile.Write(ref _current, dictionary);
        Volatile.Write(ref _samples, null);
        Log.RedisPageDictionaryInUse(_logger, NameOf(dictionary.Id), dictionary.Content.Length);
    }

    internal static string NameOf(uint id) => id.ToString("x8", CultureInfo.InvariantCulture);

    private static bool TryParseName(RedisValue name, out uint id)
    {
        id = 0;
        return !name.IsNull && ((string?)name)?.Length == 8
            && uint.TryParse((string?)name, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out id);
    }
}
