using StackExchange.Redis;

namespace MintCache.AspNetCore.Backends.Redis;

/// <summary>
/// Every Lua script the Redis backend runs. Each touches the keys of one cache key only (they share a hash tag, see
/// <see cref="RedisKeys"/>), so it runs atomically on one node, Redis Cluster included, and reads the time from the
/// server (<c>TIME</c>) so that every process decides on the same clock.
/// </summary>
/// <remarks>
/// Each script reads its keys from <c>KEYS</c> (so StackExchange.Redis routes it to their slot) and the rest from
/// <c>ARGV</c>, in the order of its method's parameters; no parameter object is mapped by reflection, so trimmed and
/// native AOT apps run them too. StackExchange.Redis sends a script's text the first time and its SHA after that. The
/// entry layout the scripts read and write is <see cref="RedisEntryFormat"/>. The scripts are written for Lua 5.1
/// doubles (Redis) and Lua 5.4 integers (Garnet) alike: every number they handle stays below 2^53.
/// </remarks>
internal static class RedisScripts
{
    // Shared helpers, prepended to each script. u64/p64 read and write big-endian integers in the header; check
    // returns 0 for a valid value of version 2 (or 1, still read) and an EntryRejectReason otherwise (a pcall error
    // table is a wrong type); page returns the page of a checked value.
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
          local version = string.byte(v, 5)
          if version == 2 then
            if #v < 56 or #v - 56 ~= u32(v, 53) then return 2 end
          elseif version == 1 then
            if #v - 52 ~= u32(v, 45) + u32(v, 49) then return 2 end
          else
            return 4
          end
          if u64(v, 9) > u64(v, 17) then return 5 end
          return 0
        end
        local function page(v)
          if string.byte(v, 5) == 1 then return string.sub(v, 53 + u32(v, 45)) end
          return string.sub(v, 57)
        end
        local function eagerat(v)
          if string.byte(v, 5) == 1 then return 0 end
          return u64(v, 45)
        end
        local function nowms()
          local t = redis.call('TIME')
          return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000), tonumber(t[1]) * 1000000 + tonumber(t[2])
        end

        """;

    // Claim values: a token is a live claim; "-token" a claim its holder released (it backs off until it lapses);
    // "!token" a claim an eviction revoked (free to take; a store under the token is refused while it lives).
    private const string ClaimHelpers = """
        local function taken(h)
          if not h then return false end
          local c = string.sub(h, 1, 1)
          return c ~= '-' and c ~= '!'
        end

        """;

    /// <summary>
    /// Reads an entry and decides its state on the server clock; on stale, takes the refresh claim if nobody holds it,
    /// and on missing too (farm-wide cold-miss collapse). A claim revoked by an eviction is free to take. Reply: <c>{0,
    /// 1, now}</c> missing and claimed by this call with <paramref name="token"/>; <c>{0, 2}</c> missing and claimed by
    /// another (its page is being rendered); <c>{0, 0}</c> missing while a failed claim backs off (nobody renders it);
    /// <c>{1, page, msToKeep, msToExpiry, msToFailSafeUntil, graceMs}</c> fresh
    /// (kept near until stale-at, or until its eager-at when that comes first; the rest is the entry's life, which a
    /// near copy keeps for a switch to local memory); the same with <c>generation, now</c> appended when fresh, past
    /// its eager-at, and claimed by this call (an eager refresh); <c>{2, page}</c> stale, claimed by another; <c>{2, page, generation,
    /// msToExpiry, now}</c> stale and claimed by this call; <c>{3, reason}</c> rejected. <c>now</c> is
    /// the server's time of the claim (see <see cref="Store.ClaimTicket.ClaimedAt"/>).
    /// </summary>
    /// <remarks>
    /// A claim taken on a missing entry records generation 0, so its store is refused if another process stored the
    /// page meanwhile. A claim taken on an entry under a fail-safe moves its expiry to at least now +
    /// <paramref name="holdMs"/> (the failure backoff and the regeneration timeout), within its fail-safe-until, so
    /// that the stale page stays in service for as long as the regeneration may run.
    /// </remarks>
    public static Task<RedisResult> LookupAsync(IDatabase db, RedisKey entry, RedisKey claim, long token, long leaseMs, long holdMs)
        => db.ScriptEvaluateAsync(LookupScript, [entry, claim], [token, leaseMs, holdMs]);

    private const string LookupScript = Helpers + ClaimHelpers + """
        local function claim()
          local h = redis.call('GET', KEYS[2])
          if taken(h) or (h and string.sub(h, 1, 1) == '-') then return false, h end
          redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
          return true, nil
        end
        local function missing(now)
          local won, h = claim()
          if won then return {0, 1, now} end
          if string.sub(h, 1, 1) == '-' then return {0, 0} end
          return {0, 2}
        end
        local v = redis.pcall('GET', KEYS[1])
        if not v then return missing(nowms()) end
        local bad = check(v)
        if bad ~= 0 then return {3, bad} end
        local now = nowms()
        local expires = u64(v, 17)
        if now >= expires then return missing(now) end
        local stale = u64(v, 9)
        if now < stale then
          local life = {expires - now, u64(v, 33) - now, u32(v, 41)}
          local eager = eagerat(v)
          if eager > 0 and now >= eager and claim() then
            return {1, page(v), stale - now, life[1], life[2], life[3], u64(v, 25), now}
          end
          if eager > now then return {1, page(v), eager - now, life[1], life[2], life[3]} end
          return {1, page(v), stale - now, life[1], life[2], life[3]}
        end
        if claim() then
          local hold = math.min(u64(v, 33), now + tonumber(ARGV[3]))
          if hold > expires then
            redis.call('SETRANGE', KEYS[1], 16, pn(hold, 8))
            expires = hold
          end
          return {2, page(v), u64(v, 25), expires - now, now}
        end
        return {2, page(v)}
        """;

    /// <summary>
    /// Stores a page: fresh for <paramref name="freshMs"/>, then stale for <paramref name="graceMs"/>, physically
    /// deleted by Redis after both and the fail-safe (<paramref name="failSafeMs"/>) that failed regenerations may use;
    /// refreshed early from <paramref name="eagerMs"/> after now when that is not 0 (eager refresh).
    /// The fence (<see cref="Store.StoreFence"/>): with a claim
    /// (<paramref name="token"/> not empty), refused when the claim was revoked by an eviction
    /// (<paramref name="revoked"/> 1: a tag of the page was evicted after the claim; or the claim key holds a
    /// revocation), taken over by another live token, or when a live entry of another generation than
    /// <paramref name="claimGen"/> is stored; without one, refused only while a revocation stands. Either way the claim
    /// is deleted if <paramref name="token"/> still owns it (compare-and-delete), never otherwise, and
    /// <paramref name="member"/> (the cache key) is published on <paramref name="channel"/> once the write is done,
    /// which invalidates near copies and wakes cold-miss waiters on every process. Reply: <c>{outcome}</c> refused (a
    /// <see cref="Store.StoreOutcome"/>); <c>{1, latestExpiry, now}</c> stored.
    /// </summary>
    public static Task<RedisResult> SetAsync(
        IDatabase db, RedisKey entry, RedisKey claim, byte[] page, long freshMs, long graceMs, long failSafeMs,
        RedisValue token, RedisValue claimGen, int revoked, string channel, string member, long eagerMs)
        => db.ScriptEvaluateAsync(
            SetScript, [entry, claim], [page, freshMs, graceMs, failSafeMs, token, claimGen, revoked, channel, member, eagerMs]);

    private const string SetScript = Helpers + ClaimHelpers + """
        local now, nowus = nowms()
        local old = redis.pcall('GET', KEYS[1])
        local oldgen = 0
        local live = false
        if old and check(old) == 0 then
          oldgen = u64(old, 25)
          live = u64(old, 17) > now
        end
        local holder = redis.call('GET', KEYS[2])
        local claimed = ARGV[5] ~= ''
        local mine = claimed and holder == ARGV[5]
        local function refuse(outcome)
          if mine then redis.call('DEL', KEYS[2]) end
          redis.call('PUBLISH', ARGV[8], ARGV[9])
          return {outcome}
        end
        local revoked = holder and string.sub(holder, 1, 1) == '!'
        if claimed then
          if tonumber(ARGV[7]) == 1 or revoked then return refuse(4) end
          if taken(holder) and not mine then return refuse(3) end
          if live and oldgen ~= tonumber(ARGV[6]) then return refuse(2) end
        elseif revoked then
          return refuse(4)
        end
        local fresh = tonumber(ARGV[2])
        local grace = tonumber(ARGV[3])
        local eager = tonumber(ARGV[10])
        if eager > 0 then eager = now + eager end
        local total = fresh + grace
        local latest = now + total + tonumber(ARGV[4])
        local gen = math.max(oldgen + 1, nowus)
        local body = ARGV[1]
        local header = 'MINT' .. string.char(2, 0, 0, 0) .. pn(now + fresh, 8) .. pn(now + total, 8) .. pn(gen, 8)
          .. pn(latest, 8) .. pn(grace, 4) .. pn(eager, 8) .. pn(#body, 4)
        redis.call('SET', KEYS[1], header .. body, 'PX', latest - now)
        if mine then redis.call('DEL', KEYS[2]) end
        redis.call('PUBLISH', ARGV[8], ARGV[9])
        return {1, latest, now}
        """;

    /// <summary>
    /// A holder's heartbeat: extends its claim to <paramref name="leaseMs"/> from now while <paramref name="token"/>
    /// owns it. A revocation of its claim is extended too, so that it outlives the holder's store. Reply: a
    /// <see cref="Store.ClaimRenewal"/>.
    /// </summary>
    public static Task<RedisResult> RenewClaimAsync(IDatabase db, RedisKey claim, long token, long leaseMs)
        => db.ScriptEvaluateAsync(RenewClaimScript, [claim], [token, leaseMs]);

    private const string RenewClaimScript = """
        local h = redis.call('GET', KEYS[1])
        if h == ARGV[1] then
          redis.call('PEXPIRE', KEYS[1], ARGV[2])
          return 1
        end
        if h == '!' .. ARGV[1] then
          redis.call('PEXPIRE', KEYS[1], ARGV[2])
          return 2
        end
        return 0
        """;

    /// <summary>
    /// Gives up a claim if <paramref name="token"/> still owns it: deleted when <paramref name="retryMs"/> is zero,
    /// otherwise replaced by the value <c>-token</c> (released: lookups of a missing entry do not wait for it; its
    /// owner may still release it) that lapses after <paramref name="retryMs"/> (never lengthened), and publishes
    /// <paramref name="member"/> on <paramref name="channel"/> so that waiters of a cold page stop waiting for a page
    /// that will not come. When <paramref name="failed"/> is 1 (stale-if-error), the entry's expiry moves to now + its
    /// grace, never past its fail-safe-until. Reply: 1 when the token owned the claim, else 0.
    /// </summary>
    public static Task<RedisResult> ReleaseClaimAsync(IDatabase db, RedisKey entry, RedisKey claim, long token, long retryMs, int failed, string channel, string member)
        => db.ScriptEvaluateAsync(ReleaseClaimScript, [entry, claim], [token, retryMs, failed, channel, member]);

    private const string ReleaseClaimScript = Helpers + """
        local holder = redis.call('GET', KEYS[2])
        if holder ~= ARGV[1] and holder ~= '-' .. ARGV[1] then return 0 end
        if tonumber(ARGV[3]) == 1 then
          local v = redis.pcall('GET', KEYS[1])
          if v and check(v) == 0 then
            local now = nowms()
            local extended = math.min(u64(v, 33), now + u32(v, 41))
            if extended > u64(v, 17) then redis.call('SETRANGE', KEYS[1], 16, pn(extended, 8)) end
          end
        end
        local retry = tonumber(ARGV[2])
        if retry <= 0 then
          redis.call('DEL', KEYS[2])
        else
          local ttl = redis.call('PTTL', KEYS[2])
          if ttl < 1 or ttl > retry then ttl = retry end
          redis.call('SET', KEYS[2], '-' .. ARGV[1], 'PX', ttl)
        end
        redis.call('PUBLISH', ARGV[4], ARGV[5])
        return 1
        """;

    /// <summary>
    /// Starts a tag eviction: records when it happened (the member <paramref name="marker"/>, scored <c>now +
    /// horizonMs</c> so that pruning forgets it after that horizon), then reads every member, in one step: a store
    /// whose membership is written later sees the eviction (<see cref="AddTagAsync"/>). Reply: the members, the marker
    /// among them.
    /// </summary>
    public static Task<RedisResult> BeginTagEvictionAsync(IDatabase db, RedisKey tag, string marker, long horizonMs)
        => db.ScriptEvaluateAsync(BeginTagEvictionScript, [tag], [marker, horizonMs]);

    private const string BeginTagEvictionScript = Helpers + """
        local now = nowms()
        local horizon = tonumber(ARGV[2])
        redis.call('ZADD', KEYS[1], now + horizon, ARGV[1])
        if redis.call('PTTL', KEYS[1]) < horizon + 1000 then redis.call('PEXPIRE', KEYS[1], horizon + 1000) end
        return redis.call('ZRANGE', KEYS[1], 0, -1)
        """;

    /// <summary>
    /// Evicts one entry of a tag: removes it (<paramref name="soft"/> 0) or brings its stale-at forward to the server's
    /// now (<paramref name="soft"/> 1; <c>SETRANGE</c> keeps the TTL), and revokes the live claim on it, if any (value
    /// <c>!token</c>, for at least <paramref name="leaseMs"/>), so that the regeneration running under it cannot store
    /// its page. Reply: 1.
    /// </summary>
    public static Task<RedisResult> EvictEntryAsync(IDatabase db, RedisKey entry, RedisKey claim, int soft, long leaseMs)
        => db.ScriptEvaluateAsync(EvictEntryScript, [entry, claim], [soft, leaseMs]);

    private const string EvictEntryScript = Helpers + ClaimHelpers + """
        local h = redis.call('GET', KEYS[2])
        if taken(h) then
          local ttl = redis.call('PTTL', KEYS[2])
          local lease = tonumber(ARGV[2])
          if ttl < lease then ttl = lease end
          redis.call('SET', KEYS[2], '!' .. h, 'PX', ttl)
        end
        if tonumber(ARGV[1]) == 1 then
          local v = redis.pcall('GET', KEYS[1])
          if v and check(v) == 0 then
            local now = nowms()
            if u64(v, 9) > now then redis.call('SETRANGE', KEYS[1], 8, pn(now, 8)) end
          end
        else
          redis.call('DEL', KEYS[1])
        end
        return 1
        """;

    /// <summary>
    /// Records that the cache key <paramref name="member"/> carries a tag for <paramref name="lifeMs"/> from now (the
    /// entry's longest life and a margin), prunes the members already past their expiry, and keeps the tag's own key
    /// alive at least as long, so the bookkeeping of a tag never outgrows the entries that carry it. Written before the
    /// entry, so an entry never exists without its tags. With <paramref name="since"/> (the server time its claim was
    /// taken; 0 for none), nothing is written when the tag was evicted at or after it, or when it is older than the
    /// evictions remembered (<paramref name="horizonMs"/>). Reply: 1 written, 0 revoked.
    /// </summary>
    public static Task<RedisResult> AddTagAsync(IDatabase db, RedisKey tag, RedisValue member, long lifeMs, long since, string marker, long horizonMs)
        => db.ScriptEvaluateAsync(AddTagScript, [tag], [member, lifeMs, since, marker, horizonMs]);

    private const string AddTagScript = Helpers + """
        local now = nowms()
        local since = tonumber(ARGV[3])
        local horizon = tonumber(ARGV[5])
        if since > 0 then
          local evicted = redis.call('ZSCORE', KEYS[1], ARGV[4])
          if evicted and tonumber(evicted) - horizon >= since then return 0 end
          if since < now - horizon then return 0 end
        end
        local life = tonumber(ARGV[2])
        redis.call('ZADD', KEYS[1], now + life, ARGV[1])
        redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. now)
        if redis.call('PTTL', KEYS[1]) < life + 1000 then redis.call('PEXPIRE', KEYS[1], life + 1000) end
        return 1
        """;
}
