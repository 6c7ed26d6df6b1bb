using StackExchange.Redis;

namespace MintCache.AspNetCore.Backends.Redis;

/// <summary>
/// Every Lua script the Redis backend runs. Each touches the keys of one cache key only (they share a hash tag, see
/// <see cref="RedisKeys"/>), so it runs atomically on one node, Redis Cluster included, and reads the time from the
/// server (<c>TIME</c>) so that every process decides on the same clock.
/// </summary>
/// <remarks>
/// Prepared once: StackExchange.Redis sends a script's text the first time and its SHA after that. The entry layout the
/// scripts read and write is <see cref="RedisEntryFormat"/>. The scripts are written for Lua 5.1 doubles (Redis) and
/// Lua 5.4 integers (Garnet) alike: every number they handle stays below 2^53.
/// </remarks>
internal static class RedisScripts
{
    // Shared helpers, prepended to each script. u64/p64 read and write big-endian integers in the header; check
    // returns 0 for a valid version-1 value and an EntryRejectReason otherwise (a pcall error table is a wrong type).
    private const string Helpers = """
        local function u64(s, i)
          local n = 0
          for j = i, i + 7 do n = n * 256 + string.byte(s, j) end
          return n
        end
        local function u32(s, i)
          local n = 0
          for j = i, i + 3 do n = n * 256 + string.byte(s, j) end
          return n
        end
        local function pn(n, width)
          local b = {}
          for j = width, 1, -1 do
            local r = n % 256
            b[j] = string.char(r)
            n = (n - r) / 256
          end
          return table.concat(b)
        end
        local function check(v)
          if type(v) ~= 'string' then return 1 end
          if #v < 52 then return 2 end
          if string.sub(v, 1, 4) ~= 'MINT' then return 3 end
          if string.byte(v, 5) ~= 1 then return 4 end
          if #v - 52 ~= u32(v, 45) + u32(v, 49) then return 2 end
          if u64(v, 9) > u64(v, 17) then return 5 end
          return 0
        end
        local function nowms()
          local t = redis.call('TIME')
          return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000), tonumber(t[1]) * 1000000 + tonumber(t[2])
        end

        """;

    /// <summary>
    /// Reads an entry and decides its state on the server clock; on stale, takes the refresh claim if nobody holds it,
    /// and on missing too (farm-wide cold-miss collapse). Reply: <c>{0, 1}</c> missing and claimed by this call with
    /// <c>@token</c>; <c>{0, 2}</c> missing and claimed by another (its page is being rendered); <c>{0, 0}</c> missing
    /// while a failed claim backs off (value <c>-token</c>: nobody renders it); <c>{1, page, msToStale}</c> fresh;
    /// <c>{2, page}</c> stale, claimed by another; <c>{2, page, generation, regeneration, msToExpiry}</c> stale and
    /// claimed by this call; <c>{3, reason}</c> rejected.
    /// </summary>
    /// <remarks>
    /// A claim taken on a missing entry records generation 0, so its store is refused if another process stored the
    /// page meanwhile (the fence compares generations only of a live entry).
    /// </remarks>
    public static readonly LuaScript Lookup = LuaScript.Prepare(Helpers + """
        local function missing()
          if redis.call('SET', @claim, @token, 'NX', 'PX', @leaseMs) then return {0, 1} end
          local holder = redis.call('GET', @claim)
          if holder and string.sub(holder, 1, 1) == '-' then return {0, 0} end
          return {0, 2}
        end
        local v = redis.pcall('GET', @entry)
        if not v then return missing() end
        local bad = check(v)
        if bad ~= 0 then return {3, bad} end
        local now = nowms()
        local expires = u64(v, 17)
        if now >= expires then return missing() end
        local rlen = u32(v, 45)
        local page = string.sub(v, 53 + rlen)
        local stale = u64(v, 9)
        if now < stale then return {1, page, stale - now} end
        if redis.call('SET', @claim, @token, 'NX', 'PX', @leaseMs) then
          return {2, page, u64(v, 25), string.sub(v, 53, 52 + rlen), expires - now}
        end
        return {2, page}
        """);

