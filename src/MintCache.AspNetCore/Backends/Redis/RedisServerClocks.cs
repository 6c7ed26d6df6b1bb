using System.Collections.Concurrent;
using System.Net;
using StackExchange.Redis;

namespace MintCache.AspNetCore.Backends.Redis;

/// <summary>
/// The clock of each Redis node, found by the slot of the key a plain read asks for: on a cluster every master stamps
/// the entries of its own slots, so one node's clock never decides another node's entries (design.md §2 invariant 5).
/// </summary>
/// <remarks>
/// Slots are mapped to nodes from the cluster map StackExchange.Redis holds, once per slot, and mapped again whenever
/// the multiplexer reports a moved slot or a new configuration (a failover promotes a replica, whose clock is then
/// measured before it decides anything). Outside a cluster there is one node, and one clock.
/// </remarks>
internal sealed class RedisServerClocks
{
    private const int Slots = 16_384;

    private readonly RedisServerClock _single = new(node: null);
    private readonly ConcurrentDictionary<EndPoint, RedisServerClock> _nodes = new();
    private RedisServerClock?[] _bySlot = new RedisServerClock?[Slots];
    private IConnectionMultiplexer? _watched;

    /// <summary>Whether any node's clock decides lookups now (for tests and diagnostics).</summary>
    public bool IsKnown => _single.IsKnown || _nodes.Values.Any(static c => c.IsKnown);

    /// <summary>The earliest and the latest the clock of the node serving <paramref name="key"/> may read now.</summary>
    public bool TryNow(IConnectionMultiplexer multiplexer, RedisKey key, out long earliestMs, out long latestMs)
    {
        if (For(multiplexer, key) is { } clock)
        {
            return clock.TryNow(multiplexer, out earliestMs, out latestMs);
        }

        earliestMs = latestMs = 0;
        return false;
    }

    /// <summary>The clock of the node serving <paramref name="key"/>, when the cluster map names one.</summary>
    public RedisServerClock? For(IConnectionMultiplexer multiplexer, RedisKey key)
    {
        Watch(multiplexer);
        var slot = multiplexer.HashSlot(key);
        if (slot < 0 || slot >= Slots)
        {
            return _single;
        }

        var bySlot = Volatile.Read(ref _bySlot);
        return bySlot[slot] ?? Map(multiplexer, bySlot, slot);
    }

    /// <summary>Measures the clock of the node serving <paramref name="key"/> now (for tests).</summary>
    public Task MeasureAsync(IConnectionMultiplexer multiplexer, RedisKey key)
        => For(multiplexer, key)?.MeasureAsync(multiplexer) ?? Task.CompletedTask;

    private RedisServerClock? Map(IConnectionMultiplexer multiplexer, RedisServerClock?[] bySlot, int slot)
    {
        var cluster = false;
        foreach (var server in multiplexer.GetServers())
        {
            if (!server.IsConnected || server.ServerType != ServerType.Cluster)
            {
                continue;
            }

            cluster = true;
            if (server.ClusterConfiguration?.GetBySlot(slot) is { EndPoint: { } node })
            {
                var clock = _nodes.GetOrAdd(node, static n => new RedisServerClock(n));
                bySlot[slot] = clock;
                return clock;
            }
        }

        // Not a cluster: one node. A cluster whose map does not name the slot yet: nothing decides it but the script.
        return cluster ? null : _single;
    }

    /// <summary>Forgets which node serves each slot when the multiplexer says slots moved; once per multiplexer.</summary>
    private void Watch(IConnectionMultiplexer multiplexer)
    {
        if (ReferenceEquals(Volatile.Read(ref _watched), multiplexer) || ReferenceEquals(Interlocked.Exchange(ref _watched, multiplexer), multiplexer))
        {
            return;
        }

        multiplexer.HashSlotMoved += (_, _) => Remap();
        multiplexer.ConfigurationChanged += (_, _) => Remap();
        multiplexer.ConnectionRestored += (_, _) => Remap();
        Remap();
    }

    private void Remap() => Volatile.Write(ref _bySlot, new RedisServerClock?[Slots]);
}
