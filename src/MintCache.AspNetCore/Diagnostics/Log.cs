using Microsoft.Extensions.Logging;

namespace MintCache.AspNetCore.Diagnostics;

/// <summary>
/// Every message MintCache logs. Event ids are append only: alerts and tests key on them.
/// </summary>
/// <remarks>No message carries a cache key or tag at Warning or above: keys hold paths and query strings.</remarks>
internal static partial class Log
{
    internal const int IdLookupFailed = 1;
    internal const int IdStoreFailed = 2;
    internal const int IdEvictFailed = 3;
    internal const int IdClaimWon = 4;
    internal const int IdRegenerationNotStored = 5;
    internal const int IdFencedWriteRefused = 6;
    internal const int IdEmptyKeyIgnored = 7;
    internal const int IdReleaseFailed = 8;
    internal const int IdEntryTooLarge = 9;
    internal const int IdCompacted = 10;
    internal const int IdRegenerationSlotsFull = 11;
    internal const int IdBackgroundRegenerationNotStored = 12;
    internal const int IdBackgroundRegenerationFailed = 13;
    internal const int IdBackgroundRegenerationCancelled = 14;
    internal const int IdBackgroundRegenerationStarted = 15;
    internal const int IdForegroundFallback = 16;
    internal const int IdEntryStored = 17;
    internal const int IdReservedTagIgnored = 18;
    internal const int IdRenewFailed = 19;
    internal const int IdStaleDirectiveIgnored = 41;
    internal const int IdBackgroundRegenerationImpossible = 42;

    internal const int IdRedisUnavailable = 20;
    internal const int IdRedisRestored = 21;
    internal const int IdRedisCallFailed = 22;
    internal const int IdEntryRejected = 23;
    internal const int IdRedisCircuitOpened = 24;
    internal const int IdLastKnownKept = 25;
    internal const int IdLocalPagesDropped = 26;
    // 20-39: the Redis backend. 40 and up: operability (health, telemetry).
    internal const int IdBackendHealthChanged = 40;
    // 120-139: the Redis wire (scripts and their replies).
    internal const int IdRedisStoreOutOfMemory = 120;
    internal const int IdRedisStoreRefusedForeignKey = 121;
    internal const int IdRedisTagKeyForeign = 122;

    // 100-119: background regenerations (the copy's failures, its context) and the origin's answer.
    internal const int IdCopyFailed = 100;
    internal const int IdCompletionCallbackFailed = 101;
    internal const int IdOriginSaidGone = 102;
    internal const int IdEvictKeyFailed = 103;
    internal const int IdRegenerationTelemetryFailed = 104;
    internal const int IdRegenerationsAbandonedAtShutdown = 105;

    [LoggerMessage(IdCopyFailed, LogLevel.Warning,
        "A background regeneration of {Endpoint} needed a server feature its copy lacks ({Feature}); the page now refreshes in the foreground.",
        EventName = "CopyFailed")]
    public static partial void CopyFailed(ILogger logger, string endpoint, string feature);

    [LoggerMessage(IdCompletionCallbackFailed, LogLevel.Warning,
        "A completion callback of a background regeneration threw; the other callbacks still ran.",
        EventName = "CompletionCallbackFailed")]
    public static partial void CompletionCallbackFailed(ILogger logger, Exception exception);

    [LoggerMessage(IdOriginSaidGone, LogLevel.Information,
        "A regeneration was answered {Answer}; the stale page was evicted from the {Backend} backend.",
        EventName = "OriginSaidGone")]
    public static partial void OriginSaidGone(ILogger logger, string answer, string backend);

    [LoggerMessage(IdEvictKeyFailed, LogLevel.Warning,
        "The {Backend} cache backend failed to evict a page its origin said is gone; the stale page stays until the next attempt.",
        EventName = "EvictKeyFailed")]
    public static partial void EvictKeyFailed(ILogger logger, string backend, Exception exception);

    [LoggerMessage(IdRegenerationTelemetryFailed, LogLevel.Warning,
        "The telemetry of a background regeneration threw; the regeneration went on without it.",
        EventName = "RegenerationTelemetryFailed")]
    public static partial void RegenerationTelemetryFailed(ILogger logger, Exception exception);

    [LoggerMessage(IdRegenerationsAbandonedAtShutdown, LogLevel.Warning,
        "{Running} background regenerations outlived the shutdown timeout; their claims lapse after one lease.",
        EventName = "RegenerationsAbandonedAtShutdown")]
    public static partial void RegenerationsAbandonedAtShutdown(ILogger logger, int running);

