using System.Buffers;
using System.Collections.Concurrent;
using Microsoft.AspNetCore.OutputCaching;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using MintCache.AspNetCore.Diagnostics;
using MintCache.AspNetCore.Entries;
using MintCache.AspNetCore.Store;

namespace MintCache.AspNetCore.Backends.Memory;

/// <summary>
/// The embedded backend: entries in a dictionary of this process, decisions on the injected <see cref="TimeProvider"/>.
/// Every call completes synchronously.
/// </summary>
/// <remarks>
/// Bounded by <see cref="OutputCacheOptions.SizeLimit"/>; a timer drops entries past their expiry so memory does not
/// hold pages nobody asks for again.
/// </remarks>
internal sealed class MemoryBackend : IMintBackend, IBackendHealth, IDisposable
{
    // How often entries past their expiry are swept out. Lookups never serve them in between: they check expiry.
    internal static readonly TimeSpan SweepInterval = TimeSpan.FromSeconds(30);

    private readonly ConcurrentDictionary<string, MemoryEntry> _entries = new(StringComparer.Ordinal);
    private readonly MemoryTagIndex _tags = new();
    private readonly TimeProvider _timeProvider;
    private readonly ILogger _logger;
    private readonly long _sizeLimit;
    private readonly ITimer _sweepTimer;
    private readonly long _timestampFrequency;
    private long _size;
    private long _lastGeneration;

    public MemoryBackend(IOptions<OutputCacheOptions> outputCacheOptions, TimeProvider timeProvider, ILogger<MemoryBackend> logger)
    {
        _sizeLimit = outputCacheOptions.Value.SizeLimit;
        _timeProvider = timeProvider;
        _timestampFrequency = timeProvider.TimestampFrequency;
        _logger = logger;
        _sweepTimer = timeProvider.CreateTimer(static state => ((MemoryBackend)state!).SweepExpired(), this, SweepInterval, SweepInterval);
    }

    public string Name => "memory";

    /// <summary>For tests and diagnostics: how many entries are held, expired or not.</summary>
    internal int Count => _entries.Count;

    /// <summary>For tests and diagnostics: the bytes accounted against the size limit.</summary>
    internal long Size => Interlocked.Read(ref _size);

    /// <summary>For tests and diagnostics: how many tags the index remembers.</summary>
    internal int TagCount => _tags.TagCount;

    public ValueTask<BackendLookup> LookupAsync(string key, TimeSpan leaseDuration, CancellationToken cancellationToken)
        => ValueTask.FromResult(Lookup(key, leaseDuration));

    internal BackendLookup Lookup(string key, TimeSpan leaseDuration)
    {
        if (!_entries.TryGetValue(key, out var entry))
        {
            return BackendLookup.Missing;
        }

        var now = Now();
        if (now >= entry.ExpiresAt)
        {
            Remove(entry);
            return BackendLookup.Missing;
        }

        if (now < entry.StaleAt)
        {
            return BackendLookup.Fresh(entry.Page);
        }

        // During a storm almost every lookup finds the claim held: answer those without the lock, which only the
        // lookup that may take the claim needs.
        if (entry.IsClaimedAt(now))
        {
            return BackendLookup.Stale(entry.Page);
        }

        lock (entry)
        {
            if (entry.IsClaimedAt(now))
            {
                return BackendLookup.Stale(entry.Page);
            }

            var ticket = new ClaimTicket(ClaimTicket.NewToken(), entry.Generation);
            entry.ClaimToken = ticket.Token;
            entry.ClaimExpiresAt = now + leaseDuration.Ticks;
            return BackendLookup.StaleClaimed(entry.Page, ticket, entry.Regeneration, TimeSpan.FromTicks(entry.ExpiresAt - now));
        }
    }

    // Never answers ClaimedElsewhere: within one process the middleware already runs a missing page once.
    public ValueTask<bool> WaitForEntryAsync(string key, BackendLookup lookup, TimeSpan timeout, CancellationToken cancellationToken)
        => ValueTask.FromResult(false);

    public ValueTask<bool> SetAsync(string key, ReadOnlySequence<byte> page, string[] tags, EntryLifetime lifetime, ReadOnlyMemory<byte> regeneration, ClaimTicket? claim, CancellationToken cancellationToken)
        => ValueTask.FromResult(Set(key, page.ToArray(), tags, lifetime, regeneration, claim));

