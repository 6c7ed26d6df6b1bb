using StackExchange.Redis;

namespace MintCache.AspNetCore.Backends.Redis;

/// <summary>
/// Every Lua script the Redis backend runs. Each touches the keys of one cache key only (they share a hash tag, see
/// <see cref="RedisKeys"/>), and, on a single node, the tag sets of the page it stores; it runs atomically and reads
/// the time from the server (<c>TIME</c>) so that every process decides on the same clock.
/// </summary>
/// <remarks>
/// Each script reads its keys from <c>KEYS</c> (so StackExchange.Redis routes it to their slot) and the rest from
/// <c>ARGV</c>, in the order of its method's parameters; no parameter object is mapped by reflection, so trimmed and
/// native AOT apps run them too. Each script's text is built once, from <see cref="RedisWire.LuaPrelude"/> (offsets,
/// codes and helpers generated from the wire contract) and its body; StackExchange.Redis sends it the first time and
/// its SHA after that. A script reads an entry's header with <c>GETRANGE</c> and copies the page only when it answers
/// with it; a store writes the page once and never reads the old one. Another program's data under a claim or tag
/// key (another type) is read with <c>pcall</c> and answered as a rejection or a refused store, never a script error.
/// A write Redis refuses for want of memory (OOM, under <c>maxmemory</c> with <c>noeviction</c>) is not an error either
/// where an answer remains: a claim not written is a miss backing off (the page renders unclaimed, fenced by its miss
/// time), a backoff not written deletes the claim. A store is refused by Redis itself (the C# counts it as a refused
/// store, not an outage); an eviction that cannot write its marks fails, and its caller is told.
/// </remarks>
internal static class RedisScripts
{
    /// <summary>
    /// Reads an entry and decides its state on the server clock; on stale, takes the refresh claim if nobody holds it
    /// and <paramref name="claimStale"/> (see <see cref="IRefreshCapacity"/>) or the entry has a fail-safe to extend, and
    /// on missing always (farm-wide cold-miss collapse). A claim revoked by an eviction is free to take. Reply: a
    /// <see cref="RedisLookupReply"/>, whose <c>Now</c> every reply carries: the server time of the claim, or of the
    /// miss (which fences a store rendered without a claim, see <see cref="SetAsync"/>).
    /// </summary>
    /// <remarks>
    /// A claim taken on a missing entry records generation 0, so its store is refused if another process stored the
    /// page meanwhile. A claim taken on an entry under a fail-safe moves its expiry to at least now +
    /// <paramref name="holdMs"/> (the failure backoff and the regeneration timeout), within its fail-safe-until, so
    /// that the stale page stays in service for as long as the regeneration may run. A fresh page is kept near until
    /// its stale-at, or its eager-at when that comes first; past its eager-at, the lookup that takes the claim
    /// refreshes it early, and it is taken only when <paramref name="claimEarly"/> (a free background slot).
    /// </remarks>
    /// <para>
    /// Clears: an entry of a generation at or below the hard stamp is deleted and answered missing; at or below the soft
    /// stamp and still fresh, its stale-at moves to now (its expiry kept), and it is answered as any stale entry. The
    /// stamps are the record <paramref name="clear"/> (on one node) and the host's copy (<paramref name="hardUs"/>,
    /// <paramref name="softUs"/>), whichever is later.
    /// </para>
    public static Task<RedisResult> LookupAsync(
        IDatabase db, RedisKey entry, RedisKey claim, long token, long leaseMs, long holdMs, RedisKey? clear = null, long hardUs = 0, long softUs = 0, bool claimStale = true, bool claimEarly = true)
        => clear is { } record
            ? db.ScriptEvaluateAsync(LookupScript, [entry, claim, record], [token, leaseMs, holdMs, hardUs, softUs, claimStale ? 1 : 0, claimEarly ? 1 : 0])
            : db.ScriptEvaluateAsync(LookupScript, [entry, claim], [token, leaseMs, holdMs, hardUs, softUs, claimStale ? 1 : 0, claimEarly ? 1 : 0]);

