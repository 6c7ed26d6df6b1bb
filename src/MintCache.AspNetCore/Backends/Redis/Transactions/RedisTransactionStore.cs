using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using Microsoft.Extensions.Logging;
using MintCache.AspNetCore.Diagnostics;
using MintCache.AspNetCore.Entries;
using MintCache.AspNetCore.Store;
using StackExchange.Redis;
using static MintCache.AspNetCore.Backends.Redis.RedisWire;

namespace MintCache.AspNetCore.Backends.Redis.Transactions;

/// <summary>
/// The store script's decisions taken in C#, between two round trips of plain commands on a connection of MintCache's
/// own: the tags' memberships and the fence's reads under a <c>WATCH</c> of the claim and the entry, then the write
/// in a <c>MULTI</c>/<c>EXEC</c> that Redis runs only if neither changed in between.
/// </summary>
/// <remarks>
/// <para>
/// One standalone server only: on a cluster a transaction's keys must share a slot, and the tags and the clear record
/// live on others. The fence is the script's (<see cref="RedisScripts.SetAsync"/>), decision for decision; the
/// behaviour suite runs both ways. Where this cannot decide (no connection to be had, the transaction aborted by a
/// change to a watched key, a reply it does not expect) it answers <see cref="Result.Undecided"/> and the caller runs
/// the script, which decides in one step.
/// </para>
/// <para>
/// A tag's membership is written in the first round trip, before the fence's reads, as on a cluster: an eviction that
/// reads the tag's members after it revokes the claim key, which is watched, and one before it left the tag's eviction
/// mark, which the reads see. It is scored from the estimated server clock; the transaction writes it again with the
/// server's own time when the estimate fell short by more than half the one-node margin, so it never ends before its page.
/// </para>
/// </remarks>
internal sealed class RedisTransactionStore(
    RedisKeys keys, RedisClearStamps clears, RedisServerClocks clocks, string channel, string evictedMarker, long horizonMs, RespConnectionPool pool, ILogger logger)
{
    // A membership scored from the estimated clock may fall short of the server's by this much before the transaction
    // writes it again: it still outlives its page, by the rest of the one-node margin (a second).
    private const long ScoreShortfallMs = 500;

    private readonly byte[] _channel = Encoding.UTF8.GetBytes(channel);
    private readonly byte[] _marker = Encoding.UTF8.GetBytes(evictedMarker);
    private readonly ConcurrentDictionary<string, Task> _releases = new(StringComparer.Ordinal);

    // Read by every Redis lookup: ConcurrentDictionary.IsEmpty takes all its locks when it is empty, a counter does not.
    private int _releasesUnderWay;
    private RespEndpoint? _endpoint;
    private long _decided;
    private long _undecided;

    /// <summary>For tests: the connections this store opened.</summary>
    internal RespConnectionPool Pool => pool;

    /// <summary>For tests: runs between a store's reads and its write, where another host's change would come.</summary>
    internal Func<ValueTask>? BetweenReadsAndWrite { get; set; }

    /// <summary>For tests and diagnosis: stores and releases decided by transaction.</summary>
    internal long Decided => Interlocked.Read(ref _decided);

    /// <summary>For tests and diagnosis: stores and releases left to the script.</summary>
    internal long Undecided => Interlocked.Read(ref _undecided);

    /// <summary>What a store by transaction did, or that it left the decision to the script.</summary>
    internal readonly record struct Result(bool Decided, StoreOutcome Outcome, TouchResult Touch = 0, bool OutOfMemory = false)
    {
        public static Result Undecided => default;
    }

    /// <summary>
    /// Stores <paramref name="value"/>, or with <paramref name="touch"/> moves an unchanged page's times (a changed one
    /// is stored whole), under the store script's fence (see <see cref="RedisScripts.SetAsync"/> for every argument).
    /// </summary>
    public async ValueTask<Result> StoreAsync(
        IConnectionMultiplexer multiplexer, int database, string key, RedisStoreValue value, string[] tags, EntryLifetime lifetime, StoreFence fence,
        RedisScripts.TouchArguments? touch, long since, long tagLifeMs, CancellationToken cancellationToken)
    {
        if (await RentAsync(multiplexer, database, cancellationToken).ConfigureAwait(false) is not { } connection)
        {
            return Count(Result.Undecided);
        }

        var entryKey = keys.Entry(key);
        try
        {
            var store = new Attempt(this, connection, key, (byte[])entryKey!, (byte[])keys.Claim(key)!, tags, fence, since, tagLifeMs);
            var estimate = clocks.TryNow(multiplexer, entryKey, out var earliest, out _) ? earliest : DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
            var result = await store.RunAsync(value, lifetime, touch, estimate, cancellationToken).ConfigureAwait(false);
            pool.Return(connection);
            return Count(result);
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException)
        {
            Log.RedisTransactionConnectionLost(logger, ex);
            pool.Discard(connection);
            return Count(Result.Undecided);
        }
        catch
        {
            pool.Discard(connection);
            throw;
        }
    }

    /// <summary>
    /// Marks a release of <paramref name="key"/>'s claim under way until the result is disposed: see <see cref="Releasing"/>.
    /// </summary>
    /// <remarks>
    /// A release is sent and not awaited by its store, and a transaction's two round trips are on another connection
    /// than the lookups: until it is done, this process's next lookup of the key waits for it, so that it finds the
    /// claim free, as a script sent before it on the multiplexer would have left it.
    /// </remarks>
    public ReleaseUnderWay BeginRelease(string key)
    {
        var underWay = new ReleaseUnderWay(this, key);
        Interlocked.Increment(ref _releasesUnderWay);
        _releases[key] = underWay.Done;
        return underWay;
    }

    /// <summary>The release of <paramref name="key"/>'s claim under way in this process, if any.</summary>
    public Task? Releasing(string key) => Volatile.Read(ref _releasesUnderWay) == 0 ? null : _releases.GetValueOrDefault(key);

    /// <summary>
    /// Gives up a claim <paramref name="token"/> still holds, as the release script does for a claim that did not fail
    /// (a failed one also moves the entry's expiry, which stays the script's). False: the script's to do.
    /// </summary>
    public ValueTask<bool> ReleaseAsync(IConnectionMultiplexer multiplexer, int database, string key, long token, long retryMs, CancellationToken cancellationToken)
        => ReleaseByTransactionAsync(multiplexer, database, key, token, retryMs, cancellationToken);

    /// <summary>A release under way (<see cref="BeginRelease"/>), ended by disposing it.</summary>
    internal sealed class ReleaseUnderWay(RedisTransactionStore owner, string key) : IDisposable
    {
        private readonly TaskCompletionSource _done = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task Done => _done.Task;

        public void Dispose()
        {
            if (_done.TrySetResult())
            {
                owner._releases.TryRemove(KeyValuePair.Create(key, Done));
                Interlocked.Decrement(ref owner._releasesUnderWay);
            }
        }
    }

    private async ValueTask<bool> ReleaseByTransactionAsync(IConnectionMultiplexer multiplexer, int database, string key, long token, long retryMs, CancellationToken cancellationToken)
    {
        if (await RentAsync(multiplexer, database, cancellationToken).ConfigureAwait(false) is not { } connection)
        {
            return Count(false);
        }

        try
        {
            var decided = await ReleaseAsync(connection, (byte[])keys.Claim(key)!, key, token.ToString(CultureInfo.InvariantCulture), retryMs, cancellationToken).ConfigureAwait(false);
            pool.Return(connection);
            return Count(decided);
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException)
        {
            Log.RedisTransactionConnectionLost(logger, ex);
            pool.Discard(connection);
            return Count(false);
        }
        catch
        {
            pool.Discard(connection);
            throw;
        }
    }

    private async ValueTask<bool> ReleaseAsync(RespConnection connection, byte[] claimKey, string key, string token, long retryMs, CancellationToken cancellationToken)
    {
        connection.Command(2).Add("WATCH"u8).Add(claimKey);
        connection.Command(2).Add("GET"u8).Add(claimKey);
        if (retryMs > 0)
        {
            connection.Command(2).Add("PTTL"u8).Add(claimKey);
        }

        await connection.FlushAsync(cancellationToken).ConfigureAwait(false);
        var watched = await connection.ReadAsync(cancellationToken).ConfigureAwait(false);
        var holder = (await connection.ReadAsync(cancellationToken).ConfigureAwait(false)).AsString();
        var left = retryMs > 0 ? await connection.ReadAsync(cancellationToken).ConfigureAwait(false) : RespReply.Nil;
        if (watched.IsError)
        {
            await UnwatchAsync(connection, cancellationToken).ConfigureAwait(false);
            return false;
        }

        var released = ReleasedMark + token;
        if (holder != token && holder != released)
        {
            // Not this claim's any more (another type there included): the script answers the same, having done nothing.
            await UnwatchAsync(connection, cancellationToken).ConfigureAwait(false);
            return true;
        }

        connection.Command(1).Add("MULTI"u8);
        if (retryMs <= 0)
        {
            connection.Command(2).Add("DEL"u8).Add(claimKey);
        }
        else
        {
            var ttl = left.Integer >= 1 && left.Integer <= retryMs ? left.Integer : retryMs;
            connection.Command(5).Add("SET"u8).Add(claimKey).Add(released).Add("PX"u8).Add(ttl);
        }

        connection.Command(3).Add("PUBLISH"u8).Add(_channel).Add(key);
        connection.Command(1).Add("EXEC"u8);
        await connection.FlushAsync(cancellationToken).ConfigureAwait(false);
        return await connection.ReadLastAsync(4, cancellationToken).ConfigureAwait(false) is { Type: RespReply.Kind.Array };
    }

    private Result Count(Result result)
    {
        Count(result.Decided);
        return result;
    }

    private bool Count(bool decided)
    {
        Interlocked.Increment(ref decided ? ref _decided : ref _undecided);
        return decided;
    }

    private async ValueTask<RespConnection?> RentAsync(IConnectionMultiplexer multiplexer, int database, CancellationToken cancellationToken)
    {
        if (RespEndpoint.PrimaryOf(multiplexer) is not { } primary)
        {
            return null;
        }

        var endpoint = _endpoint;
        if (endpoint is null || !endpoint.Address.Equals(primary) || endpoint.Database != database)
        {
            _endpoint = endpoint = RespEndpoint.For(multiplexer, primary, database);
        }

        return await pool.TryRentAsync(endpoint, cancellationToken).ConfigureAwait(false);
    }

    private static async ValueTask UnwatchAsync(RespConnection connection, CancellationToken cancellationToken)
    {
        connection.Command(1).Add("UNWATCH"u8);
        await connection.FlushAsync(cancellationToken).ConfigureAwait(false);
        await connection.ReadAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Another program's data under a key (a logged, refused store), a full Redis, or an error only the script can answer.</summary>
    private enum Failure
    {
        None,
        Foreign,
        OutOfMemory,
        Other,
    }

    private static Failure FailureOf(in RespReply reply) => !reply.IsError
        ? Failure.None
        : reply.Text.StartsWith("WRONGTYPE", StringComparison.Ordinal) ? Failure.Foreign
        : reply.IsOutOfMemory ? Failure.OutOfMemory
        : Failure.Other;

    /// <summary>One store: its keys and fence, and what its reads found.</summary>
    private sealed class Attempt(
        RedisTransactionStore owner, RespConnection connection, string key, byte[] entryKey, byte[] claimKey, string[] tags, StoreFence fence, long since, long tagLifeMs)
    {
        private readonly byte[][] _tagKeys = new byte[tags.Length][];
        private readonly long[] _tagTtls = new long[tags.Length];
        private readonly bool[] _tagsGrew = new bool[tags.Length];
        private readonly bool _claimed = fence.Claim is not null;
        private readonly string? _token = fence.Claim is { } claim ? claim.Token.ToString(CultureInfo.InvariantCulture) : null;
        private bool _mine;
        private long _scoreSent;

        public async ValueTask<Result> RunAsync(RedisStoreValue value, EntryLifetime lifetime, RedisScripts.TouchArguments? touch, long estimatedNow, CancellationToken cancellationToken)
        {
            var clearKey = owner.ClearKey;
            _scoreSent = estimatedNow + tagLifeMs;
            for (var i = 0; i < tags.Length; i++)
            {
                _tagKeys[i] = (byte[])owner.TagKey(tags[i])!;
                connection.Command(4).Add("ZADD"u8).Add(_tagKeys[i]).Add(_scoreSent).Add(key);
                connection.Command(2).Add("PTTL"u8).Add(_tagKeys[i]);
                connection.Command(3).Add("ZSCORE"u8).Add(_tagKeys[i]).Add(owner._marker);
            }

            // The clear record is read, not watched: a clear after the read stamps a later time than this store's
            // generation, so its page reads as cleared, as after the script.
            connection.Command(3).Add("WATCH"u8).Add(claimKey).Add(entryKey);

            connection.Command(2).Add("GET"u8).Add(claimKey);
            connection.Command(4).Add("GETRANGE"u8).Add(entryKey).Add(0).Add(HeaderSize - 1);
            connection.Command(4).Add("HMGET"u8).Add(clearKey).Add("h"u8).Add("s"u8);

            connection.Command(1).Add("TIME"u8);
            await connection.FlushAsync(cancellationToken).ConfigureAwait(false);

            var tagFailure = Failure.None;
            var evictedAt = new RespReply[tags.Length];
            for (var i = 0; i < tags.Length; i++)
            {
                var added = await connection.ReadAsync(cancellationToken).ConfigureAwait(false);
                _tagsGrew[i] = added.Integer == 1;
                tagFailure = Worse(tagFailure, FailureOf(added));
                _tagTtls[i] = (await connection.ReadAsync(cancellationToken).ConfigureAwait(false)).Integer;
                evictedAt[i] = await connection.ReadAsync(cancellationToken).ConfigureAwait(false);
                tagFailure = Worse(tagFailure, FailureOf(evictedAt[i]));
            }

            var watched = await connection.ReadAsync(cancellationToken).ConfigureAwait(false);
            var holding = await connection.ReadAsync(cancellationToken).ConfigureAwait(false);
            var heading = await connection.ReadAsync(cancellationToken).ConfigureAwait(false);
            var clearing = await connection.ReadAsync(cancellationToken).ConfigureAwait(false);
            var time = (await connection.ReadAsync(cancellationToken).ConfigureAwait(false)).Elements;
            if (owner.BetweenReadsAndWrite is { } between)
            {
                await between().ConfigureAwait(false);
            }

            var holderFailure = FailureOf(holding);
            if (watched.IsError || Worse(tagFailure, holderFailure) == Failure.Other
                || time.Length != 2 || !time[0].TryNumber(out var seconds) || !time[1].TryNumber(out var micros))
            {
                await UnwatchAsync(connection, cancellationToken).ConfigureAwait(false);
                return Result.Undecided;
            }

            if (tagFailure == Failure.OutOfMemory)
            {
                // The script fails on its first write, having written nothing: a refused store.
                await UnwatchAsync(connection, cancellationToken).ConfigureAwait(false);
                return new Result(true, StoreOutcome.Refused, OutOfMemory: true);
            }

            var holder = holding.AsString();
            _mine = _claimed && holder == _token;
            if (holderFailure == Failure.Foreign)
            {
                return await RefuseAsync(StoreOutcome.Refused, cancellationToken).ConfigureAwait(false);
            }

            var nowUs = ((long)seconds * 1_000_000) + (long)micros;
            var now = nowUs / 1000;
            var mark = holder is { Length: > 0 } ? holder[0] : '\0';
            if (mark == RevokedMark && ((_claimed && since == 0) || (since > 0 && since <= RevokedAt(holder!))))
            {
                return await RefuseAsync(StoreOutcome.Revoked, cancellationToken).ConfigureAwait(false);
            }

            var cleared = Math.Max(Math.Max(owner.ClearedHard, StampOf(clearing, 0)), Math.Max(owner.ClearedSoft, StampOf(clearing, 1)));
            if (cleared > 0 && ((_claimed && since == 0) || (since > 0 && since * 1000 <= cleared)))
            {
                return await RefuseAsync(StoreOutcome.Revoked, cancellationToken).ConfigureAwait(false);
            }

            if (tagFailure == Failure.Foreign)
            {
                return await RefuseAsync(StoreOutcome.Refused, cancellationToken).ConfigureAwait(false);
            }

            for (var i = 0; i < tags.Length; i++)
            {
                if (since > 0 && evictedAt[i].TryNumber(out var evicted) && evicted - owner.HorizonMs >= since)
                {
                    return await RefuseAsync(StoreOutcome.Revoked, cancellationToken).ConfigureAwait(false);
                }
            }

            if (tags.Length > 0 && since > 0 && since < now - owner.HorizonMs)
            {
                return await RefuseAsync(StoreOutcome.Revoked, cancellationToken).ConfigureAwait(false);
            }

            if (_claimed && holder is not null && mark != ReleasedMark && mark != RevokedMark && !_mine)
            {
                return await RefuseAsync(StoreOutcome.TakenOver, cancellationToken).ConfigureAwait(false);
            }

            var old = HeaderOf(heading);
            var oldGeneration = old is null ? 0 : BinaryPrimitives.ReadInt64BigEndian(old.AsSpan(GenerationOffset));
            var oldExpiresAt = old is null ? 0 : BinaryPrimitives.ReadInt64BigEndian(old.AsSpan(ExpiresAtOffset));
            if (_claimed && old is not null && oldExpiresAt > now && oldGeneration != fence.Claim!.Value.Generation)
            {
                return await RefuseAsync(StoreOutcome.Superseded, cancellationToken).ConfigureAwait(false);
            }

            var times = new EntryTimes(now, nowUs, oldGeneration, lifetime);

            // A touch of a live entry with the same page moves its times; any other is a store, decided by the same fence
            // in the same transaction (the script answers Changed instead, as it has not been sent the page).
            if (touch is { } touching && old is not null && oldExpiresAt > now && old.AsSpan(PageHashOffset, 8).SequenceEqual(touching.Hash))
            {
                var patch = new byte[HeaderSize - StaleAtOffset];
                times.Write(patch);
                old.AsSpan(PageLengthOffset, RenderTimeOffset - PageLengthOffset).CopyTo(patch.AsSpan(PageLengthOffset - StaleAtOffset));
                touching.RenderTime.CopyTo(patch, RenderTimeOffset - StaleAtOffset);
                var queued = BeginWrite(now);
                connection.Command(4).Add("SETRANGE"u8).Add(entryKey).Add(StaleAtOffset).Add(patch);
                connection.Command(3).Add("PEXPIRE"u8).Add(entryKey).Add(times.LatestExpiry - now);
                connection.Command(3).Add("PUBLISH"u8).Add(owner._channel).Add(times.TouchNotice(key, touching.RenderTime));
                return await ExecuteAsync(queued + 3, TouchResult.Touched, cancellationToken).ConfigureAwait(false);
            }

            var entry = value.Value;
            WriteHeader(entry, times);
            var written = BeginWrite(now);
            connection.Command(5).Add("SET"u8).Add(entryKey).Add(entry).Add("PX"u8).Add(times.LatestExpiry - now);
            connection.Command(3).Add("PUBLISH"u8).Add(owner._channel).Add(key);
            return await ExecuteAsync(written + 2, 0, cancellationToken).ConfigureAwait(false);
        }

        // MULTI, then what every write does besides its entry: the tags' memberships and lives, and the claim's end.
        private int BeginWrite(long now)
        {
            var queued = 0;
            connection.Command(1).Add("MULTI"u8);
            for (var i = 0; i < tags.Length; i++)
            {
                if (_scoreSent < now + tagLifeMs - ScoreShortfallMs)
                {
                    connection.Command(4).Add("ZADD"u8).Add(_tagKeys[i]).Add(now + tagLifeMs).Add(key);
                    queued++;
                }

                if (_tagTtls[i] < tagLifeMs + 1000)
                {
                    var more = _tagTtls[i] == -1 ? 0 : tagLifeMs / 4;
                    if (_tagTtls[i] != -1 && _tagsGrew[i])
                    {
                        connection.Command(4).Add("ZREMRANGEBYSCORE"u8).Add(_tagKeys[i]).Add("-inf"u8).Add("(" + now.ToString(CultureInfo.InvariantCulture));
                        queued++;
                    }

                    connection.Command(3).Add("PEXPIRE"u8).Add(_tagKeys[i]).Add(tagLifeMs + 1000 + more);
                    queued++;
                }
            }

            if (_mine)
            {
                connection.Command(2).Add("DEL"u8).Add(claimKey);
                queued++;
            }

            return queued;
        }

        private async ValueTask<Result> ExecuteAsync(int queued, TouchResult touch, CancellationToken cancellationToken)
        {
            connection.Command(1).Add("EXEC"u8);
            await connection.FlushAsync(cancellationToken).ConfigureAwait(false);
            var exec = await connection.ReadLastAsync(queued + 2, cancellationToken).ConfigureAwait(false);
            return exec.Type switch
            {
                RespReply.Kind.Array => new Result(true, StoreOutcome.Stored, touch),

                // EXECABORT: a command was refused as it was queued, which under maxmemory is the write itself.
                RespReply.Kind.Error when exec.Text.Contains("OOM", StringComparison.Ordinal) => new Result(true, StoreOutcome.Refused, OutOfMemory: true),

                // Nil: a watched key changed since it was read; the script decides in one step.
                _ => Result.Undecided,
            };
        }

        // The script's refusal: the claim deleted if it is still this store's, and the key published either way.
        private async ValueTask<Result> RefuseAsync(StoreOutcome outcome, CancellationToken cancellationToken)
        {
            if (_mine)
            {
                connection.Command(1).Add("MULTI"u8);
                connection.Command(2).Add("DEL"u8).Add(claimKey);
                connection.Command(3).Add("PUBLISH"u8).Add(owner._channel).Add(key);
                var done = await ExecuteAsync(2, 0, cancellationToken).ConfigureAwait(false);
                return done.Decided && !done.OutOfMemory ? new Result(true, outcome) : done;
            }

            connection.Command(1).Add("UNWATCH"u8);
            connection.Command(3).Add("PUBLISH"u8).Add(owner._channel).Add(key);
            await connection.FlushAsync(cancellationToken).ConfigureAwait(false);
            await connection.ReadLastAsync(2, cancellationToken).ConfigureAwait(false);
            return new Result(true, outcome);
        }

        private static Failure Worse(Failure a, Failure b) => (Failure)Math.Max((int)a, (int)b);

        private static long StampOf(in RespReply record, int field)
            => record.Elements is { } fields && fields.Length > field && fields[field].TryNumber(out var stamp) ? (long)stamp : 0;

        private static long RevokedAt(string holder)
        {
            var at = holder.IndexOf('@', 1);
            return at < 0 ? 9007199254740992 : long.TryParse(holder.AsSpan(at + 1), NumberStyles.Integer, CultureInfo.InvariantCulture, out var revoked) ? revoked : 0;
        }

        // The script's header(key, true): a current-version MintCache header, else no entry (a store overwrites it).
        private static byte[]? HeaderOf(in RespReply reply) => reply.Bytes is { } header && RedisEntryFormat.IsCurrentHeader(header) ? header : null;

        // As the script's SETRANGE of the head: magic, version, the codec byte the caller set, the times and the page's length.
        private static void WriteHeader(byte[] entry, in EntryTimes times)
        {
            var head = entry.AsSpan();
            RedisEntryFormat.Magic.CopyTo(head);
            head[VersionOffset] = RedisWire.Version;
            head[CodecOffset + 1] = 0;
            head[CodecOffset + 2] = 0;
            times.Write(head[StaleAtOffset..]);
            BinaryPrimitives.WriteInt32BigEndian(head[PageLengthOffset..], entry.Length - HeaderSize);
        }
    }

    private byte[] ClearKey => (byte[])keys.Clear!;

    private long ClearedHard => clears.Hard;

    private long ClearedSoft => clears.Soft;

    private long HorizonMs => horizonMs;

    private RedisKey TagKey(string tag) => keys.Tag(tag);

    /// <summary>The header's times, from stale-at to eager-at, as the script's <c>times()</c> lays them out.</summary>
    private readonly struct EntryTimes(long now, long nowUs, long oldGeneration, EntryLifetime lifetime)
    {
        private readonly long _fresh = RedisBackend.Milliseconds(lifetime.Fresh, minimum: 1);
        private readonly long _grace = RedisBackend.Milliseconds(lifetime.Grace);
        private readonly long _eager = lifetime.EagerAfter > TimeSpan.Zero ? now + RedisBackend.Milliseconds(lifetime.EagerAfter, minimum: 1) : 0;

        public long LatestExpiry => now + _fresh + _grace + RedisBackend.Milliseconds(lifetime.FailSafe);

        public void Write(Span<byte> times)
        {
            BinaryPrimitives.WriteInt64BigEndian(times, now + _fresh);
            BinaryPrimitives.WriteInt64BigEndian(times[8..], now + _fresh + _grace);
            BinaryPrimitives.WriteInt64BigEndian(times[16..], Math.Max(oldGeneration + 1, nowUs));
            BinaryPrimitives.WriteInt64BigEndian(times[24..], LatestExpiry);
            BinaryPrimitives.WriteInt32BigEndian(times[32..], (int)_grace);
            BinaryPrimitives.WriteInt64BigEndian(times[36..], _eager);
        }

        /// <summary>The <see cref="RedisTouchNotice"/> a touch publishes.</summary>
        public byte[] TouchNotice(string key, byte[] renderTime)
        {
            var keep = _eager > 0 && _eager < now + _fresh ? _eager : now + _fresh;
            var notice = new byte[1 + 8 + 8 + 8 + 4 + 8 + Encoding.UTF8.GetByteCount(key)];
            notice[0] = (byte)ChannelMark.Touched;
            BinaryPrimitives.WriteInt64BigEndian(notice.AsSpan(1), keep);
            BinaryPrimitives.WriteInt64BigEndian(notice.AsSpan(9), now + _fresh + _grace);
            BinaryPrimitives.WriteInt64BigEndian(notice.AsSpan(17), LatestExpiry);
            BinaryPrimitives.WriteInt32BigEndian(notice.AsSpan(25), (int)_grace);
            renderTime.CopyTo(notice, 29);
            Encoding.UTF8.GetBytes(key, notice.AsSpan(37));
            return notice;
        }
    }
}