    // 180-199: purging (response tags, paths).
    internal const int IdResponseTagsIgnored = 180;

    [LoggerMessage(IdLookupFailed, LogLevel.Warning,
        "The {Backend} cache backend failed a lookup; the request is answered as a miss and goes to the endpoint.",
        EventName = "LookupFailed")]
    public static partial void LookupFailed(ILogger logger, string backend, Exception exception);

    [LoggerMessage(IdStoreFailed, LogLevel.Warning,
        "The {Backend} cache backend failed to store a response; the response was served but not cached.",
        EventName = "StoreFailed")]
    public static partial void StoreFailed(ILogger logger, string backend, Exception exception);

    [LoggerMessage(IdEvictFailed, LogLevel.Warning,
        "The {Backend} cache backend failed a tag eviction; tagged entries may be served until they expire.",
        EventName = "EvictFailed")]
    public static partial void EvictFailed(ILogger logger, string backend, Exception exception);

    [LoggerMessage(IdClaimWon, LogLevel.Debug,
        "Won the refresh claim of a stale entry on the {Backend} backend; one request regenerates it.",
        EventName = "ClaimWon")]
    public static partial void ClaimWon(ILogger logger, string backend);

    [LoggerMessage(IdRegenerationNotStored, LogLevel.Information,
        "A regeneration ended without storing a response; the {Backend} backend serves the stale page and retries after {RetryAfter}.",
        EventName = "RegenerationNotStored")]
    public static partial void RegenerationNotStored(ILogger logger, string backend, TimeSpan retryAfter);

    [LoggerMessage(IdFencedWriteRefused, LogLevel.Information,
        "A regenerated page was not stored on the {Backend} backend ({Reason}); the stored entry is unchanged.",
        EventName = "FencedWriteRefused")]
    public static partial void FencedWriteRefused(ILogger logger, string backend, Store.StoreOutcome reason);

    [LoggerMessage(IdEmptyKeyIgnored, LogLevel.Debug,
        "A response with an empty cache key was not stored.",
        EventName = "EmptyKeyIgnored")]
    public static partial void EmptyKeyIgnored(ILogger logger);

    [LoggerMessage(IdStaleDirectiveIgnored, LogLevel.Debug,
        "The malformed Cache-Control directive '{Directive}' of a response was ignored.",
        EventName = "StaleDirectiveIgnored")]
    public static partial void StaleDirectiveIgnored(ILogger logger, string directive);

    [LoggerMessage(IdRenewFailed, LogLevel.Debug,
        "The {Backend} cache backend failed to renew a refresh claim; the next heartbeat retries.",
        EventName = "RenewFailed")]
    public static partial void RenewFailed(ILogger logger, string backend, Exception exception);

    [LoggerMessage(IdReleaseFailed, LogLevel.Warning,
        "The {Backend} cache backend failed to release a refresh claim; it lapses on its own after the lease.",
        EventName = "ReleaseFailed")]
    public static partial void ReleaseFailed(ILogger logger, string backend, Exception exception);

    [LoggerMessage(IdEntryTooLarge, LogLevel.Warning,
        "A response of {Size} bytes was not cached: it alone exceeds OutputCacheOptions.SizeLimit ({SizeLimit} bytes).",
        EventName = "EntryTooLarge")]
    public static partial void EntryTooLarge(ILogger logger, long size, long sizeLimit);

    [LoggerMessage(IdCompacted, LogLevel.Information,
        "The in-memory cache reached OutputCacheOptions.SizeLimit ({SizeLimit} bytes) and dropped the {Count} entries closest to expiry.",
        EventName = "Compacted")]
    public static partial void Compacted(ILogger logger, int count, long sizeLimit);

    [LoggerMessage(IdRegenerationSlotsFull, LogLevel.Information,
        "All {MaxConcurrentRegenerations} background regeneration slots are busy; the page is refreshed in the foreground.",
        EventName = "RegenerationSlotsFull")]
    public static partial void RegenerationSlotsFull(ILogger logger, int maxConcurrentRegenerations);

    [LoggerMessage(IdBackgroundRegenerationNotStored, LogLevel.Warning,
        "A background regeneration ended with status {StatusCode} without storing; the next refresh runs in the foreground.",
        EventName = "BackgroundRegenerationNotStored")]
    public static partial void BackgroundRegenerationNotStored(ILogger logger, int statusCode);

