using System.Globalization;
using System.Text;
using MintCache.AspNetCore.Entries;
using MintCache.AspNetCore.Store;

namespace MintCache.AspNetCore.Backends.Redis;

/// <summary>
/// The contract between the C# and the Lua of the Redis backend: the entry header's offsets, the claim values' marks
/// and every reply code. The Lua side is <see cref="LuaPrelude"/>, generated from these constants and prepended to
/// every script, so an offset or a code is written once.
/// </summary>
/// <remarks>
/// The header layout is documented on <see cref="RedisEntryFormat"/>. Codes shared with other types are those types'
/// values (<see cref="EntryState"/>, <see cref="EntryRejectReason"/>, <see cref="StoreOutcome"/>,
/// <see cref="ClaimRenewal"/>): the Lua constants are generated from their members, so renaming or renumbering one
/// changes the scripts with it.
/// </remarks>
internal static class RedisWire
{
    public const int MagicOffset = 0;
    public const int VersionOffset = 4;

    /// <summary>The page's codec (<see cref="RedisPageCodec.Codec"/>): 0, as every value before it, is the page as it is.</summary>
    public const int CodecOffset = 5;
    public const int StaleAtOffset = 8;
    public const int ExpiresAtOffset = 16;
    public const int GenerationOffset = 24;
    public const int FailSafeUntilOffset = 32;
    public const int GraceOffset = 40;
    public const int EagerAtOffset = 44;
    public const int PageLengthOffset = 52;

    /// <summary>The page's <see cref="Entries.PageFingerprint"/> hash: a refresh that renders the same page moves only the times.</summary>
    public const int PageHashOffset = 56;

    /// <summary>
    /// The render time of the page's last unchanged refresh (UTC ticks, 0 none): patched into the decoded page's
    /// <c>Created</c> and <c>Date</c>, so a touch never writes page bytes, compressed or not.
    /// </summary>
    public const int RenderTimeOffset = 64;
    public const int HeaderSize = 72;

    /// <summary>The one format version written and read (3: the page hash and render time, and the page at 72).</summary>
    public const byte Version = 3;

    public const string Magic = "MINT";

    /// <summary>First character of a claim value its holder released: it backs off until it lapses.</summary>
    public const char ReleasedMark = '-';

    /// <summary>
    /// First character of a claim value an eviction revoked (<c>!token@evictedAt</c>, the token empty when no claim
    /// was held): free to take, and a store that began before it is refused while it lives.
    /// </summary>
    public const char RevokedMark = '!';

    /// <summary>The first element of a lookup reply.</summary>
    internal enum LookupCode
    {
        Missing = EntryState.Missing,
        Fresh = EntryState.Fresh,
        Stale = EntryState.Stale,

        /// <summary>The value or its claim key was not MintCache's: a logged miss.</summary>
        Rejected = 3,
    }

    /// <summary>The detail of a <see cref="LookupCode.Missing"/> reply: what happened to the claim.</summary>
    internal enum MissKind
    {
        /// <summary>A failed claim backs off: nobody renders the page.</summary>
        BackingOff = 0,

        /// <summary>Claimed by this lookup.</summary>
        Claimed = 1,

        /// <summary>Another lookup holds the claim: the page is being rendered.</summary>
        ClaimedElsewhere = 2,
    }

    /// <summary>The positions of a lookup reply; the Lua builds it by name with <c>lookupreply{...}</c>.</summary>
    internal enum LookupField
    {
        Code,

        /// <summary>The server's time of the reply (ms): when a claim was taken, or the miss happened.</summary>
        Now,

        /// <summary>A <see cref="MissKind"/>, an <see cref="EntryRejectReason"/>, or 1 when a page's claim was taken.</summary>
        Detail,
        Generation,
        MsToKeep,
        MsToExpiry,
        MsToFailSafe,
        GraceMs,

        /// <summary>With a page: its header's codec byte (<see cref="RedisPageCodec.Codec"/>).</summary>
        Codec,

        /// <summary>With a page: its header's render time (<see cref="RenderTimeOffset"/>), to patch into it once decoded.</summary>
        RenderTime,

        /// <summary>With a page: its header's page hash (<see cref="PageHashOffset"/>), which a decompressed page must match.</summary>
        PageHash,

