using MintCache.AspNetCore.Backends.Redis.Transactions;
using MintCache.AspNetCore.Diagnostics;
using MintCache.AspNetCore.Entries;
using MintCache.AspNetCore.Store;
using StackExchange.Redis;

namespace MintCache.AspNetCore.Backends.Redis;

/// <summary>
/// A store on Redis: on a standalone server, a transaction on a connection of MintCache's own
/// (<see cref="RedisTransactionStore"/>); otherwise, or where that cannot decide, one script writes the entry under its
/// fence and, where the tags' sets live on the same node (anything but a cluster), the tags with it, in one round trip.
/// </summary>
internal sealed partial class RedisBackend
{
    // At most this many connections of MintCache's own per process; a store that finds them all lent runs the script.
    private const int TransactionConnections = 16;

    /// <summary>For tests and diagnosis: the stores by transaction, when they are on.</summary>
    internal RedisTransactionStore? Transactions => _transactions;

    private RedisValue _channelName;

    // 0 not known yet; 1 one node (tags go into the store script); 2 a cluster or a proxy (tags in scripts of their own).
    private int _topology;

    /// <summary>The notification channel's name as a script argument, built once.</summary>
    private RedisValue ChannelName => _channelName.IsNull ? _channelName = (string)_notifications.Channel! : _channelName;

    /// <summary>
    /// Runs the store script for <paramref name="value"/> (room for the header, then the page), or first the touch. Its fence starts at the
    /// claim's time or, without one, at the request's miss (invariant 8 holds for every store path).
    /// </summary>
    private async ValueTask<StoreOutcome> StoreOnRedisAsync(
        string key, RedisStoreValue value, string[] tags, EntryLifetime lifetime, StoreFence fence, RedisScripts.TouchArguments? touch, CancellationToken cancellationToken)
    {
        try
        {
            return await WriteOnRedisAsync(key, value, tags, lifetime, fence, touch, cancellationToken).ConfigureAwait(false);
        }
        catch (RedisServerException ex) when (IsOutOfMemory(ex))
        {
            // Redis is full and refuses writes (maxmemory under noeviction): the page is not stored, but Redis answers,
            // so this is a refused store, not a failure for the breaker nor a reason to answer from local memory.
            Log.RedisStoreOutOfMemory(_logger);
            return StoreOutcome.Refused;
        }
    }

    private async Task<StoreOutcome> WriteOnRedisAsync(
        string key, RedisStoreValue value, string[] tags, EntryLifetime lifetime, StoreFence fence, RedisScripts.TouchArguments? touch, CancellationToken cancellationToken)
    {
        var db = await DatabaseAsync(cancellationToken).ConfigureAwait(false);
        var since = fence.Claim is { ClaimedAt: > 0 } claim ? claim.ClaimedAt : fence.MissedAt;
        var decided = 0;
        RedisKey[] keys;
        var sameNode = tags.Length == 0 || TagsShareNode(db);
        var tagLifeMs = Milliseconds(lifetime.Total + lifetime.FailSafe + (sameNode ? SameNodeTagLifeMargin : TagLifeMargin));
        if (sameNode)
        {
            keys = new RedisKey[2 + tags.Length];
            for (var i = 0; i < tags.Length; i++)
            {
                keys[2 + i] = _keys.Tag(tags[i]);
            }
        }
        else
        {
            // The tags first, so that an entry never exists without them: an eviction that reads the tag's members
            // afterwards finds the key (and revokes its claim key), and one that read them before is seen by the tag's
            // eviction time, which refuses a page that began earlier.
            decided = await AddTagsAsync(db, key, tags, tagLifeMs, since).WaitAsync(cancellationToken).ConfigureAwait(false);
            keys = new RedisKey[2];
        }

        if (_transactions is { } transactions && TagsShareNode(db))
        {
            if (await StoreByTransactionAsync(transactions, db, key, value, tags, lifetime, fence, touch, since, tagLifeMs, cancellationToken).ConfigureAwait(false) is { } byTransaction)
            {
                return byTransaction;
            }
        }

        keys[0] = _keys.Entry(key);
        keys[1] = _keys.Claim(key);
        Task<RedisResult> Run(RedisScripts.TouchArguments? touching) => RedisScripts.SetAsync(
            db,
            keys,
            touching is null ? value.Value : [],
            Milliseconds(lifetime.Fresh, minimum: 1),
            Milliseconds(lifetime.Grace),
            Milliseconds(lifetime.FailSafe),
            fence.Claim is { } ticket ? ticket.Token : RedisValue.EmptyString,
            fence.Claim is { } fenced ? fenced.Generation : RedisValue.EmptyString,
            since,
            decided,
            ChannelName,
            key,
            lifetime.EagerAfter > TimeSpan.Zero ? Milliseconds(lifetime.EagerAfter, minimum: 1) : 0,
            tagLifeMs,
            EvictedMarker,
            EvictionMemoryMs,
            ClearRecordFor(db),
            _clears.Hard,
            _clears.Soft,
            touching);
        if (touch is { } sameAsClaimed)
        {
            // The same page as the claimed one: its hash and render time go, not the page (RedisBackend.Touch.cs).
            var touched = new RedisStoreReply(await Run(sameAsClaimed).WaitAsync(cancellationToken).ConfigureAwait(false));
            if (touched.Touch != RedisWire.TouchResult.Changed)
            {
                return OnTouched(touched);
            }
        }

        var outcome = new RedisStoreReply(await Run(null).WaitAsync(cancellationToken).ConfigureAwait(false)).Outcome;
        if (outcome == StoreOutcome.Refused)
        {
            Log.RedisStoreRefusedForeignKey(_logger);
        }

        return outcome;
    }

