using StackExchange.Redis;

using MintCache.AspNetCore.Diagnostics;

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

    // How many entries an eviction acts on per pipeline execution.
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
            var db = await DatabaseAsync(cancellationToken).ConfigureAwait(false);

            // Every member in one read: paging by rank could skip members while concurrent stores prune the set, and
            // a skipped member would survive a hard eviction. Pruning on every store keeps the set to live entries.
            var members = await _pipeline.ExecuteAsync(
                static async (state, ct) => await state.Db.SortedSetRangeByRankAsync(state.TagKey).WaitAsync(ct).ConfigureAwait(false),
                (Db: db, TagKey: _keys.Tag(tag)),
                cancellationToken).ConfigureAwait(false);

            // Then one pipeline execution per batch, so the operation timeout bounds a batch, not a whole large tag.
            for (var start = 0; start < members.Length; start += EvictBatchSize)
            {
                await _pipeline.ExecuteAsync(
                    static async (state, ct) =>
                    {
                        var (self, db, batch, soft) = state;
                        var evictions = new Task[batch.Length];
                        for (var i = 0; i < batch.Length; i++)
                        {
                            var entry = self._keys.Entry(batch.Span[i]!);
                            evictions[i] = soft
                                ? RedisScripts.MarkStale.EvaluateAsync(db, new MarkStaleArgs(entry))
                                : db.KeyDeleteAsync(entry);
                        }

                        await Task.WhenAll(evictions).WaitAsync(ct).ConfigureAwait(false);
                    },
                    (Self: this, Db: db, Batch: members.AsMemory(start, Math.Min(EvictBatchSize, members.Length - start)), Soft: soft),
                    cancellationToken).ConfigureAwait(false);
            }

            // Which near copies carry the tag is known only where they were stored, so every process clears its near
            // cache (an empty message), this one at once, after the entries changed in Redis: a lookup that read one
            // before is caught by the change.
            _notifications.Invalidate();
            await _pipeline.ExecuteAsync(
                static async (state, ct) => await state.Db.PublishAsync(state.Channel, RedisValue.EmptyString).WaitAsync(ct).ConfigureAwait(false),
                (Db: db, Channel: _notifications.Channel),
                cancellationToken).ConfigureAwait(false);
            OnSuccess(call);
        }
        catch (Exception ex) when (IsRedisFailure(ex, cancellationToken))
        {
            OnFailure(call, ex, Tags.OperationEvict);

            // Let the store log it as a failed eviction: Redis still holds the tagged entries.
            throw;
        }
        finally
        {
            // Whatever happened in Redis, this process forgets its near copies of possibly evicted pages.
            _notifications.Invalidate();
        }
    }
}
