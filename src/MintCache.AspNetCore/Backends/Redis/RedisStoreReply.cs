using MintCache.AspNetCore.Store;
using StackExchange.Redis;
using static MintCache.AspNetCore.Backends.Redis.RedisWire;

namespace MintCache.AspNetCore.Backends.Redis;

/// <summary>The store script's reply, read by the field positions of <see cref="StoreField"/>.</summary>
internal readonly struct RedisStoreReply(RedisResult result)
{
    private readonly RedisResult[] _fields = (RedisResult[])result!;

    public StoreOutcome Outcome => (StoreOutcome)(int)_fields[(int)StoreField.Outcome];

    /// <summary>With <see cref="StoreOutcome.Stored"/>: the entry's latest possible expiry (server ms).</summary>
    public long LatestExpiry => (long)_fields[(int)StoreField.LatestExpiry];

    public long Now => (long)_fields[(int)StoreField.Now];

    /// <summary>What a touch did; 0 for a store.</summary>
    public TouchResult Touch => _fields.Length > (int)StoreField.Touch ? (TouchResult)(int)_fields[(int)StoreField.Touch] : 0;
}
