using MintCache.AspNetCore.Diagnostics;
using Polly.CircuitBreaker;
using StackExchange.Redis;

namespace MintCache.AspNetCore.Backends.Redis;

/// <summary>
/// What the return probe asks, and when: <see cref="RedisAvailability"/> probes Redis while this process answers
/// locally; here a lost connection is reported to it with a key of a slot that node served, a restored one makes it
/// look at once, and <see cref="SlotAnswersAsync"/> is its question.
/// </summary>
/// <remarks>
/// The probe reads the key whose call failed, when there is one, rather than pinging: on a Redis Cluster whose master
/// died, the other masters answer a ping at once, while the failed slot answers only once its replica is promoted.
/// </remarks>
internal sealed partial class RedisBackend
{
    private IConnectionMultiplexer? _watched;

    /// <summary>Watches a multiplexer's reconnections, once per multiplexer: a restored connection is a reason to look at once.</summary>
    private void WatchConnection(IConnectionMultiplexer multiplexer)
    {
        if (ReferenceEquals(Volatile.Read(ref _watched), multiplexer) || Interlocked.Exchange(ref _watched, multiplexer) == multiplexer)
        {
            return;
        }

        _ = RememberEpochAsync();

        multiplexer.ConnectionFailed += (_, args) =>
        {
            if (args.ConnectionType == ConnectionType.Interactive)
            {
                OnConnectionLost(multiplexer, args);
            }
        };

        multiplexer.ConnectionRestored += (_, _) => _availability.ProbeNow();
    }

    /// <summary>
    /// A connection to a node failed: this process answers locally from now on, not from the next call that fails,
    /// which StackExchange.Redis holds until its reconnection attempt fails (up to a second). The probe then reads a
    /// key of a slot that node served, so the process comes back once that
    /// slot answers again (the node restarted, or its replica promoted), not as soon as any other node answers a ping.
    /// </summary>
    private void OnConnectionLost(IConnectionMultiplexer multiplexer, ConnectionFailedEventArgs args)
    {
        if (IsReplica(multiplexer, args.EndPoint))
        {
            // MintCache reads and writes masters only: a replica lost changes nothing for it.
            return;
        }

        var key = KeyServedBy(multiplexer, args.EndPoint);
        OnFailure(BeginCall(), args.Exception ?? new RedisConnectionException(args.FailureType, "The connection to a Redis node failed."), Tags.OperationConnect, key is null ? null : (RedisKey?)key);
    }

    private static bool IsReplica(IConnectionMultiplexer multiplexer, System.Net.EndPoint? endpoint)
    {
        try
        {
            return endpoint is not null && multiplexer.GetServer(endpoint).IsReplica;
        }
        catch (ArgumentException)
        {
            // An endpoint the multiplexer does not know: treated as one it reads from.
            return false;
        }
    }

    /// <summary>
    /// A key in one of the slots <paramref name="endpoint"/> served, as the cluster map this process holds says; null
    /// outside a cluster, where a ping asks the one server there is.
    /// </summary>
    private string? KeyServedBy(IConnectionMultiplexer multiplexer, System.Net.EndPoint? endpoint)
    {
        if (endpoint is null)
        {
            return null;
        }

        try
        {
            foreach (var server in multiplexer.GetServers())
            {
                if (server.ServerType != ServerType.Cluster || server.ClusterConfiguration?[endpoint] is not { Slots.Count: > 0 } node)
                {
                    continue;
                }

                // A third of the slots, typically: a few names find one.
                for (var i = 0; i < 65_536; i++)
                {
                    var key = _keys.Prefix + "probe:" + i.ToString(System.Globalization.CultureInfo.InvariantCulture);
                    var slot = multiplexer.HashSlot(key);
                    foreach (var range in node.Slots)
                    {
                        if (slot >= range.From && slot <= range.To)
                        {
                            return key;
                        }
                    }
                }
            }
        }
#pragma warning disable CA1031 // Without a key the probe pings, as outside a cluster.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            Log.RedisCallFailed(_logger, ex);
        }

        return null;
    }

    /// <summary>
    /// Whether Redis answers: a read of <paramref name="failedKey"/> (its slot), or a ping when no key failed. Through
    /// the pipeline while the circuit is closed, so that a Redis that keeps failing opens it as calls did before; past
    /// it while open, since Polly would refuse the call, and the probe is what closes it.
    /// </summary>
    private async Task<bool> SlotAnswersAsync(string? failedKey, bool circuitClosed)
    {
        if (!circuitClosed)
        {
            return await PingAsync(failedKey).ConfigureAwait(false);
        }

        try
        {
            return await _pipeline.ExecuteAsync(
                static async (state, ct) =>
                {
                    await AskAsync(await state.Self.DatabaseAsync(ct).ConfigureAwait(false), state.Key).WaitAsync(ct).ConfigureAwait(false);
                    return true;
                },
                (Self: this, Key: failedKey),
                CancellationToken.None).ConfigureAwait(false);
        }
#pragma warning disable CA1031 // Whatever stops the probe, Redis did not answer it: the next one tries again.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            Log.RedisCallFailed(_logger, ex);
            return false;
        }
    }
}
