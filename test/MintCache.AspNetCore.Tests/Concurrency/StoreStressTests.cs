using System.Buffers.Binary;
using MintCache.AspNetCore.Tests.Fixtures;

namespace MintCache.AspNetCore.Tests.Concurrency;

/// <summary>Random Get/Set/Evict from several threads on few keys, then the invariants are checked.</summary>
public sealed class StoreStressTests
{
    private static readonly TimeSpan Grace = TimeSpan.FromSeconds(3);
    private static readonly TimeSpan Lease = TimeSpan.FromSeconds(2);
    private static readonly string[] Keys = ["a", "b", "c", "d"];
    private static readonly string[] Tags = ["t1", "t2"];

    [Fact]
    public async Task RandomOperations_KeepEveryInvariant()
    {
        using var harness = new StoreHarness(o =>
        {
            o.Grace = Grace;
            o.LeaseDuration = Lease;
            o.FailureBackoff = TimeSpan.FromSeconds(1);
        });
        var stores = new[] { harness.Store, harness.NewStoreOnSameBackend() };
        const int Workers = 4;
        const int Rounds = 150;
        const int OperationsPerRound = 40;
        var pastExpiry = 0;

        // Time stands still inside a round and moves between rounds, so each page can carry its own expiry.
        using var barrier = new Barrier(Workers, _ => harness.Time.Advance(TimeSpan.FromMilliseconds(Random.Shared.Next(0, 700))));
        var workers = Enumerable.Range(0, Workers).Select(worker => Task.Run(async () =>
        {
            var random = new Random(worker);
            for (var round = 0; round < Rounds; round++)
            {
                for (var op = 0; op < OperationsPerRound; op++)
                {
                    var store = stores[random.Next(stores.Length)];
                    var key = Keys[random.Next(Keys.Length)];
                    switch (random.Next(10))
                    {
                        case < 6:
                            if (await store.GetAsync(key, default) is { } page && harness.Time.GetUtcNow().UtcTicks >= ExpiryOf(page))
                            {
                                Interlocked.Increment(ref pastExpiry);
                            }

                            break;
                        case < 8:
                            var fresh = TimeSpan.FromMilliseconds(random.Next(200, 2000));
                            await store.SetAsync(key, PageExpiringAt(harness.Time.GetUtcNow() + fresh + Grace), [Tags[random.Next(Tags.Length)]], fresh, default);
                            break;
                        case 8:
                            await store.EvictByTagAsync(Tags[random.Next(Tags.Length)], default);
                            break;
                        default:
                            await store.MarkStaleByTagAsync(Tags[random.Next(Tags.Length)], default);
                            break;
                    }
                }

                // A worker that fell out of step (threw, or hung in the store) leaves the others here: that must
                // fail the test, not let the survivors run on through rounds whose clock no longer moves in step.
                Assert.True(barrier.SignalAndWait(TimeSpan.FromSeconds(30)), $"worker {worker} waited in vain for the others at round {round}");
            }
        })).ToArray();

        await Task.WhenAll(workers).WaitAsync(TimeSpan.FromSeconds(60));
        Assert.Equal(0, pastExpiry);

        // No claim is lost in the backend: once leases have run out, every key can be stored, goes stale and is claimed
        // exactly once. Checked through stores of their own: a store above may still hold a claim it won in the last
        // round, and its SetAsync is that claim's store, rightly refused when another store rewrote the page since.
        var check = new[] { harness.NewStoreOnSameBackend(), harness.NewStoreOnSameBackend() };
        harness.Time.Advance(Lease);
        foreach (var key in Keys)
        {
            await check[0].SetAsync(key, PageExpiringAt(harness.Time.GetUtcNow() + TimeSpan.FromSeconds(1) + Grace), [], TimeSpan.FromSeconds(1), default);
        }

        harness.Time.Advance(TimeSpan.FromSeconds(1));
        foreach (var key in Keys)
        {
            var answers = new[]
            {
                await check[0].GetAsync(key, default),
                await check[1].GetAsync(key, default),
                await check[0].GetAsync(key, default),
                await check[1].GetAsync(key, default),
            };
            Assert.Equal(1, answers.Count(a => a is null));
        }
    }

    private static byte[] PageExpiringAt(DateTimeOffset expiresAt)
    {
        var page = new byte[8];
        BinaryPrimitives.WriteInt64LittleEndian(page, expiresAt.UtcTicks);
        return page;
    }

    private static long ExpiryOf(byte[] page) => BinaryPrimitives.ReadInt64LittleEndian(page);
}
