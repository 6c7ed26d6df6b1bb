using MintCache.AspNetCore.Diagnostics;
using MintCache.AspNetCore.Entries;
using StackExchange.Redis;

namespace MintCache.AspNetCore.Backends.Redis;

/// <summary>
/// Tags in Redis: one sorted set per tag whose members are the cache keys that carry it, scored by the entry's expiry.
/// </summary>
/// <remarks>
/// On one node, a store writes its tags in the entry's script (RedisBackend.Store.cs). On a cluster a tag's set lives
/// on its own slot, apart from the entries it names, so tags are written per key, before the entry, at the price of a
/// second round trip on a store. Evictions go per key everywhere. A tag eviction may name a key whose newer entry no longer carries the tag; evicting it anyway is
/// the safe side (one extra regeneration), and is rare because stores prune the members past their expiry (and its margin).
/// </remarks>
internal sealed partial class RedisBackend
{
    // How many entries an eviction acts on per pipeline execution.
    private const int EvictBatchSize = 256;

    // The member of a tag's set that records when the tag was last evicted. A cache key never starts with U+001F.
    private const string EvictedMarkerText = "\u001Fevicted";

    private static readonly RedisValue EvictedMarker = EvictedMarkerText;

    // How long a tag's eviction is remembered to refuse the stores of regenerations that began before it; a store
    // under a claim taken longer ago than this is refused if its page carries a tag.
    internal static readonly TimeSpan EvictionMemory = TimeSpan.FromMinutes(10);

    private static readonly long EvictionMemoryMs = Milliseconds(EvictionMemory);

    // How long past its entry's last moment a membership stays: a tag's set may live on another master than its entries,
    // so this covers the clock skew between masters (pruning only saves space, a margin too short loses purges).
    private static readonly TimeSpan TagLifeMargin = TimeSpan.FromSeconds(60);

    // The same margin where a store writes its tags in the entry's own script (one node): one clock stamps the entry's
    // expiry and the membership, so there is no skew to cover, only rounding. Every tag set kept past its pages costs
    // Redis memory on a long tail.
    private static readonly TimeSpan SameNodeTagLifeMargin = TimeSpan.FromSeconds(1);

    /// <summary>
    /// On a cluster: writes the tags of a key about to be stored, before the entry, all sent before the first reply.
    /// <paramref name="since"/> is when the page's regeneration began (server ms; 0 when unknown).
    /// </summary>
    /// <returns>0 when every tag was written; else the <see cref="Store.StoreOutcome"/> the store must be refused with.</returns>
    private async Task<int> AddTagsAsync(IDatabase db, string key, string[] tags, long lifeMs, long since)
    {
        var writes = new Task<RedisResult>[tags.Length];
        for (var i = 0; i < tags.Length; i++)
        {
            writes[i] = RedisScripts.AddTagAsync(db, _keys.Tag(tags[i]), key, lifeMs, since, EvictedMarker, EvictionMemoryMs);
        }

        var decided = 0;
        foreach (var reply in await Task.WhenAll(writes).ConfigureAwait(false))
        {
            var outcome = (int)reply;
            if (outcome != (int)Store.StoreOutcome.Stored)
            {
                decided = Math.Max(decided, outcome);
            }
        }

        return decided;
    }

