using MintCache.AspNetCore.Diagnostics;
using StackExchange.Redis;

namespace MintCache.AspNetCore.Backends.Redis;

/// <summary>
/// Clears on Redis: one record (<see cref="RedisKeys.Clear"/>) of the latest hard and soft clears, in server
/// microseconds, the unit of entry generations, so "stored before the clear" is read from an entry's header. The
/// scripts compare each entry they read with it (on one node the record itself, on a cluster this process's copy), the
/// plain reads and near copies with this process's copy (<see cref="RedisClearStamps"/>), and a store whose regeneration
/// began before it is refused. Nothing is scanned: the cost does not grow with the number of pages.
/// </summary>
/// <remarks>
/// On a cluster the record lives on its own slot, so the scripts take this process's copy, which is complete only while
/// the notifications are live: a host that missed a clear's message (its subscription down, then restored) reads the
/// record again before it trusts the copy, and until then its plain reads leave every decision to the scripts. Entry
/// generations come from each master's clock and the record's from its own: pages stored within the masters' clock
/// skew before a clear may escape it.
/// </remarks>
internal sealed partial class RedisBackend
{
    private static readonly RedisValue[] ClearFields = ["h", "s"];

    private static readonly RedisValue ClearMessagePrefix = RedisClearStamps.MessagePrefix;

    /// <summary>For tests: this process's copy of the clear record.</summary>
    internal RedisClearStamps Clears => _clears;

    public async ValueTask ClearAsync(bool soft, CancellationToken cancellationToken)
    {
        // Pages stored locally during an outage, and the last-known copies, are cleared here as everywhere.
        await _local.ClearAsync(soft, cancellationToken).ConfigureAwait(false);

        var call = BeginCall();
        try
        {
            var stamps = await _pipeline.ExecuteAsync(
                static async (state, ct) =>
                {
                    var db = await state.Self.DatabaseAsync(ct).ConfigureAwait(false);
                    var reply = await RedisScripts.ClearAsync(db, state.Self._keys.Clear, state.Soft ? 1 : 0, state.Self.ChannelName, ClearMessagePrefix)
                        .WaitAsync(ct).ConfigureAwait(false);
                    await PassClearMillisecondAsync(db, state.Self._keys.Clear, (long)((RedisResult[])reply!)[state.Soft ? 1 : 0], ct).ConfigureAwait(false);
                    return reply;
                },
                (Self: this, Soft: soft),
                cancellationToken).ConfigureAwait(false);
            OnSuccess(call);
            var reply = (RedisResult[])stamps!;
            _clears.Heard((long)reply[0], (long)reply[1]);
        }
        catch (Exception ex) when (IsRedisFailure(ex, cancellationToken))
        {
            // Cleared locally, not in Redis: the caller must learn that the clear did not happen.
            OnFailure(call, ex, Tags.OperationEvict);
            throw;
        }
        finally
        {
            // The message (published by the script, in the same step as the record) reaches this process too; its near
            // copies go at once.
            _notifications.Invalidate();
        }
    }

    /// <summary>
    /// Returns once the clock of the record's node has passed the millisecond of the clear stamped <paramref name="stampUs"/>:
    /// stores are fenced against a clear at the server's millisecond, so a regeneration begun after the clear returned is
    /// never taken for one begun before it (in that millisecond it would be refused, and render once more).
    /// </summary>
    private static async Task PassClearMillisecondAsync(IDatabase db, RedisKey record, long stampUs, CancellationToken cancellationToken)
    {
        var passed = (stampUs / 1000 + 1) * 1000;
        while (true)
        {
            var time = (RedisResult[])(await db.ScriptEvaluateAsync(NodeTimeScript, [record]).WaitAsync(cancellationToken).ConfigureAwait(false))!;
            if ((long)time[0] * 1_000_000 + (long)time[1] >= passed)
            {
                return;
            }

            await Task.Delay(1, cancellationToken).ConfigureAwait(false);
        }
    }

    // TIME on the node that holds the key (the record's, on a cluster).
    private const string NodeTimeScript = "return redis.call('TIME')";

    /// <summary>The record the scripts read themselves, where it shares their node (one node); on a cluster, none.</summary>
    private RedisKey? ClearRecordFor(IDatabase db) => TagsShareNode(db) ? _keys.Clear : (RedisKey?)null;

    /// <summary>Another process cleared: the local fallback copies go (hard) or are marked stale (soft) too.</summary>
    private void OnClearedElsewhere(bool hard, bool soft)
    {
        if (hard)
        {
            _ = _local.ClearAsync(soft: false, CancellationToken.None);
        }

        if (soft)
        {
            _ = _local.ClearAsync(soft: true, CancellationToken.None);
        }
    }

    /// <summary>The notifications went live: clears may have been missed while nobody listened, so the record is read again.</summary>
    private void OnNotificationsLive()
    {
        DropLastKnownUnlessDegraded();
        _ = ReadClearRecordAsync();
    }

    // Never throws: it runs in the background. Tried a few times, a second apart; until it succeeds the plain reads leave
    // every decision to the scripts, which is slower, never wrong.
    private async Task ReadClearRecordAsync()
    {
        var epoch = _clears.Epoch;
        for (var attempt = 0; attempt < 10 && epoch == _clears.Epoch; attempt++)
        {
            try
            {
                var multiplexer = await _connection.GetAsync(CancellationToken.None).ConfigureAwait(false);
                var record = await multiplexer.GetDatabase().HashGetAsync(_keys.Clear, ClearFields)
                    .WaitAsync(_options.Redis.OperationTimeout).ConfigureAwait(false);
                _clears.Read(Stamp(record[0]), Stamp(record[1]), epoch);
                return;
            }
            catch (Exception ex) when (ex is RedisException or TimeoutException or ObjectDisposedException)
            {
                Log.RedisClearStampUnread(_logger, ex);
            }

            await Task.Delay(TimeSpan.FromSeconds(1)).ConfigureAwait(false);
        }

        static long Stamp(RedisValue value) => value.TryParse(out long stamp) ? stamp : 0;
    }
}