    /// <summary>
    /// The store, or its touch, by transaction (a touch whose page changed stores it in the same transaction); null where
    /// the transaction left the decision to the script.
    /// </summary>
    private async ValueTask<StoreOutcome?> StoreByTransactionAsync(
        RedisTransactionStore transactions, IDatabase db, string key, RedisStoreValue value, string[] tags, EntryLifetime lifetime, StoreFence fence,
        RedisScripts.TouchArguments? touch, long since, long tagLifeMs, CancellationToken cancellationToken)
    {
        var result = await transactions.StoreAsync(db.Multiplexer, db.Database, key, value, tags, lifetime, fence, touch, since, tagLifeMs, cancellationToken).ConfigureAwait(false);
        return result.Decided ? OnTransaction(result) : null;
    }

    private StoreOutcome OnTransaction(in RedisTransactionStore.Result result)
    {
        if (result.OutOfMemory)
        {
            Log.RedisStoreOutOfMemory(_logger);
            return StoreOutcome.Refused;
        }

        return OnTouched(result.Outcome, result.Touch);
    }

    /// <summary>Gives a claim back: by transaction where one can decide, else (and for a failed render's) by script.</summary>
    private async ValueTask ReleaseOnRedisAsync(string key, long token, TimeSpan retryAfter, bool failed, CancellationToken cancellationToken)
    {
        using var underWay = _transactions?.BeginRelease(key);
        var db = await DatabaseAsync(cancellationToken).ConfigureAwait(false);
        if (!failed && _transactions is { } transactions && TagsShareNode(db)
            && await transactions.ReleaseAsync(db.Multiplexer, db.Database, key, token, Milliseconds(retryAfter), cancellationToken).ConfigureAwait(false))
        {
            return;
        }

        await RedisScripts.ReleaseClaimAsync(db, _keys.Entry(key), _keys.Claim(key), token, Milliseconds(retryAfter), failed ? 1 : 0, ChannelName, key)
            .WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    private RedisTransactionStore? CreateTransactionStore() => _options.Redis.StoreTransactions
        ? new RedisTransactionStore(_keys, _clears, _fastReads.Clocks, _notifications.Channel.ToString(), EvictedMarkerText, EvictionMemoryMs,
            new RespConnectionPool(TransactionConnections, _options.Redis.BreakDuration, _timeProvider, _logger), _logger)
        : null;

    /// <summary>
    /// Whether every key of the store script may be on one node: a standalone server (with its replicas), not a cluster
    /// or a proxy, where a tag's set lives on another slot than its entry.
    /// </summary>
    private bool TagsShareNode(IDatabase db)
    {
        var topology = Volatile.Read(ref _topology);
        if (topology == 0)
        {
            var servers = db.Multiplexer.GetServers();
            topology = servers.Length > 0 && Array.TrueForAll(servers, static s => s.IsConnected && s.ServerType == ServerType.Standalone) ? 1 : 2;

            // Known for good once every server has answered; until then, the cluster's way, which is right everywhere.
            if (Array.TrueForAll(servers, static s => s.IsConnected))
            {
                Volatile.Write(ref _topology, topology);
            }
        }

        return topology == 1;
    }

    private static bool IsOutOfMemory(RedisServerException exception)
        => exception.Message.StartsWith("OOM", StringComparison.Ordinal)
            || exception.Message.Contains("-OOM", StringComparison.Ordinal)
            || exception.Message.Contains("OOM command not allowed", StringComparison.Ordinal);
}