        /// <summary>Last: present only when the reply answers with the page.</summary>
        Page,
    }

    /// <summary>The positions of a store reply; the Lua builds it by name with <c>storereply{...}</c>.</summary>
    internal enum StoreField
    {
        Outcome,
        LatestExpiry,
        Now,

        /// <summary>Last: with a touch (a page sent as its hash alone), a <see cref="TouchResult"/>; absent for a store.</summary>
        Touch,
    }

    /// <summary>What the store script did with a touch: the times of an unchanged page, or nothing (the page is needed).</summary>
    internal enum TouchResult
    {
        /// <summary>The stored page is the same: only its times moved, and the hosts were told so.</summary>
        Touched = 1,

        /// <summary>No live entry with that hash (or one stored transformed): nothing written, the claim kept; send the page.</summary>
        Changed = 2,
    }

    /// <summary>
    /// The first character of every message on the change channel that is not a cache key (a store's, or empty for a
    /// tag eviction): one registry, so that no two kinds share one. No cache key starts with a control character.
    /// </summary>
    internal static class ChannelMark
    {
        /// <summary>A process's own echo, which proves its subscription delivers.</summary>
        public const char Echo = '\u0001';

        /// <summary>A clear's stamps (<see cref="RedisClearStamps.MessagePrefix"/>).</summary>
        public const char Clear = '\u0002';

        /// <summary>An entry's times moved, its page unchanged (<see cref="RedisTouchNotice"/>).</summary>
        public const char Touched = '\u0003';

        /// <summary>Every mark by name, for the contract test.</summary>
        internal static IEnumerable<(string Name, char Mark)> All() => [(nameof(Echo), Echo), (nameof(Clear), Clear), (nameof(Touched), Touched)];
    }

    /// <summary>
    /// The Lua prelude of every script: the constants above, then the shared helpers. <c>u64</c>/<c>u32</c> read and
    /// <c>pn</c> writes big-endian integers at 0-based offsets (the offsets <c>SETRANGE</c> takes); <c>header</c> reads
    /// an entry's header with <c>GETRANGE</c> and checks it, never the page (its length too, with <c>STRLEN</c>, unless
    /// <c>headeronly</c>: a store, which answers with no page, reads the old header's times alone); <c>page</c> reads
    /// the page alone; <c>nowms</c> is the server's time; <c>err</c> tells a <c>pcall</c>'s error (WRONGTYPE, OOM) from a reply.
    /// </summary>
    public static readonly string LuaPrelude = BuildPrelude();

    private static string BuildPrelude()
    {
        var lua = new StringBuilder();
        void Constant(string name, long value) => lua.Append("local ").Append(name).Append(" = ").Append(value.ToString(CultureInfo.InvariantCulture)).Append('\n');
        void Text(string name, string value) => lua.Append("local ").Append(name).Append(" = '").Append(value).Append("'\n");

        Constant("OFF_VERSION", VersionOffset);
        Constant("OFF_CODEC", CodecOffset);
        Constant("OFF_STALE", StaleAtOffset);
        Constant("OFF_EXPIRES", ExpiresAtOffset);
        Constant("OFF_GEN", GenerationOffset);
        Constant("OFF_FAILSAFE", FailSafeUntilOffset);
        Constant("OFF_GRACE", GraceOffset);
        Constant("OFF_EAGER", EagerAtOffset);
        Constant("OFF_LENGTH", PageLengthOffset);
        Constant("OFF_HASH", PageHashOffset);
        Constant("OFF_RENDER", RenderTimeOffset);
        Constant("HEADER", HeaderSize);
        Constant("VERSION", Version);
        Text("MAGIC", Magic);
        Text("RELEASED", ReleasedMark.ToString());
        Text("REVOKED", RevokedMark.ToString());
        Constant("TOUCHED_MARK", ChannelMark.Touched);
        foreach (var (name, value) in LuaCodes())
        {
            Constant(name, value);
        }

        Reply(lua, "lookupreply", Enum.GetNames<LookupField>());
        Reply(lua, "storereply", Enum.GetNames<StoreField>());
        lua.Append(Helpers);
        return lua.ToString();
    }

