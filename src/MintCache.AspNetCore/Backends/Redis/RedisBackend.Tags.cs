using StackExchange.Redis;

namespace MintCache.AspNetCore.Backends.Redis;

/// <summary>
/// Tags in Redis: one sorted set per tag whose members are the cache keys that carry it, scored by the entry's expiry.
/// </summary>
/// <remarks>
/// A tag's set lives on its own slot, apart from the entries it names, so tags are written and evicted per key rather
/// than in the entry's script: that keeps every script on one slot (Redis Cluster) at the price of a second round
/// trip on a store. A tag eviction may name a key whose newer entry no longer carries the tag; evicting it anyway is
/// the safe side (one extra regeneration), and is rare because every store prunes the members past their expiry.
/// </remarks>
internal sealed partial class RedisBackend
{
    // Keeps a tag's set a little longer than its longest-lived member so pruning, not expiry, removes members.
    private const long TagTtlMarginMs = 1_000;

    // How many members an eviction reads and acts on per round trip.
    private const int EvictBatchSize = 256;

    private Task AddTagsAsync(IDatabase db, string key, string[] tags, long expiresAt, long now)
    {
        if (tags.Length == 0)
        {
            return Task.CompletedTask;
        }

        // Pipelined: StackExchange.Redis sends all of them before the first reply comes back.
        var writes = new Task[tags.Length];
        for (var i = 0; i < tags.Length; i++)
        {
            writes[i] = RedisScripts.AddTag.EvaluateAsync(db, new AddTagArgs(_keys.Tag(tags[i]), key, expiresAt, now, expiresAt - now + TagTtlMarginMs));
        }

        return Task.WhenAll(writes);
    }

    public async ValueTask EvictByTagAsync(string tag, bool soft, CancellationToken cancellationToken)
    {
        // Entries stored locally during an outage carry the tag too.
        await _local.EvictByTagAsync(tag, soft, cancellationToken).ConfigureAwait(false);

        var call = BeginCall();
        try
        {
            await _pipeline.ExecuteAsync(
                static async (state, ct) =>
                {
                    var self = state.Self;
                    var db = state.Db;
                    var tagKey = self._keys.Tag(state.Tag);
                    for (long start = 0; ; start += EvictBatchSize)
                    {
                        // By rank, not by score: members are never removed here (a concurrent store may have just
                        // added one back), only pruned by expiry, so ranks stay stable enough to page through.
                        var members = await db.SortedSetRangeByRankAsync(tagKey, start, start + EvictBatchSize - 1).WaitAsync(ct).ConfigureAwait(false);
                        var evictions = new Task[members.Length];
                        for (var i = 0; i < members.Length; i++)
                        {
                            var entry = self._keys.Entry(members[i]!);
                            evictions[i] = state.Soft
                                ? RedisScripts.MarkStale.EvaluateAsync(db, new MarkStaleArgs(entry))
                                : db.KeyDeleteAsync(entry);
                        }

                        await Task.WhenAll(evictions).WaitAsync(ct).ConfigureAwait(false);
                        if (members.Length < EvictBatchSize)
                        {
                            return;
                        }
                    }
                },
                (Self: this, Db: await DatabaseAsync(cancellationToken).ConfigureAwait(false), Tag: tag, Soft: soft),
                cancellationToken).ConfigureAwait(false);
            OnSuccess(call);
        }
        catch (Exception ex) when (IsRedisFailure(ex, cancellationToken))
        {
            OnFailure(call, ex);

            // Let the store log it as a failed eviction: Redis still holds the tagged entries.
            throw;
        }
    }
}
