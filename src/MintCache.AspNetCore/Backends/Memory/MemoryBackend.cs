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
internal sealed class MemoryBackend : IMintBackend, IBackendHealth, IBackendInventory, IDisposable
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
    private readonly long _failSafeHold;
    private readonly IRefreshCapacity? _refreshCapacity;

    // Stores and the bookkeeping of evictions are serialized on this lock, so that a store either lands before an
    // eviction reads which keys carry a tag, or sees that eviction. Stores are rare next to lookups, which never take it.
    private readonly Lock _storeLock = new();
    private readonly Dictionary<string, TagEviction> _tagEvictions = new(StringComparer.Ordinal);
    private readonly Dictionary<string, TagEviction> _keyEvictions = new(StringComparer.Ordinal);
    private long _evictions = 1;
    private long _evictionsForgottenUpTo;
    private long _size;
    private long _lastGeneration;

    // The latest clears (see ClearAsync): written under the store lock, the stamps first, then their maximum, which the
    // hit path compares an entry's generation with before it reads the stamps.
    private ClearStamps _clears = new(0, 0, 0, 0);
    private long _clearedUpTo;

    public MemoryBackend(
        IOptions<OutputCacheOptions> outputCacheOptions, IOptions<MintCacheOptions> options, TimeProvider timeProvider, ILogger<MemoryBackend> logger, IRefreshCapacity? refreshCapacity = null)
    {
        _refreshCapacity = refreshCapacity;
        _sizeLimit = outputCacheOptions.Value.SizeLimit;
        _failSafeHold = (options.Value.FailureBackoff + options.Value.RegenerationTimeout).Ticks;
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

    long? IBackendInventory.NearCacheHits => null;

    IEnumerable<BackendHolding> IBackendInventory.Holdings() => [new(Diagnostics.Tags.KindPage, Count, Size)];

    /// <summary>For tests and diagnostics: how many tags the index remembers.</summary>
    internal int TagCount => _tags.TagCount;

    /// <summary>
    /// How long a tag eviction is remembered to refuse the pages whose regeneration began before it. A store whose
    /// regeneration began before the evictions forgotten since is refused if its page carries any tag.
    /// </summary>
    internal static readonly TimeSpan EvictionMemory = TimeSpan.FromMinutes(10);

    /// <summary>
    /// Grows with every eviction (of a tag or a key). Taken when a claim is won or a lookup misses, and handed back with the store
    /// (<see cref="StoreFence.EvictionMark"/>): a page carrying a tag evicted after it is refused.
    /// </summary>
    public long EvictionMark => Volatile.Read(ref _evictions);

    public ValueTask<BackendLookup> LookupAsync(string key, TimeSpan leaseDuration, CancellationToken cancellationToken)
        => ValueTask.FromResult(Lookup(key, leaseDuration));

    internal BackendLookup Lookup(string key, TimeSpan leaseDuration)
    {
        if (!_entries.TryGetValue(key, out var entry))
        {
            return BackendLookup.Missing;
        }

        if (entry.Generation <= Volatile.Read(ref _clearedUpTo) && IsCleared(entry))
        {
            Remove(entry);
            return BackendLookup.Missing;
        }

        var now = Now();
        if (now >= entry.ExpiresAt)
        {
            RemoveIfSpent(entry, now);
            return BackendLookup.Missing;
        }

        if (now < entry.StaleAt)
        {
            // Past its eager-at with no background slot free, the claim would be given back at once (and the full
            // slots logged) on every lookup until one frees: left free, as on Redis.
            return entry.EagerAt == 0 || now < entry.EagerAt || entry.IsClaimedAt(now) || _refreshCapacity?.CanRefreshEarlyNow() == false
                ? BackendLookup.Fresh(entry.Page)
                : ClaimEarly(entry, now, leaseDuration);
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

            // Under a fail-safe the stale page stays in service for as long as this regeneration may run and back off,
            // so that a hanging origin never sends users to it once the grace ran out (within fail-safe-until).
            entry.ExtendUntil(now + _failSafeHold);
            return BackendLookup.StaleClaimed(entry.Page, ticket);
        }
    }

    /// <summary>An eager refresh: the claim of a fresh entry past its eager-at, if nobody took it meanwhile.</summary>
    private static BackendLookup ClaimEarly(MemoryEntry entry, long now, TimeSpan leaseDuration)
    {
        lock (entry)
        {
            if (entry.IsClaimedAt(now) || now >= entry.StaleAt)
            {
                return BackendLookup.Fresh(entry.Page);
            }

            var ticket = new ClaimTicket(ClaimTicket.NewToken(), entry.Generation);
            entry.ClaimToken = ticket.Token;
            entry.ClaimExpiresAt = now + leaseDuration.Ticks;
            return BackendLookup.FreshClaimed(entry.Page, ticket);
        }
    }

    // Never answers ClaimedElsewhere: within one process the middleware already runs a missing page once.
    public ValueTask<bool> WaitForEntryAsync(string key, BackendLookup lookup, TimeSpan timeout, CancellationToken cancellationToken)
        => ValueTask.FromResult(false);

    public ValueTask<StoreOutcome> SetAsync(string key, ReadOnlySequence<byte> page, string[] tags, EntryLifetime lifetime, StoreFence fence, CancellationToken cancellationToken)
        => ValueTask.FromResult(Set(key, page.ToArray(), tags, lifetime, fence));

    internal StoreOutcome Set(string key, byte[] page, string[] tags, EntryLifetime lifetime, StoreFence fence)
    {
        lock (_storeLock)
        {
            var now = Now();
            _entries.TryGetValue(key, out var current);
            var outcome = Admit(key, current, tags, fence, now);
            if (outcome != StoreOutcome.Stored)
            {
                if (current is not null && fence.Claim is { } refused)
                {
                    Release(current, refused.Token);
                }

                return outcome;
            }

            var staleAt = now + lifetime.Fresh.Ticks;
            var expiresAt = staleAt + lifetime.Grace.Ticks;
            var created = new MemoryEntry(
                key, page, tags, Interlocked.Increment(ref _lastGeneration), staleAt, expiresAt, lifetime.Grace.Ticks, expiresAt + lifetime.FailSafe.Ticks,
                lifetime.EagerAfter > TimeSpan.Zero ? now + lifetime.EagerAfter.Ticks : 0)
            {
                PageHash = PageFingerprint.HashOf(page),
            };
            if (created.PageHash != PageFingerprint.None && current?.PageHash == created.PageHash)
            {
                Log.PageUnchanged(_logger, Name);
            }

            if (created.Size > _sizeLimit)
            {
                Log.EntryTooLarge(_logger, created.Size, _sizeLimit);
                return StoreOutcome.Stored;
            }

            // Lookups may remove the entry read above (expired) while this runs: the loop stores over whatever is there,
            // and the new entry carries no claim, which releases the one stored under.
            while (true)
            {
                if (_entries.TryGetValue(key, out current))
                {
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
        }

        if (Interlocked.Read(ref _size) > _sizeLimit)
        {
            Compact();
        }

        return StoreOutcome.Stored;
    }

    /// <summary>The fence (see <see cref="StoreFence"/>); called under the store lock.</summary>
    private StoreOutcome Admit(string key, MemoryEntry? current, string[] tags, StoreFence fence, long now)
    {
        var live = current is not null && now < current.ExpiresAt;
        if (fence.Claim is { } ticket)
        {
            if (current is not null && !current.IsClaimOf(ticket.Token) && current.IsHeldAt(now))
            {
                return StoreOutcome.TakenOver;
            }

            if (live && current!.Generation != ticket.Generation)
            {
                return StoreOutcome.Superseded;
            }
        }

        if (fence.EvictionMark != 0 && fence.EvictionMark < _clears.Mark)
        {
            // Began before a clear, hard or soft: its page may be older than the clear wants.
            return StoreOutcome.Revoked;
        }

        if (fence.EvictionMark != 0 && _keyEvictions.Count != 0 && _keyEvictions.TryGetValue(key, out var keyEviction) && keyEviction.Mark > fence.EvictionMark)
        {
            return StoreOutcome.Revoked;
        }

        if (fence.EvictionMark != 0 && tags.Length != 0)
        {
            if (fence.EvictionMark < _evictionsForgottenUpTo)
            {
                // Began before evictions no longer remembered: one of them may have carried a tag of this page.
                return StoreOutcome.Revoked;
            }

            foreach (var tag in tags)
            {
                if (_tagEvictions.TryGetValue(tag, out var eviction) && eviction.Mark > fence.EvictionMark)
                {
                    return StoreOutcome.Revoked;
                }
            }
        }

        return StoreOutcome.Stored;
    }

    public ValueTask<ClaimRenewal> RenewClaimAsync(string key, ClaimTicket claim, TimeSpan leaseDuration, CancellationToken cancellationToken)
    {
        if (_entries.TryGetValue(key, out var entry))
        {
            lock (entry)
            {
                if (entry.ClaimToken == claim.Token)
                {
                    entry.ClaimExpiresAt = Math.Max(entry.ClaimExpiresAt, Now() + leaseDuration.Ticks);
                    return ValueTask.FromResult(ClaimRenewal.Renewed);
                }
            }
        }

        return ValueTask.FromResult(ClaimRenewal.Lost);
    }

    public ValueTask ReleaseClaimAsync(string key, ClaimTicket claim, TimeSpan retryAfter, bool failed, CancellationToken cancellationToken)
    {
        if (_entries.TryGetValue(key, out var entry))
        {
            lock (entry)
            {
                if (entry.IsClaimOf(claim.Token))
                {
                    // Kept, negated, as the backoff: it blocks new claims until it lapses, but no longer counts as held.
                    var now = Now();
                    entry.ClaimToken = -claim.Token;
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
        string[] keys;
        var now = Now();
        lock (_storeLock)
        {
            // Recorded before the keys are read: a store of a page with this tag either is among those keys, or comes
            // later and finds the eviction newer than its request.
            var mark = Interlocked.Increment(ref _evictions);
            _tagEvictions[tag] = new TagEviction(mark, now);
            keys = _tags.KeysOf(tag);
        }

        foreach (var key in keys)
        {
            if (_entries.TryGetValue(key, out var entry) && entry.HasTag(tag))
            {
                if (soft)
                {
                    entry.MarkStale(now);
                    Release(entry, token: 0);
                }
                else
                {
                    Remove(entry);
                }
            }
        }

        return ValueTask.CompletedTask;
    }

    public ValueTask EvictKeyAsync(string key, CancellationToken cancellationToken)
    {
        lock (_storeLock)
        {
            // Recorded with the removal, as a tag eviction is: a store whose regeneration began before it is refused.
            _keyEvictions[key] = new TagEviction(Interlocked.Increment(ref _evictions), Now());
            if (_entries.TryGetValue(key, out var entry))
            {
                Remove(entry);
            }
        }

        return ValueTask.CompletedTask;
    }

    /// <summary>
    /// Clears in constant time: entries stored before the call (a generation at or below the stamp) are removed
    /// (hard) or marked stale (soft) when a lookup next reads them, and the stores of regenerations that began before it
    /// are refused, through the eviction mark. A hard clear also drops the entries now, to free their memory.
    /// </summary>
    /// <remarks>
    /// A soft clear brings stale-at forward to the clear's time and keeps the expiry: an entry already stale, or kept
    /// by a fail-safe, is left as it was. A claim taken before it stays until its holder's store is refused or it lapses.
    /// </remarks>
    public ValueTask ClearAsync(bool soft, CancellationToken cancellationToken)
    {
        lock (_storeLock)
        {
            var clears = Volatile.Read(ref _clears);
            var upTo = Interlocked.Read(ref _lastGeneration);
            var mark = Interlocked.Increment(ref _evictions);
            clears = soft ? clears with { SoftUpTo = upTo, SoftAt = Now(), Mark = mark } : clears with { HardUpTo = upTo, Mark = mark };
            Volatile.Write(ref _clears, clears);
            Volatile.Write(ref _clearedUpTo, Math.Max(clears.HardUpTo, clears.SoftUpTo));
        }

        if (!soft)
        {
            foreach (var (_, entry) in _entries)
            {
                if (entry.Generation <= Volatile.Read(ref _clears).HardUpTo)
                {
                    Remove(entry);
                }
            }
        }

        return ValueTask.CompletedTask;
    }

    /// <summary>Whether a clear removed the entry; marks it stale when a soft clear came after its store.</summary>
    private bool IsCleared(MemoryEntry entry)
    {
        var clears = Volatile.Read(ref _clears);
        if (entry.Generation <= clears.HardUpTo)
        {
            return true;
        }

        if (entry.Generation <= clears.SoftUpTo)
        {
            entry.MarkStale(clears.SoftAt);
        }

        return false;
    }

    /// <summary>The page stored under <paramref name="key"/>, fresh or stale, if it has not expired; no claim is taken.</summary>
    internal bool TryPeek(string key, out byte[] page)
    {
        if (_entries.TryGetValue(key, out var entry) && Now() < entry.ExpiresAt
            && (entry.Generation > Volatile.Read(ref _clearedUpTo) || !IsCleared(entry)))
        {
            page = entry.Page;
            return true;
        }

        page = null!;
        return false;
    }

    /// <summary>Drops every entry (the Redis backend's local fallback copies, once Redis is back).</summary>
    internal void Clear()
    {
        if (_entries.IsEmpty)
        {
            return;
        }

        foreach (var (_, entry) in _entries)
        {
            Remove(entry);
        }
    }

    /// <summary>Frees the entry's claim if <paramref name="token"/> took it, or whoever took it when zero.</summary>
    private static void Release(MemoryEntry entry, long token)
    {
        lock (entry)
        {
            if (token == 0 || entry.IsClaimOf(token))
            {
                entry.ClaimToken = 0;
                entry.ClaimExpiresAt = 0;
            }
        }
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
                RemoveIfSpent(entry, now);
            }
        }

        ForgetOldEvictions(now);
    }

    /// <summary>
    /// Removes an entry past its expiry, unless a claim under a fail-safe still runs: a failed regeneration then
    /// extends it again, as the Redis backend does with the entry it keeps until fail-safe-until.
    /// </summary>
    private void RemoveIfSpent(MemoryEntry entry, long now)
    {
        if (entry.IsHeldAt(now) && now < entry.FailSafeUntil)
        {
            return;
        }

        Remove(entry);
    }

    private void ForgetOldEvictions(long now)
    {
        lock (_storeLock)
        {
            if (_keyEvictions.Count != 0)
            {
                // A store that began before a forgotten key eviction is older than any regeneration still running.
                foreach (var (key, eviction) in _keyEvictions)
                {
                    if (now - eviction.At >= EvictionMemory.Ticks)
                    {
                        _keyEvictions.Remove(key);
                    }
                }
            }

            if (_tagEvictions.Count == 0)
            {
                return;
            }

            List<string>? forgotten = null;
            foreach (var (tag, eviction) in _tagEvictions)
            {
                if (now - eviction.At >= EvictionMemory.Ticks)
                {
                    (forgotten ??= []).Add(tag);
                    _evictionsForgottenUpTo = Math.Max(_evictionsForgottenUpTo, eviction.Mark);
                }
            }

            forgotten?.ForEach(tag => _tagEvictions.Remove(tag));
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

        // Still over the limit with nothing expired (the sweep above kept the pages a fail-safe holds).
        var dropped = SizeCompaction.Compact(_entries, _sizeLimit, () => Interlocked.Read(ref _size), static e => e.ExpiresAt, now: long.MinValue, (_, e) => Remove(e));
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

    /// <summary>
    /// The latest clears: entries of a generation at or below <paramref name="HardUpTo"/> are gone, at or below
    /// <paramref name="SoftUpTo"/> stale from <paramref name="SoftAt"/>; <paramref name="Mark"/> is the eviction count the
    /// latest raised.
    /// </summary>
    private sealed record ClearStamps(long HardUpTo, long SoftUpTo, long SoftAt, long Mark);

    /// <summary>When a tag was last evicted: the eviction count it raised, and the time.</summary>
    private readonly record struct TagEviction(long Mark, long At);
}