    // A Lua function that lays a reply's named fields out in the order of the C# field enum: reply{code = FRESH, ...}.
    // A field left out is 0; the last may be left out (a page the reply does not carry).
    private static void Reply(StringBuilder lua, string function, string[] fields)
    {
        lua.Append("local function ").Append(function).Append("(r)\n  return {");
        for (var i = 0; i < fields.Length; i++)
        {
            var name = char.ToLowerInvariant(fields[i][0]) + fields[i][1..];
            lua.Append(i == 0 ? "" : ", ").Append("r.").Append(name).Append(i == fields.Length - 1 ? "" : " or 0");
        }

        lua.Append("}\nend\n");
    }

    /// <summary>Every reply code the scripts use, by its Lua name; the contract test checks each against Redis.</summary>
    internal static IEnumerable<(string Name, int Value)> LuaCodes()
    {
        foreach (var code in Enum.GetValues<LookupCode>())
        {
            yield return (Upper(code.ToString()), (int)code);
        }

        foreach (var kind in Enum.GetValues<MissKind>())
        {
            yield return ("MISS_" + Upper(kind.ToString()), (int)kind);
        }

        foreach (var reason in Enum.GetValues<EntryRejectReason>())
        {
            yield return ("R_" + Upper(reason.ToString()), (int)reason);
        }

        foreach (var outcome in Enum.GetValues<StoreOutcome>())
        {
            yield return ("S_" + Upper(outcome.ToString()), (int)outcome);
        }

        foreach (var renewal in Enum.GetValues<ClaimRenewal>())
        {
            yield return ("C_" + Upper(renewal.ToString()), (int)renewal);
        }

        foreach (var touch in Enum.GetValues<TouchResult>())
        {
            yield return ("T_" + Upper(touch.ToString()), (int)touch);
        }
    }

    // TakenOver -> TAKEN_OVER.
    private static string Upper(string name)
    {
        var upper = new StringBuilder(name.Length + 4);
        for (var i = 0; i < name.Length; i++)
        {
            if (i > 0 && char.IsUpper(name[i]))
            {
                upper.Append('_');
            }

            upper.Append(char.ToUpperInvariant(name[i]));
        }

        return upper.ToString();
    }

    // Numbers stay below 2^53, exact in Lua 5.1 doubles (Redis) and Lua 5.4 integers (Garnet) alike.
    private const string Helpers = """
        local function u32(s, o)
          local a, b, c, d = string.byte(s, o + 1, o + 4)
          return ((a * 256 + b) * 256 + c) * 256 + d
        end
        local function u64(s, o)
          return u32(s, o) * 4294967296 + u32(s, o + 4)
        end
        local function b4(n)
          return string.char(math.floor(n / 16777216) % 256, math.floor(n / 65536) % 256, math.floor(n / 256) % 256, n % 256)
        end
        local function pn(n, width)
          if width == 4 then return b4(n) end
          local hi = math.floor(n / 4294967296)
          return b4(hi) .. b4(n - hi * 4294967296)
        end
        local function header(k, headeronly)
          local h = redis.pcall('GETRANGE', k, 0, HEADER - 1)
          if type(h) ~= 'string' then return nil, R_WRONG_TYPE end
          if h == '' then return nil, R_NONE end
          if #h < HEADER then return nil, R_TRUNCATED end
          if string.sub(h, 1, 4) ~= MAGIC then return nil, R_FOREIGN end
          if string.byte(h, OFF_VERSION + 1) ~= VERSION then return nil, R_UNKNOWN_VERSION end
          if not headeronly and redis.call('STRLEN', k) - HEADER ~= u32(h, OFF_LENGTH) then return nil, R_TRUNCATED end
          if u64(h, OFF_STALE) > u64(h, OFF_EXPIRES) then return nil, R_CORRUPT end
          return h, R_NONE
        end
        local function err(r)
          return type(r) == 'table' and r.err ~= nil
        end
        local function page(k)
          return redis.call('GETRANGE', k, HEADER, -1)
        end
        local function nowms()
          local t = redis.call('TIME')
          return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000), tonumber(t[1]) * 1000000 + tonumber(t[2])
        end
        local function revokedat(h)
          local at = string.find(h, '@', 2, true)
          if not at then return 9007199254740992 end
          return tonumber(string.sub(h, at + 1)) or 0
        end

        """;
}