    [LoggerMessage(IdBackgroundRegenerationFailed, LogLevel.Warning,
        "A background regeneration failed; the stale page stays in service.",
        EventName = "BackgroundRegenerationFailed")]
    public static partial void BackgroundRegenerationFailed(ILogger logger, Exception exception);

    [LoggerMessage(IdBackgroundRegenerationCancelled, LogLevel.Information,
        "A background regeneration was cancelled because the host is stopping.",
        EventName = "BackgroundRegenerationCancelled")]
    public static partial void BackgroundRegenerationCancelled(ILogger logger);

    [LoggerMessage(IdBackgroundRegenerationImpossible, LogLevel.Warning,
        "The pages of endpoint '{Endpoint}' cannot be refreshed in the background ({Reason}); this process refreshes them in the foreground.",
        EventName = "BackgroundRegenerationImpossible")]
    public static partial void BackgroundRegenerationImpossible(ILogger logger, string endpoint, string reason);

    [LoggerMessage(IdBackgroundRegenerationStarted, LogLevel.Debug,
        "Started a background regeneration of {Method} {Path}.",
        EventName = "BackgroundRegenerationStarted")]
    public static partial void BackgroundRegenerationStarted(ILogger logger, string method, string path);

    [LoggerMessage(IdEntryStored, LogLevel.Debug,
        "Stored a page on the {Backend} backend.",
        EventName = "EntryStored")]
    public static partial void EntryStored(ILogger logger, string backend);

    // Debug only: the tag is the application's own text, but tags may carry values taken from requests.
    [LoggerMessage(IdReservedTagIgnored, LogLevel.Debug,
        "The invalid reserved tag '{Tag}' was ignored ({Reason}).",
        EventName = "ReservedTagIgnored")]
    public static partial void ReservedTagIgnored(ILogger logger, string tag, string reason);

    [LoggerMessage(IdForegroundFallback, LogLevel.Debug,
        "A page is refreshed in the foreground although background refresh was asked for: {Reason}.",
        EventName = "ForegroundFallback")]
    public static partial void ForegroundFallback(ILogger logger, string reason);

    [LoggerMessage(IdRedisUnavailable, LogLevel.Warning,
        "Redis is unavailable ({ExceptionType}); this process serves from its local in-memory cache until Redis answers.",
        EventName = "RedisUnavailable")]
    public static partial void RedisUnavailable(ILogger logger, string exceptionType);

    [LoggerMessage(IdRedisRestored, LogLevel.Information,
        "Redis answers again after {Outage}; this process uses it again.",
        EventName = "RedisRestored")]
    public static partial void RedisRestored(ILogger logger, TimeSpan outage);

    [LoggerMessage(IdRedisCallFailed, LogLevel.Debug,
        "A Redis call failed and was answered from the local in-memory cache.",
        EventName = "RedisCallFailed")]
    public static partial void RedisCallFailed(ILogger logger, Exception exception);

    [LoggerMessage(IdEntryRejected, LogLevel.Warning,
        "A value under a MintCache key on the {Backend} backend was rejected ({Reason}) and answered as a miss.",
        EventName = "EntryRejected")]
    public static partial void EntryRejected(ILogger logger, string backend, Entries.EntryRejectReason reason);

    [LoggerMessage(IdLastKnownKept, LogLevel.Debug,
        "Kept {Count} near copies in local memory as last-known stale pages ({Reason}).",
        EventName = "LastKnownKept")]
    public static partial void LastKnownKept(ILogger logger, int count, string reason);

    [LoggerMessage(IdLocalPagesDropped, LogLevel.Debug,
        "Back on Redis: dropped the pages held in local memory ({Reason}).",
        EventName = "LocalPagesDropped")]
    public static partial void LocalPagesDropped(ILogger logger, string reason);

    [LoggerMessage(IdRedisCircuitOpened, LogLevel.Debug,
        "The Redis circuit breaker opened: Redis is not asked for {BreakDuration}.",
        EventName = "RedisCircuitOpened")]
    public static partial void RedisCircuitOpened(ILogger logger, TimeSpan breakDuration);
    // The level is the caller's: Warning when it turns Degraded, Information when it recovers.
    [LoggerMessage(
        EventId = IdBackendHealthChanged,
        Message = "The {Backend} cache backend is now {Status} (was {PreviousStatus}): {Description}",
        EventName = "BackendHealthChanged")]
    public static partial void BackendHealthChanged(ILogger logger, LogLevel level, string backend, string status, string previousStatus, string? description);

