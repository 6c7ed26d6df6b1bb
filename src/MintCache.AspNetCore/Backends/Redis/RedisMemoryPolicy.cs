using Microsoft.Extensions.Logging;
using MintCache.AspNetCore.Diagnostics;
using StackExchange.Redis;

namespace MintCache.AspNetCore.Backends.Redis;

/// <summary>
/// Redis's <c>maxmemory-policy</c>, read once from <c>INFO memory</c> (which managed services that refuse <c>CONFIG</c>
/// allow) through a script (<see cref="RedisScripts.MemoryInfoAsync"/>); with <c>maxmemory 0</c> (no limit) Redis never
/// evicts, whatever the policy, and it reads as <c>noeviction</c>. Under an <c>allkeys-*</c> policy Redis may evict
/// any key the backend writes (tag sets, revocations, the epoch), and under a <c>volatile-*</c> policy the keys with a
/// TTL, among them the tag sets and revocations that purges and fences depend on. Under either the health check reads
/// Degraded: a purge may be lost (docs/decisions/eviction-policies.md). Only <c>noeviction</c> keeps them.
/// </summary>
/// <remarks>
/// Said once: a Warning when the policy evicts any key, a Debug line when Redis refuses <c>INFO</c> (an ACL without it),
/// where the policy stays unknown and is not held against the backend. A read that failed for another
/// reason (a timeout, a lost connection) is tried again by the next caller.
/// </remarks>
internal sealed class RedisMemoryPolicy(ILogger logger, TimeSpan timeout)
{
    private const string AllKeysPrefix = "allkeys-";
    private const string VolatilePrefix = "volatile-";
    private const string NoEviction = "noeviction";

    private readonly Lock _lock = new();
    private Task<string?>? _reading;
    private bool _refused;

    /// <summary>Whether <paramref name="policy"/> lets Redis evict keys that carry no expiry.</summary>
    public static bool EvictsAnyKey(string? policy) => policy is not null && policy.StartsWith(AllKeysPrefix, StringComparison.OrdinalIgnoreCase);

    /// <summary>Whether <paramref name="policy"/> lets Redis evict the keys purges and fences depend on (they carry TTLs).</summary>
    public static bool EvictsPurgeKeys(string? policy)
        => EvictsAnyKey(policy) || (policy is not null && policy.StartsWith(VolatilePrefix, StringComparison.OrdinalIgnoreCase));

    /// <summary>The policy, or <see langword="null"/> when it could not be read; never throws.</summary>
    public Task<string?> ReadAsync(IConnectionMultiplexer multiplexer)
    {
        lock (_lock)
        {
            if (_reading is null || (_reading.IsCompleted && _reading.Result is null && !_refused))
            {
                _reading = ReadOnceAsync(multiplexer);
            }

            return _reading;
        }
    }

    /// <summary>The effective policy from an <c>INFO memory</c> reply: <c>noeviction</c> when nothing limits memory.</summary>
    internal static string? ReadPolicy(string? info)
    {
        string? policy = null, limit = null;
        foreach (var line in (info ?? "").Split('\n'))
        {
            var field = line.TrimEnd('\r');
            if (field.StartsWith("maxmemory_policy:", StringComparison.Ordinal))
            {
                policy = field["maxmemory_policy:".Length..];
            }
            else if (field.StartsWith("maxmemory:", StringComparison.Ordinal))
            {
                limit = field["maxmemory:".Length..];
            }
        }

        return limit == "0" && policy is not null ? NoEviction : policy;
    }

    private async Task<string?> ReadOnceAsync(IConnectionMultiplexer multiplexer)
    {
        try
        {
            var reply = await RedisScripts.MemoryInfoAsync(multiplexer.GetDatabase()).WaitAsync(timeout).ConfigureAwait(false);
            var policy = ReadPolicy((string?)reply);
            if (EvictsPurgeKeys(policy))
            {
                Log.RedisMemoryPolicyEvicts(logger, policy!);
            }

            return policy;
        }
        catch (Exception ex) when (ex is RedisServerException or RedisCommandException)
        {
            // Refused (no permission, or a renamed or disabled command): unknown for good, said at Debug.
            lock (_lock)
            {
                _refused = true;
            }

            Log.RedisMemoryPolicyUnknown(logger, ex);
            return null;
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException or ObjectDisposedException)
        {
            // Not answered: the next caller asks again.
            Log.RedisCallFailed(logger, ex);
            return null;
        }
    }
}
