using MintCache.AspNetCore.Diagnostics;

namespace MintCache.AspNetCore.Backends.Redis;

/// <summary>The eviction of one key, farm-wide: when a regeneration's origin said the page is gone.</summary>
internal sealed partial class RedisBackend
{
    public async ValueTask EvictKeyAsync(string key, CancellationToken cancellationToken)
    {
        // A copy stored locally during an outage goes too, and this process's near copy at once.
        await _local.EvictKeyAsync(key, cancellationToken).ConfigureAwait(false);
        _notifications.Changed(key);

        var call = BeginCall();
        try
        {
            // The per-entry eviction of tags (it revokes a live claim, so a regeneration under it cannot store), then
            // the key's change message, on which the other processes drop their near copies and wake their waiters.
            await _pipeline.ExecuteAsync(
                static async (state, ct) =>
                {
                    var (self, key) = state;
                    var db = await self.DatabaseAsync(ct).ConfigureAwait(false);
                    await RedisScripts.EvictEntryAsync(db, self._keys.Entry(key), self._keys.Claim(key), 0, Milliseconds(self._options.LeaseDuration)).WaitAsync(ct).ConfigureAwait(false);
                    await db.PublishAsync(self._notifications.Channel, key).WaitAsync(ct).ConfigureAwait(false);
                },
                (Self: this, Key: key),
                cancellationToken).ConfigureAwait(false);
            OnSuccess(call);
        }
        catch (Exception ex) when (IsRedisFailure(ex, cancellationToken))
        {
            OnFailure(call, ex, Tags.OperationEvict, _keys.Entry(key));
            throw;
        }
        finally
        {
            // Again after the eviction: a lookup sent before it may have read the page and not be back yet.
            _notifications.Changed(key);
        }
    }
}