    public async ValueTask EvictByTagAsync(string tag, bool soft, CancellationToken cancellationToken)
    {
        // Entries stored locally during an outage carry the tag too; pages kept from the near cache carry no tag of
        // their own, and go with any eviction.
        await _local.EvictByTagAsync(tag, soft, cancellationToken).ConfigureAwait(false);
        await _local.EvictByTagAsync(LastKnownTag, soft: false, cancellationToken).ConfigureAwait(false);

        var call = BeginCall();
        IDatabase? db = null;
        var published = false;
        Exception? unpublished = null;
        try
        {
            // The eviction's time, then every member, in one step: paging by rank could skip members while concurrent
            // stores prune the set, and a skipped member would survive a hard eviction. Pruning on every store keeps
            // the set to live entries.
            (db, var begun) = await _pipeline.ExecuteAsync(
                static async (state, ct) =>
                {
                    var db = await state.Self.DatabaseAsync(ct).ConfigureAwait(false);
                    return (db, await RedisScripts.BeginTagEvictionAsync(db, state.TagKey, EvictedMarker, EvictionMemoryMs).WaitAsync(ct).ConfigureAwait(false));
                },
                (Self: this, TagKey: _keys.Tag(tag)),
                cancellationToken).ConfigureAwait(false);
            RedisValue[] members;
            if (begun.Resp2Type == ResultType.Integer)
            {
                // Another program's data under the tag's key: every store carrying the tag is refused, so no entry
                // stored since carries it.
                Log.RedisTagKeyForeign(_logger);
                members = [];
            }
            else
            {
                members = Array.FindAll((RedisValue[])begun!, static m => m != EvictedMarker);
            }

            // Then one pipeline execution per batch, so the operation timeout bounds a batch, not a whole large tag.
            for (var start = 0; start < members.Length; start += EvictBatchSize)
            {
                try
                {
                    await _pipeline.ExecuteAsync(
                        static async (state, ct) =>
                        {
                            var (self, db, batch, soft) = state;
                            var evictions = new Task[batch.Length];
                            for (var i = 0; i < batch.Length; i++)
                            {
                                var key = (string)batch.Span[i]!;
                                evictions[i] = RedisScripts.EvictEntryAsync(db, self._keys.Entry(key), self._keys.Claim(key), soft ? 1 : 0, Milliseconds(self._options.LeaseDuration));
                            }

                            await Task.WhenAll(evictions).WaitAsync(ct).ConfigureAwait(false);
                        },
                        (Self: this, Db: db, Batch: members.AsMemory(start, Math.Min(EvictBatchSize, members.Length - start)), Soft: soft),
                        cancellationToken).ConfigureAwait(false);
                }
                finally
                {
                    // Per batch, and also when it failed or timed out: some of its entries may have changed anyway.
                    unpublished = await PublishEvictedAsync(db).ConfigureAwait(false);
                    published = true;
                }
            }

            OnSuccess(call);
        }
        catch (Exception ex) when (IsRedisFailure(ex, cancellationToken))
        {
            OnFailure(call, ex, Tags.OperationEvict);

            // Evicted locally, not in Redis: the caller must learn that the purge did not happen.
            throw;
        }
        finally
        {
            if (!published && db is not null)
            {
                // No batch ran (no member in Redis, or the members could not be read): other processes may still
                // hold local fallback copies that carry the tag.
                unpublished = await PublishEvictedAsync(db).ConfigureAwait(false);
            }

            // Whatever happened in Redis, this process forgets its near copies of possibly evicted pages.
            _notifications.Invalidate();
        }

        // Invariant 8: the other hosts keep their near copies as fresh until they hear of it, so an eviction whose
        // last message was not sent is a failed purge. Only the last counts: each message clears every near cache.
        if (unpublished is not null)
        {
            _metrics.BackendError(Name, Tags.OperationEvict);
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(unpublished);
        }
    }

    /// <summary>
    /// Tells every process that a tag eviction changed entries (an empty message): which near copies carry the tag is
    /// known only where they were stored, so each process clears its near cache and its local fallback copies. Outside
    /// the pipeline so that it is tried even when the eviction failed; never throws.
    /// </summary>
    /// <returns>Why the message was not sent, or <see langword="null"/> once it was.</returns>
    private async Task<Exception?> PublishEvictedAsync(IDatabase db)
    {
        // This process at once, before the message: a lookup that read a copy before is caught by the change.
        _notifications.Invalidate();
        try
        {
            await db.PublishAsync(_notifications.Channel, RedisValue.EmptyString).WaitAsync(_options.Redis.OperationTimeout).ConfigureAwait(false);
            return null;
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException or ObjectDisposedException)
        {
            Log.RedisCallFailed(_logger, ex);
            return ex;
        }
    }

    /// <summary>Another process evicted a tag: local fallback copies may carry it, and are dropped.</summary>
    private void OnTagsEvictedElsewhere() => _local.Clear();
}