    // 60 and up: Redis notifications, near cache and cold-miss collapse.
    internal const int IdNotificationsLive = 60;
    internal const int IdNotificationsLost = 61;
    internal const int IdNotificationsSubscribeFailed = 62;
    internal const int IdColdMissWaited = 63;
    internal const int IdColdMissWaitExpired = 64;
    internal const int IdNotificationsFailed = 65;
    internal const int IdNotificationsUnsubscribeFailed = 66;

    [LoggerMessage(IdNotificationsLive, LogLevel.Debug,
        "Subscribed to the farm's cache notifications; the near cache and cold-miss waits are on.",
        EventName = "NotificationsLive")]
    public static partial void NotificationsLive(ILogger logger);

    [LoggerMessage(IdNotificationsLost, LogLevel.Information,
        "The Redis connection ({ConnectionType}) was lost; the near cache and cold-miss waits are off until the subscription is back.",
        EventName = "NotificationsLost")]
    public static partial void NotificationsLost(ILogger logger, string connectionType);

    [LoggerMessage(IdNotificationsSubscribeFailed, LogLevel.Debug,
        "Subscribing to the farm's cache notifications failed; it is retried.",
        EventName = "NotificationsSubscribeFailed")]
    public static partial void NotificationsSubscribeFailed(ILogger logger, Exception exception);

    [LoggerMessage(IdColdMissWaited, LogLevel.Debug,
        "A missing page being rendered by another request was waited for {Elapsed} and {Outcome}.",
        EventName = "ColdMissWaited")]
    public static partial void ColdMissWaited(ILogger logger, TimeSpan elapsed, string outcome);

    [LoggerMessage(IdColdMissWaitExpired, LogLevel.Information,
        "A missing page being rendered elsewhere did not arrive within {ColdMissWait}; the request renders it itself.",
        EventName = "ColdMissWaitExpired")]
    public static partial void ColdMissWaitExpired(ILogger logger, TimeSpan coldMissWait);

    [LoggerMessage(IdNotificationsFailed, LogLevel.Warning,
        "The subscription to the farm's cache notifications failed to {Operation}; the near cache and cold-miss waits are off until the connection is restored.",
        EventName = "NotificationsFailed")]
    public static partial void NotificationsFailed(ILogger logger, string operation, Exception exception);

    [LoggerMessage(IdNotificationsUnsubscribeFailed, LogLevel.Debug,
        "Unsubscribing from the farm's cache notifications failed at shutdown.",
        EventName = "NotificationsUnsubscribeFailed")]
    public static partial void NotificationsUnsubscribeFailed(ILogger logger, Exception exception);

    [LoggerMessage(IdRedisStoreOutOfMemory, LogLevel.Warning,
        "Redis refused to store a page because it is out of memory; the page was served but not cached.",
        EventName = "RedisStoreOutOfMemory")]
    public static partial void RedisStoreOutOfMemory(ILogger logger);

    [LoggerMessage(IdRedisStoreRefusedForeignKey, LogLevel.Warning,
        "A page was not stored on Redis because another program's data is under one of its keys.",
        EventName = "RedisStoreRefusedForeignKey")]
    public static partial void RedisStoreRefusedForeignKey(ILogger logger);

    [LoggerMessage(IdRedisTagKeyForeign, LogLevel.Warning,
        "A tag eviction found another program's data under the tag's Redis key and evicted nothing.",
        EventName = "RedisTagKeyForeign")]
    public static partial void RedisTagKeyForeign(ILogger logger);

    [LoggerMessage(IdResponseTagsIgnored, LogLevel.Warning,
        "{Count} tags of the response's {Header} header were ignored ({Reason}); the page is stored with its other tags.",
        EventName = "ResponseTagsIgnored")]
    public static partial void ResponseTagsIgnored(ILogger logger, int count, string header, string reason);

    // 140 and up: Redis availability.
    internal const int IdRedisMemoryPolicyEvicts = 140;
    internal const int IdRedisMemoryPolicyUnknown = 141;

    [LoggerMessage(IdRedisMemoryPolicyEvicts, LogLevel.Warning,
        "Redis runs with maxmemory-policy {Policy}, which may evict the keys that purges and claims rely on; use noeviction.",
        EventName = "RedisMemoryPolicyEvicts")]
    public static partial void RedisMemoryPolicyEvicts(ILogger logger, string policy);

    [LoggerMessage(IdRedisMemoryPolicyUnknown, LogLevel.Debug,
        "Redis refused to report its maxmemory-policy.",
        EventName = "RedisMemoryPolicyUnknown")]
    public static partial void RedisMemoryPolicyUnknown(ILogger logger, Exception exception);