    // The latest clears' stamps (µs): the host's copy (two arguments from 'at'), and the record in 'key' when one is given.
    private const string ClearStamps = """
        local function clears(key, at)
          local hard, soft = tonumber(ARGV[at]) or 0, tonumber(ARGV[at + 1]) or 0
          if key then
            local c = redis.pcall('HMGET', key, 'h', 's')
            if type(c) == 'table' and not c.err then
              hard = math.max(hard, tonumber(c[1]) or 0)
              soft = math.max(soft, tonumber(c[2]) or 0)
            end
          end
          return hard, soft
        end

        """;

    private static readonly string LookupScript = RedisWire.LuaPrelude + ClearStamps + """
        local now = nowms()
        local function claim()
          local c = redis.pcall('GET', KEYS[2])
          if type(c) == 'table' then return nil end
          if c then
            local m = string.sub(c, 1, 1)
            if m == RELEASED then return MISS_BACKING_OFF end
            if m ~= REVOKED then return MISS_CLAIMED_ELSEWHERE end
          end
          if err(redis.pcall('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])) then return MISS_BACKING_OFF end
          return MISS_CLAIMED
        end
        local function missing()
          local c = claim()
          if not c then return lookupreply{code = REJECTED, now = now, detail = R_FOREIGN_CLAIM} end
          return lookupreply{code = MISSING, now = now, detail = c}
        end
        local h, bad = header(KEYS[1])
        if bad ~= R_NONE then return lookupreply{code = REJECTED, now = now, detail = bad} end
        if not h then return missing() end
        local hard, soft = clears(KEYS[3], 4)
        local gen = u64(h, OFF_GEN)
        if gen <= hard then
          redis.call('DEL', KEYS[1])
          return missing()
        end
        local expires = u64(h, OFF_EXPIRES)
        if now >= expires then return missing() end
        local stale = u64(h, OFF_STALE)
        if gen <= soft and now < stale then
          -- Stale from now, written so later reads agree; answered stale even if Redis refuses the write (OOM).
          redis.pcall('SETRANGE', KEYS[1], OFF_STALE, pn(now, 8))
          stale = now
        end
        local r = {now = now, generation = gen, msToExpiry = expires - now,
          msToFailSafe = u64(h, OFF_FAILSAFE) - now, graceMs = u32(h, OFF_GRACE)}
        if now < stale then
          r.code = FRESH
          r.msToKeep = stale - now
          local eager = u64(h, OFF_EAGER)
          if eager > 0 and now >= eager then
            if ARGV[7] ~= '0' and claim() == MISS_CLAIMED then r.detail = 1 end
          elseif eager > 0 and eager < stale then
            r.msToKeep = eager - now
          end
        else
          r.code = STALE
          -- A page under a fail-safe is claimed whatever the capacity: its claim keeps it in service (stale-if-error).
          if (ARGV[6] ~= '0' or u64(h, OFF_FAILSAFE) > expires) and claim() == MISS_CLAIMED then
            r.detail = 1
            local hold = math.min(u64(h, OFF_FAILSAFE), now + tonumber(ARGV[3]))
            if hold > expires then
              if not err(redis.pcall('SETRANGE', KEYS[1], OFF_EXPIRES, pn(hold, 8))) then r.msToExpiry = hold - now end
            end
          end
        end
        r.codec = string.byte(h, OFF_CODEC + 1)
        r.renderTime = string.sub(h, OFF_RENDER + 1, OFF_RENDER + 8)
        r.pageHash = string.sub(h, OFF_HASH + 1, OFF_HASH + 8)
        r.page = page(KEYS[1])
        return lookupreply(r)
        """;