    /// <summary>
    /// Stores a page: fresh for <c>@freshMs</c>, then stale for <c>@graceMs</c>, physically deleted by Redis after both
    /// and the fail-safe (<c>@failSafeMs</c>) that failed regenerations may use. <c>@regen</c> is kept beside the page.
    /// With a claim (<c>@token</c> not empty), the write is fenced: refused when a live entry of another generation
    /// than <c>@claimGen</c> is stored. Either way the claim is deleted if <c>@token</c> still owns it
    /// (compare-and-delete), never otherwise. Either way <c>@member</c> (the cache key) is published on <c>@channel</c>
    /// once the write is done, which invalidates near copies and wakes cold-miss waiters on every process.
    /// Reply: <c>{0}</c> refused; <c>{1, latestExpiry, now}</c> stored.
    /// </summary>
    public static readonly LuaScript Set = LuaScript.Prepare(Helpers + """
        local now, nowus = nowms()
        local old = redis.pcall('GET', @entry)
        local oldgen = 0
        local live = false
        if old and check(old) == 0 then
          oldgen = u64(old, 25)
          live = u64(old, 17) > now
        end
        local claimed = @token ~= ''
        if claimed and live and oldgen ~= tonumber(@claimGen) then
          if redis.call('GET', @claim) == @token then redis.call('DEL', @claim) end
          redis.call('PUBLISH', @channel, @member)
          return {0}
        end
        local fresh = tonumber(@freshMs)
        local grace = tonumber(@graceMs)
        local total = fresh + grace
        local latest = now + total + tonumber(@failSafeMs)
        local gen = math.max(oldgen + 1, nowus)
        local page = @page
        local regen = @regen
        local header = 'MINT' .. string.char(1, 0, 0, 0) .. pn(now + fresh, 8) .. pn(now + total, 8) .. pn(gen, 8)
          .. pn(latest, 8) .. pn(grace, 4) .. pn(#regen, 4) .. pn(#page, 4)
        redis.call('SET', @entry, header .. regen .. page, 'PX', latest - now)
        if claimed and redis.call('GET', @claim) == @token then redis.call('DEL', @claim) end
        redis.call('PUBLISH', @channel, @member)
        return {1, latest, now}
        """);

    /// <summary>
    /// Gives up a claim if <c>@token</c> still owns it: deleted when <c>@retryMs</c> is zero, otherwise replaced by the
    /// value <c>-token</c> (released: lookups of a missing entry do not wait for it; its owner may still release it) that lapses after
    /// <c>@retryMs</c> (never lengthened), and publishes <c>@member</c> on <c>@channel</c> so that waiters of a cold
    /// page stop waiting for a page that will not come. When <c>@failed</c> is 1 (stale-if-error), the entry's expiry
    /// moves to now + its grace, never past its fail-safe-until. Reply: 1 when the token owned the claim, else 0.
    /// </summary>
    public static readonly LuaScript ReleaseClaim = LuaScript.Prepare(Helpers + """
        local holder = redis.call('GET', @claim)
        if holder ~= @token and holder ~= '-' .. @token then return 0 end
        if tonumber(@failed) == 1 then
          local v = redis.pcall('GET', @entry)
          if v and check(v) == 0 then
            local now = nowms()
            local extended = math.min(u64(v, 33), now + u32(v, 41))
            if extended > u64(v, 17) then redis.call('SETRANGE', @entry, 16, pn(extended, 8)) end
          end
        end
        local retry = tonumber(@retryMs)
        if retry <= 0 then
          redis.call('DEL', @claim)
        else
          local ttl = redis.call('PTTL', @claim)
          if ttl < 1 or ttl > retry then ttl = retry end
          redis.call('SET', @claim, '-' .. @token, 'PX', ttl)
        end
        redis.call('PUBLISH', @channel, @member)
        return 1
        """);

    /// <summary>
    /// A soft eviction of one entry: brings its stale-at forward to the server's now, keeps its expiry and its TTL
    /// (<c>SETRANGE</c> does not touch the TTL). Reply: 1 when marked, 0 when absent, invalid or already stale.
    /// </summary>
    public static readonly LuaScript MarkStale = LuaScript.Prepare(Helpers + """
        local v = redis.pcall('GET', @entry)
        if not v or check(v) ~= 0 then return 0 end
        local now = nowms()
        if u64(v, 9) <= now then return 0 end
        redis.call('SETRANGE', @entry, 8, pn(now, 8))
        return 1
        """);

    /// <summary>
    /// Records that the cache key <c>@member</c> carries a tag until <c>@expiresAt</c> (the entry's expiry, server ms),
    /// prunes the members already past their expiry, and keeps the tag's own key alive at least <c>@ttlMs</c>, so the
    /// bookkeeping of a tag never outgrows the entries that carry it.
    /// </summary>
    public static readonly LuaScript AddTag = LuaScript.Prepare("""
        redis.call('ZADD', @tag, @expiresAt, @member)
        redis.call('ZREMRANGEBYSCORE', @tag, '-inf', '(' .. @now)
        local ttl = redis.call('PTTL', @tag)
        if ttl < tonumber(@ttlMs) then redis.call('PEXPIRE', @tag, @ttlMs) end
        return 1
        """);
}