    internal bool Set(string key, byte[] page, string[] tags, EntryLifetime lifetime, ReadOnlyMemory<byte> regeneration, ClaimTicket? claim)
    {
        var now = Now();
        var staleAt = now + lifetime.Fresh.Ticks;
        var expiresAt = staleAt + lifetime.Grace.Ticks;
        var created = new MemoryEntry(
            key, page, tags, Interlocked.Increment(ref _lastGeneration), staleAt, expiresAt, lifetime.Grace.Ticks, expiresAt + lifetime.FailSafe.Ticks, regeneration);

        if (created.Size > _sizeLimit)
        {
            Log.EntryTooLarge(_logger, created.Size, _sizeLimit);
            return true;
        }

        while (true)
        {
            if (_entries.TryGetValue(key, out var current))
            {
                // Fencing: a page regenerated under a claim may only replace the generation it claimed.
                if (claim is { } ticket && current.Generation != ticket.Generation)
                {
                    return false;
                }

                if (_entries.TryUpdate(key, created, current))
                {
                    Interlocked.Add(ref _size, created.Size - current.Size);
                    _tags.Replace(current, created, _entries);
                    break;
                }
            }
            else if (_entries.TryAdd(key, created))
            {
                Interlocked.Add(ref _size, created.Size);
                _tags.Add(created, _entries);
                break;
            }
        }

        if (Interlocked.Read(ref _size) > _sizeLimit)
        {
            Compact();
        }

        return true;
    }

    public ValueTask ReleaseClaimAsync(string key, ClaimTicket claim, TimeSpan retryAfter, bool failed, CancellationToken cancellationToken)
    {
        if (_entries.TryGetValue(key, out var entry))
        {
            lock (entry)
            {
                if (entry.ClaimToken == claim.Token)
                {
                    var now = Now();
                    entry.ClaimExpiresAt = Math.Min(entry.ClaimExpiresAt, now + retryAfter.Ticks);
                    if (failed)
                    {
                        entry.ExtendAfterFailure(now);
                    }
                }
            }
        }

        return ValueTask.CompletedTask;
    }

    public ValueTask EvictByTagAsync(string tag, bool soft, CancellationToken cancellationToken)
    {
        var now = Now();
        foreach (var key in _tags.KeysOf(tag))
        {
            if (_entries.TryGetValue(key, out var entry) && entry.HasTag(tag))
            {
                if (soft)
                {
                    entry.MarkStale(now);
                }
                else
                {
                    Remove(entry);
                }
            }
        }

        return ValueTask.CompletedTask;
    }

    public ValueTask<HealthCheckResult> CheckHealthAsync(CancellationToken cancellationToken)
    {
        // In this process: it is there whenever the process is. Its fill says whether SizeLimit is too small.
        var data = new Dictionary<string, object>
        {
            [BackendHealthData.Backend] = Name,
            ["entries"] = Count,
            ["sizeBytes"] = Size,
            ["sizeLimitBytes"] = _sizeLimit,
        };
        return ValueTask.FromResult(HealthCheckResult.Healthy("The in-memory cache backend serves this process.", data));
    }

    public void Dispose() => _sweepTimer.Dispose();

    internal void SweepExpired()
    {
        var now = Now();
        foreach (var (_, entry) in _entries)
        {
            if (now >= entry.ExpiresAt)
            {
                Remove(entry);
            }
        }
    }

    private void Remove(MemoryEntry entry)
    {
        // Only this exact entry: a newer one stored under the same key meanwhile stays.
        if (_entries.TryRemove(new KeyValuePair<string, MemoryEntry>(entry.Key, entry)))
        {
            Interlocked.Add(ref _size, -entry.Size);
            _tags.Remove(entry, _entries);
        }
    }

    private void Compact()
    {
        SweepExpired();
        if (Interlocked.Read(ref _size) <= _sizeLimit)
        {
            return;
        }

        // Still over the limit with nothing expired: drop the entries closest to their end first, down to 90 % of the
        // limit so that the next stores do not compact again at once.
        var target = _sizeLimit / 10 * 9;
        var dropped = 0;
        foreach (var entry in _entries.Values.OrderBy(static e => e.ExpiresAt))
        {
            if (Interlocked.Read(ref _size) <= target)
            {
                break;
            }

            Remove(entry);
            dropped++;
        }

        Log.Compacted(_logger, dropped, _sizeLimit);
    }

    // Monotonic, and about half the cost of GetUtcNow on the hit path: entries only ever compare durations. Exact
    // integer conversion to TimeSpan ticks (a double would round a tick away on large timestamps).
    private long Now()
    {
        var timestamp = _timeProvider.GetTimestamp();
        var frequency = _timestampFrequency;
        if (frequency == TimeSpan.TicksPerSecond)
        {
            return timestamp;
        }

        if (frequency % TimeSpan.TicksPerSecond == 0)
        {
            return timestamp / (frequency / TimeSpan.TicksPerSecond);
        }

        return (timestamp / frequency * TimeSpan.TicksPerSecond) + (timestamp % frequency * TimeSpan.TicksPerSecond / frequency);
    }
}