    // A tag's membership: scored at its last moment, the set kept a second past its longest-lived member. The set's
    // life is extended (by a quarter more, so a busy tag does it rarely) only when it runs short, and the set pruned
    // then only if this member is new to it: pruning only saves space, and a set a refresh did not grow (a page's own
    // tag) has nothing more to prune than before. A set just created (no TTL yet) holds nothing to prune, and only the
    // one member, so it is kept just a second past it: most such sets on a long tail are of one page.
    private const string TagMembership = """
        local function addmember(k, member, now, life)
          local added = redis.call('ZADD', k, now + life, member)
          local ttl = redis.call('PTTL', k)
          if ttl < life + 1000 then
            local more = 0
            if ttl ~= -1 then
              if added == 1 then redis.call('ZREMRANGEBYSCORE', k, '-inf', '(' .. now) end
              more = math.floor(life / 4)
            end
            redis.call('PEXPIRE', k, life + 1000 + more)
          end
        end

        """;

    /// <summary>
    /// Stores a page: <paramref name="value"/> is <see cref="RedisWire.HeaderSize"/> bytes of room for the header (its
    /// codec byte set by the caller, and kept), then the page, written as sent and its header set in place. Fresh for <paramref name="freshMs"/>, then stale for
    /// <paramref name="graceMs"/>, physically deleted by Redis after both and the fail-safe
    /// (<paramref name="failSafeMs"/>) that failed regenerations may use; refreshed early from <paramref name="eagerMs"/>
    /// after now when that is not 0 (eager refresh). <paramref name="keys"/> are the entry's, its claim's, and on one
    /// node the page's tags' (the store and its tags in one step), each membership written for <paramref name="tagLifeMs"/>.
    /// </summary>
    /// <remarks>
    /// The fence (<see cref="Store.StoreFence"/>), where <paramref name="since"/> is when the page's regeneration
    /// began on the server clock (its claim, or its lookup's miss; 0 when unknown): refused as
    /// <paramref name="decided"/> when that is not 0 (the tags, written first on a cluster, refused it); refused as
    /// revoked when a tag of the page was evicted at or after <paramref name="since"/>, or the page began before the
    /// evictions remembered (<paramref name="horizonMs"/>), or an eviction revoked the claim key at or after it (a claim
    /// of unknown start included; a store of unknown start without a claim is a direct caller's, and not fenced); with a
    /// claim (<paramref name="token"/> not empty), refused when another live token holds the claim, or a live entry of
    /// another generation than <paramref name="claimGen"/> is stored. Either way the claim is deleted if
    /// <paramref name="token"/> still owns it (compare-and-delete), never otherwise, and <paramref name="member"/> (the
    /// cache key) is published on <paramref name="channel"/>, which invalidates near copies and wakes cold-miss waiters
    /// on every process. Reply: a <see cref="RedisStoreReply"/>. A clear (the record <paramref name="clear"/>, appended to
    /// the keys on one node, and the host's copy <paramref name="hardUs"/>, <paramref name="softUs"/>) at or after
    /// <paramref name="since"/> refuses the store as revoked, as an eviction does.
    /// </remarks>
    /// <remarks>
    /// A touch (<paramref name="touch"/> set): the regenerated page is the same as the one its claim was won on, so
    /// <paramref name="value"/> is not sent (the page argument is empty) and, after the same fence, when the live entry's
    /// hash is <see cref="TouchArguments.Hash"/>, only the header's times, generation and render time
    /// (<see cref="RedisWire.RenderTimeOffset"/>) are written, never page bytes (a compressed page included), the tags'
    /// memberships renewed, and a <see cref="RedisWire.ChannelMark.Touched"/> notice published, which moves near
    /// copies on to the new times instead of dropping them. Otherwise nothing is written and the claim is kept: the
    /// reply's <see cref="RedisWire.StoreField.Touch"/> says <see cref="RedisWire.TouchResult.Changed"/>, and the page
    /// follows in a store.
    /// </remarks>
    public static Task<RedisResult> SetAsync(
        IDatabase db, RedisKey[] keys, byte[] value, long freshMs, long graceMs, long failSafeMs, RedisValue token, RedisValue claimGen,
        long since, int decided, RedisValue channel, RedisValue member, long eagerMs, long tagLifeMs, RedisValue marker, long horizonMs,
        RedisKey? clear = null, long hardUs = 0, long softUs = 0, TouchArguments? touch = null)
        => db.ScriptEvaluateAsync(
            SetScript,
            clear is { } record ? [.. keys, record] : keys,
            touch is { } t
                ? [RedisValue.EmptyString, freshMs, graceMs, failSafeMs, token, claimGen, since, decided, channel, member, eagerMs, tagLifeMs, marker, horizonMs, hardUs, softUs, clear is null ? 0 : 1,
                    t.Hash, t.RenderTime]
                : [value, freshMs, graceMs, failSafeMs, token, claimGen, since, decided, channel, member, eagerMs, tagLifeMs, marker, horizonMs, hardUs, softUs, clear is null ? 0 : 1]);

