using MintCache.AspNetCore.Entries;
using StackExchange.Redis;
using static MintCache.AspNetCore.Backends.Redis.RedisWire;

namespace MintCache.AspNetCore.Backends.Redis;

/// <summary>The lookup script's reply, read by the field positions of <see cref="LookupField"/>.</summary>
internal readonly struct RedisLookupReply(RedisResult result)
{
    private readonly RedisResult[] _fields = (RedisResult[])result!;

    public LookupCode Code => (LookupCode)(int)_fields[(int)LookupField.Code];

    /// <summary>The server's time of the reply (ms): when the claim was taken, or when the lookup missed.</summary>
    public long Now => (long)_fields[(int)LookupField.Now];

    /// <summary>With <see cref="LookupCode.Missing"/>: what happened to the claim.</summary>
    public MissKind Miss => (MissKind)(int)_fields[(int)LookupField.Detail];

    /// <summary>With <see cref="LookupCode.Rejected"/>: why.</summary>
    public EntryRejectReason Reason => (EntryRejectReason)(int)_fields[(int)LookupField.Detail];

    /// <summary>With a page: whether this lookup took its claim (stale, or fresh past its eager-at).</summary>
    public bool Claimed => (int)_fields[(int)LookupField.Detail] == 1;

    public long Generation => (long)_fields[(int)LookupField.Generation];

    /// <summary>How long a fresh page may be kept near: to its stale-at, or its eager-at when that comes first.</summary>
    public long MsToKeep => (long)_fields[(int)LookupField.MsToKeep];

    public long MsToExpiry => (long)_fields[(int)LookupField.MsToExpiry];

    public long MsToFailSafe => (long)_fields[(int)LookupField.MsToFailSafe];

    public long GraceMs => (long)_fields[(int)LookupField.GraceMs];

    /// <summary>With a page: how it is encoded (<see cref="RedisPageCodec.Codec"/>).</summary>
    public byte Codec => (byte)(int)_fields[(int)LookupField.Codec];

    /// <summary>With a page: the render time of its last unchanged refresh (UTC ticks), 0 for none.</summary>
    public long RenderTime => _fields.Length > (int)LookupField.RenderTime && (byte[]?)_fields[(int)LookupField.RenderTime] is { Length: 8 } ticks
        ? System.Buffers.Binary.BinaryPrimitives.ReadInt64BigEndian(ticks)
        : 0;

    /// <summary>With a page: the <see cref="PageFingerprint"/> hash of the page as stored, 0 for unknown.</summary>
    public ulong PageHash => _fields.Length > (int)LookupField.PageHash && (byte[]?)_fields[(int)LookupField.PageHash] is { Length: 8 } hash
        ? System.Buffers.Binary.BinaryPrimitives.ReadUInt64BigEndian(hash)
        : 0;

    /// <summary>The page as stored (see <see cref="Codec"/>), when the reply answers with it (fresh or stale).</summary>
    public byte[]? Page => _fields.Length > (int)LookupField.Page ? (byte[]?)_fields[(int)LookupField.Page] : null;
}