    // 170 and up: unchanged pages.
    internal const int IdPageUnchanged = 170;

    [LoggerMessage(IdPageUnchanged, LogLevel.Debug,
        "A regenerated page was the same as the stored one: only its times moved on the {Backend} backend.",
        EventName = "PageUnchanged")]
    public static partial void PageUnchanged(ILogger logger, string backend);

    // 200-209: compressed pages in Redis.
    internal const int IdRedisPageNotDecoded = 200;

    [LoggerMessage(IdRedisPageNotDecoded, LogLevel.Warning,
        "A page read from Redis could not be decoded ({Failure}) and was answered as a miss; the next store overwrites it.",
        EventName = "RedisPageNotDecoded")]
    public static partial void RedisPageNotDecoded(ILogger logger, Backends.Redis.RedisPageCodec.Failure failure);

    internal const int IdRedisPageDictionaryInUse = 201;
    internal const int IdRedisPageDictionaryForeign = 202;
    internal const int IdRedisPageDictionaryUnread = 203;

    [LoggerMessage(IdRedisPageDictionaryInUse, LogLevel.Information,
        "Pages are compressed in Redis with the farm's dictionary {Dictionary} ({Length} bytes).",
        EventName = "RedisPageDictionaryInUse")]
    public static partial void RedisPageDictionaryInUse(ILogger logger, string dictionary, int length);

    [LoggerMessage(IdRedisPageDictionaryForeign, LogLevel.Warning,
        "Redis key {Key} does not hold a MintCache compression dictionary and is ignored; delete it, or use another KeyPrefix.",
        EventName = "RedisPageDictionaryForeign")]
    public static partial void RedisPageDictionaryForeign(ILogger logger, string key);

    [LoggerMessage(IdRedisPageDictionaryUnread, LogLevel.Debug,
        "The farm's compression dictionary could not be read from Redis; it is tried again shortly.",
        EventName = "RedisPageDictionaryUnread")]
    public static partial void RedisPageDictionaryUnread(ILogger logger, Exception exception);

    // 160-169: clears (hard and soft).
    internal const int IdCleared = 160;
    internal const int IdClearFailed = 161;
    internal const int IdRedisClearStampUnread = 162;

    [LoggerMessage(IdCleared, LogLevel.Information,
        "Cleared the {Backend} cache ({Kind}): pages stored before now are {Outcome} when next requested.",
        EventName = "Cleared")]
    public static partial void Cleared(ILogger logger, string backend, string kind, string outcome);

    [LoggerMessage(IdClearFailed, LogLevel.Warning,
        "The {Backend} cache backend failed a clear; pages stored before it may be served until they expire.",
        EventName = "ClearFailed")]
    public static partial void ClearFailed(ILogger logger, string backend, Exception exception);

    [LoggerMessage(IdRedisClearStampUnread, LogLevel.Warning,
        "Could not read the farm's clear stamp from Redis; plain reads and near copies wait for the scripts until it is read.",
        EventName = "RedisClearStampUnread")]
    public static partial void RedisClearStampUnread(ILogger logger, Exception exception);

    // 210-219: store transactions on MintCache's own connections.
    internal const int IdRedisTransactionsUnavailable = 210;
    internal const int IdRedisTransactionsRestored = 211;
    internal const int IdRedisTransactionConnectionLost = 212;

    [LoggerMessage(IdRedisTransactionsUnavailable, LogLevel.Warning,
        "MintCache could not open a connection of its own to Redis at {Endpoint} for store transactions; pages are stored by script until it tries again in {RetryAfter}. If Redis answers the application otherwise, check that the configuration string carries the connection's credentials and TLS settings (a certificate callback does not carry over), or set MintCache:Redis:StoreTransactions to false.",
        EventName = "RedisTransactionsUnavailable")]
    public static partial void RedisTransactionsUnavailable(ILogger logger, string endpoint, TimeSpan retryAfter, Exception exception);

    [LoggerMessage(IdRedisTransactionsRestored, LogLevel.Information,
        "MintCache's own connections to Redis at {Endpoint} open again; pages are stored by transaction.",
        EventName = "RedisTransactionsRestored")]
    public static partial void RedisTransactionsRestored(ILogger logger, string endpoint);

    [LoggerMessage(IdRedisTransactionConnectionLost, LogLevel.Debug,
        "A connection of MintCache's own to Redis failed during a store transaction and was closed; the script decided instead.",
        EventName = "RedisTransactionConnectionLost")]
    public static partial void RedisTransactionConnectionLost(ILogger logger, Exception exception);
}