    /// <summary>
    /// A touch's arguments: the page's hash and the new render's time (UTC ticks), each 8 bytes big-endian, as the
    /// header holds them.
    /// </summary>
    internal readonly record struct TouchArguments(byte[] Hash, byte[] RenderTime);

    private static readonly string SetScript = RedisWire.LuaPrelude + TagMembership + ClearStamps + """
        local now, nowus = nowms()
        local holder = redis.pcall('GET', KEYS[2])
        local claimed = ARGV[5] ~= ''
        local mine = claimed and holder == ARGV[5]
        local function refuse(outcome)
          if mine then redis.call('DEL', KEYS[2]) end
          redis.call('PUBLISH', ARGV[9], ARGV[10])
          return storereply{outcome = outcome, now = now}
        end
        if type(holder) == 'table' then return refuse(S_REFUSED) end
        if tonumber(ARGV[8]) ~= 0 then return refuse(tonumber(ARGV[8])) end
        local since = tonumber(ARGV[7])
        local mark = holder and string.sub(holder, 1, 1)
        if mark == REVOKED and ((claimed and since == 0) or (since > 0 and since <= revokedat(holder))) then return refuse(S_REVOKED) end
        local ntags = #KEYS
        if ARGV[17] == '1' then ntags = ntags - 1 end
        local hard, soft = clears(ARGV[17] == '1' and KEYS[#KEYS], 15)
        local cleared = math.max(hard, soft)
        if cleared > 0 and ((claimed and since == 0) or (since > 0 and since * 1000 <= cleared)) then return refuse(S_REVOKED) end
        local horizon = tonumber(ARGV[14])
        for i = 3, ntags do
          local evicted = redis.pcall('ZSCORE', KEYS[i], ARGV[13])
          if type(evicted) == 'table' then return refuse(S_REFUSED) end
          if since > 0 and evicted and tonumber(evicted) - horizon >= since then return refuse(S_REVOKED) end
        end
        if ntags > 2 and since > 0 and since < now - horizon then return refuse(S_REVOKED) end
        if claimed and holder and mark ~= RELEASED and mark ~= REVOKED and not mine then return refuse(S_TAKEN_OVER) end
        local old = header(KEYS[1], true)
        local life = tonumber(ARGV[12])
        local oldgen = 0
        if old then
          oldgen = u64(old, OFF_GEN)
          if claimed and u64(old, OFF_EXPIRES) > now and oldgen ~= tonumber(ARGV[6]) then return refuse(S_SUPERSEDED) end
        end
        local fresh = tonumber(ARGV[2])
        local grace = tonumber(ARGV[3])
        local eager = tonumber(ARGV[11])
        if eager > 0 then eager = now + eager end
        local latest = now + fresh + grace + tonumber(ARGV[4])
        -- The header's times, from stale-at to eager-at, as a touch and a store both write them.
        local function times()
          return pn(now + fresh, 8) .. pn(now + fresh + grace, 8) .. pn(math.max(oldgen + 1, nowus), 8) .. pn(latest, 8)
            .. pn(grace, 4) .. pn(eager, 8)
        end
        if ARGV[18] then
          if not old or u64(old, OFF_EXPIRES) <= now or string.sub(old, OFF_HASH + 1, OFF_HASH + 8) ~= ARGV[18] then
            return storereply{outcome = S_STORED, now = now, touch = T_CHANGED}
          end
          redis.call('SETRANGE', KEYS[1], OFF_STALE, times() .. string.sub(old, OFF_LENGTH + 1, OFF_RENDER) .. ARGV[19])
          redis.call('PEXPIRE', KEYS[1], latest - now)
          for i = 3, ntags do addmember(KEYS[i], ARGV[10], now, life) end
          if mine then redis.call('DEL', KEYS[2]) end
          local keep = now + fresh
          if eager > 0 and eager < keep then keep = eager end
          redis.call('PUBLISH', ARGV[9], string.char(TOUCHED_MARK) .. pn(keep, 8) .. pn(now + fresh + grace, 8) .. pn(latest, 8)
            .. pn(grace, 4) .. ARGV[19] .. ARGV[10])
          return storereply{outcome = S_STORED, latestExpiry = latest, now = now, touch = T_TOUCHED}
        end
        local value = ARGV[1]
        local head = MAGIC .. string.char(VERSION, string.byte(value, OFF_CODEC + 1), 0, 0) .. times() .. pn(#value - HEADER, 4)
        redis.call('SET', KEYS[1], value, 'PX', latest - now)
        redis.call('SETRANGE', KEYS[1], 0, head)
        for i = 3, ntags do addmember(KEYS[i], ARGV[10], now, life) end
        if mine then redis.call('DEL', KEYS[2]) end
        redis.call('PUBLISH', ARGV[9], ARGV[10])
        return storereply{outcome = S_STORED, latestExpiry = latest, now = now}
        """;

    /// <summary>
    /// A holder's heartbeat: extends its claim to <paramref name="leaseMs"/> from now while <paramref name="token"/>
    /// owns it. A revocation of its claim is extended too, so that it outlives the holder's store. Reply: a
    /// <see cref="Store.ClaimRenewal"/>.
    /// </summary>
    public static Task<RedisResult> RenewClaimAsync(IDatabase db, RedisKey claim, long token, long leaseMs)
        => db.ScriptEvaluateAsync(RenewClaimScript, [claim], [token, leaseMs]);

    private static readonly string RenewClaimScript = RedisWire.LuaPrelude + """
        local h = redis.pcall('GET', KEYS[1])
        if type(h) ~= 'string' then return C_LOST end
        if h == ARGV[1] then
          redis.call('PEXPIRE', KEYS[1], ARGV[2])
          return C_RENEWED
        end
        local revoked = REVOKED .. ARGV[1] .. '@'
        if string.sub(h, 1, #revoked) == revoked then
          redis.call('PEXPIRE', KEYS[1], ARGV[2])
          return C_REVOKED
        end
        return C_LOST
        """;

    /// <summary>
    /// Gives up a claim if <paramref name="token"/> still owns it: deleted when <paramref name="retryMs"/> is zero,
    /// otherwise replaced by the value <c>-token</c> (released: lookups of a missing entry do not wait for it; its
    /// owner may still release it) that lapses after <paramref name="retryMs"/> (never lengthened), and publishes
    /// <paramref name="member"/> on <paramref name="channel"/> so that waiters of a cold page stop waiting for a page
    /// that will not come. When <paramref name="failed"/> is 1 (stale-if-error), the entry's expiry moves to now + its
    /// grace, never past its fail-safe-until. Reply: 1 when the token owned the claim, else 0.
    /// </summary>
    public static Task<RedisResult> ReleaseClaimAsync(IDatabase db, RedisKey entry, RedisKey claim, long token, long retryMs, int failed, RedisValue channel, RedisValue member)
        => db.ScriptEvaluateAsync(ReleaseClaimScript, [entry, claim], [token, retryMs, failed, channel, member]);

    private static readonly string ReleaseClaimScript = RedisWire.LuaPrelude + """
        local holder = redis.pcall('GET', KEYS[2])
        if holder ~= ARGV[1] and holder ~= RELEASED .. ARGV[1] then return 0 end
        if tonumber(ARGV[3]) == 1 then
          local h = header(KEYS[1])
          if h then
            local now = nowms()
            local extended = math.min(u64(h, OFF_FAILSAFE), now + u32(h, OFF_GRACE))
            if extended > u64(h, OFF_EXPIRES) then redis.call('SETRANGE', KEYS[1], OFF_EXPIRES, pn(extended, 8)) end
          end
        end
        local retry = tonumber(ARGV[2])
        if retry <= 0 then
          redis.call('DEL', KEYS[2])
        else
          local ttl = redis.call('PTTL', KEYS[2])
          if ttl < 1 or ttl > retry then ttl = retry end
          if err(redis.pcall('SET', KEYS[2], RELEASED .. ARGV[1], 'PX', ttl)) then redis.call('DEL', KEYS[2]) end
        end
        redis.call('PUBLISH', ARGV[4], ARGV[5])
        return 1
        """;

    /// <summary>
    /// Starts a tag eviction: records when it happened (the member <paramref name="marker"/>, scored <c>now +
    /// horizonMs</c> so that pruning forgets it after that horizon), then reads every member, in one step: a store
    /// whose membership is written later sees the eviction. Reply: the members, the marker among them; 0 when the
    /// tag's key holds another type (no store can carry the tag then: each is refused).
    /// </summary>
    public static Task<RedisResult> BeginTagEvictionAsync(IDatabase db, RedisKey tag, RedisValue marker, long horizonMs)
        => db.ScriptEvaluateAsync(BeginTagEvictionScript, [tag], [marker, horizonMs]);

    private static readonly string BeginTagEvictionScript = RedisWire.LuaPrelude + """
        local now = nowms()
        local horizon = tonumber(ARGV[2])
        local added = redis.pcall('ZADD', KEYS[1], now + horizon, ARGV[1])
        if err(added) then
          if string.find(added.err, 'WRONGTYPE', 1, true) then return 0 end
          return redis.error_reply(added.err)
        end
        if redis.call('PTTL', KEYS[1]) < horizon + 1000 then redis.call('PEXPIRE', KEYS[1], horizon + 1000) end
        return redis.call('ZRANGE', KEYS[1], 0, -1)
        """;

    /// <summary>
    /// Evicts one entry of a tag: removes it (<paramref name="soft"/> 0) or brings its stale-at forward to the server's
    /// now (<paramref name="soft"/> 1; <c>SETRANGE</c> keeps the TTL), and leaves a revocation on its claim key for at
    /// least <paramref name="leaseMs"/> (value <c>!token@now</c>; the token of the live claim, if any, else empty), so
    /// that no regeneration that began before it stores its page, claimed or not. Reply: 1.
    /// </summary>
    public static Task<RedisResult> EvictEntryAsync(IDatabase db, RedisKey entry, RedisKey claim, int soft, long leaseMs)
        => db.ScriptEvaluateAsync(EvictEntryScript, [entry, claim], [soft, leaseMs]);

    private static readonly string EvictEntryScript = RedisWire.LuaPrelude + """
        local now = nowms()
        local h = redis.pcall('GET', KEYS[2])
        if type(h) ~= 'table' then
          local token = ''
          local ttl = tonumber(ARGV[2])
          if h then
            local m = string.sub(h, 1, 1)
            if m == REVOKED then
              token = string.sub(h, 2, (string.find(h, '@', 2, true) or (#h + 1)) - 1)
            elseif m ~= RELEASED then
              token = h
            end
            local left = redis.call('PTTL', KEYS[2])
            if left > ttl then ttl = left end
          end
          redis.call('SET', KEYS[2], REVOKED .. token .. '@' .. now, 'PX', ttl)
        end
        if tonumber(ARGV[1]) == 1 then
          local v = header(KEYS[1])
          if v and u64(v, OFF_STALE) > now then redis.call('SETRANGE', KEYS[1], OFF_STALE, pn(now, 8)) end
        else
          redis.call('DEL', KEYS[1])
        end
        return 1
        """;

    /// <summary>
    /// On a cluster, before the store (the tag's set lives on another slot): records that the cache key
    /// <paramref name="member"/> carries a tag for <paramref name="lifeMs"/> from now, prunes the members already past
    /// their expiry, and keeps the tag's own key alive at least as long. With <paramref name="since"/> (when the page's
    /// regeneration began; 0 when unknown), nothing is written when the tag was evicted at or after it, or when it is
    /// older than the evictions remembered (<paramref name="horizonMs"/>). Reply: a <see cref="Store.StoreOutcome"/>:
    /// stored (written), revoked, or refused (the tag's key holds another type).
    /// </summary>
    public static Task<RedisResult> AddTagAsync(IDatabase db, RedisKey tag, RedisValue member, long lifeMs, long since, RedisValue marker, long horizonMs)
        => db.ScriptEvaluateAsync(AddTagScript, [tag], [member, lifeMs, since, marker, horizonMs]);

    private static readonly string AddTagScript = RedisWire.LuaPrelude + TagMembership + """
        local now = nowms()
        local since = tonumber(ARGV[3])
        local horizon = tonumber(ARGV[5])
        local evicted = redis.pcall('ZSCORE', KEYS[1], ARGV[4])
        if type(evicted) == 'table' then return S_REFUSED end
        if since > 0 then
          if evicted and tonumber(evicted) - horizon >= since then return S_REVOKED end
          if since < now - horizon then return S_REVOKED end
        end
        addmember(KEYS[1], ARGV[1], now, tonumber(ARGV[2]))
        return S_STORED
        """;

    /// <summary>
    /// A clear: raises the hard (<paramref name="soft"/> 0) or soft (1) stamp of the record <paramref name="clear"/> to the
    /// server's time in microseconds (the unit of entry generations), and publishes <paramref name="messagePrefix"/>
    /// then <c>hard:soft</c> on <paramref name="channel"/> in the same step. Nothing else is touched: each entry is
    /// compared with the stamps when a lookup next reads it. Reply: the stamps, hard then soft; an error when the key
    /// holds another type.
    /// </summary>
    public static Task<RedisResult> ClearAsync(IDatabase db, RedisKey clear, int soft, RedisValue channel, RedisValue messagePrefix)
        => db.ScriptEvaluateAsync(ClearScript, [clear], [soft, channel, messagePrefix]);

    private static readonly string ClearScript = RedisWire.LuaPrelude + """
        local _, us = nowms()
        local c = redis.pcall('HMGET', KEYS[1], 'h', 's')
        if err(c) then return redis.error_reply(c.err) end
        local hard, soft = tonumber(c[1]) or 0, tonumber(c[2]) or 0
        if tonumber(ARGV[1]) == 1 then soft = math.max(soft, us) else hard = math.max(hard, us) end
        local h, s = string.format('%.0f', hard), string.format('%.0f', soft)
        redis.call('HSET', KEYS[1], 'h', h, 's', s)
        redis.call('PUBLISH', ARGV[2], ARGV[3] .. h .. ':' .. s)
        return {h, s}
        """;

    /// <summary>
    /// Redis's <c>INFO memory</c> section, read by a script: StackExchange.Redis 3 sends <c>INFO</c> and <c>CONFIG</c>
    /// only in admin mode, which an app should not need to turn on for a cache, and managed services that refuse
    /// <c>CONFIG</c> allow <c>INFO</c>. Reply: the section's text.
    /// </summary>
    public static Task<RedisResult> MemoryInfoAsync(IDatabase db) => db.ScriptEvaluateAsync(MemoryInfoScript);

    private const string MemoryInfoScript = "return redis.call('INFO', 'memory')";
}
