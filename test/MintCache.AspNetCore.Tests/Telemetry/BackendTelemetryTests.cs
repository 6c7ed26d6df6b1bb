using System.Buffers;
using System.Diagnostics;
using Microsoft.AspNetCore.OutputCaching;
using Microsoft.Extensions.DependencyInjection;
using MintCache.AspNetCore.Backends;
using MintCache.AspNetCore.Entries;
using MintCache.AspNetCore.Store;
using MintCache.AspNetCore.Tests.Fixtures;

namespace MintCache.AspNetCore.Tests.Telemetry;

/// <summary>Backend failures as metrics and activities: counted, traced, and absorbed by the store, but for a failed purge.</summary>
[Collection(SerialCollection.Name)]
public sealed class BackendTelemetryTests
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task FailingBackend_CountedPerOperation_ActivityMarkedError_RequestUnharmed(bool failAsynchronously)
    {
        var activities = new List<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == MintCacheDiagnostics.ActivitySourceName,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = activity =>
            {
                lock (activities)
                {
                    activities.Add(activity);
                }
            },
        };
        ActivitySource.AddActivityListener(listener);

        var services = new ServiceCollection().AddLogging();
        services.AddSingleton<IMintBackend>(new FailingBackend(failAsynchronously));
        services.AddOutputCache().AddMintStore();
        await using var provider = services.BuildServiceProvider();
        var store = provider.GetRequiredService<IOutputCacheStore>();
        using var metrics = new MintMetrics(provider);

        Assert.Null(await store.GetAsync("key", default));
        await store.SetAsync("key", [1, 2, 3], ["tag"], TimeSpan.FromSeconds(10), default);
        // A purge that failed is reported to its caller (a purge endpoint answers 503), never to a page request.
        await Assert.ThrowsAsync<InvalidOperationException>(() => store.EvictByTagAsync("tag", default).AsTask());

        // A lookup is shared by the middleware among the requests of a key: one caller's cancellation does not end it,
        // so it runs, and its failure is counted like any other.
        Assert.Null(await store.GetAsync("key", new CancellationToken(canceled: true)));

        var errors = metrics.BackendErrors.GetMeasurementSnapshot();
        Assert.Equal(["evict", "lookup", "lookup", "store"], errors.Select(m => (string)m.Tags[MintCacheDiagnostics.OperationTag]!).Order());
        Assert.All(errors, m => Assert.Equal("failing", m.Tags[MintCacheDiagnostics.BackendTag]));
        Assert.Equal(4, metrics.BackendDuration.GetMeasurementSnapshot().Count);
        Assert.Equal(0, metrics.Lookups.GetMeasurementSnapshot().Sum(m => m.Value)); // failed lookups are errors, not answers

        lock (activities)
        {
            var failed = activities.Where(a => a.Status == ActivityStatusCode.Error).Select(a => a.OperationName).Order();
            Assert.Equal(["mintcache.backend.evict", "mintcache.backend.lookup", "mintcache.backend.lookup", "mintcache.backend.store"], failed);
            Assert.All(activities, a => Assert.DoesNotContain(a.TagObjects, t => Equals(t.Value, "key")));
        }
    }

    /// <summary>A backend whose every call fails, at once or after a yield, or honours cancellation.</summary>
    private sealed class FailingBackend(bool async) : IMintBackend
    {
        public string Name => "failing";

        public ValueTask<BackendLookup> LookupAsync(string key, TimeSpan leaseDuration, CancellationToken cancellationToken)
            => cancellationToken.IsCancellationRequested ? ValueTask.FromCanceled<BackendLookup>(cancellationToken) : Fail<BackendLookup>();

        public long EvictionMark => 0;

        public ValueTask<StoreOutcome> SetAsync(string key, ReadOnlySequence<byte> page, string[] tags, EntryLifetime lifetime, StoreFence fence, CancellationToken cancellationToken)
            => Fail<StoreOutcome>();

        public ValueTask<ClaimRenewal> RenewClaimAsync(string key, ClaimTicket claim, TimeSpan leaseDuration, CancellationToken cancellationToken)
            => Fail<ClaimRenewal>();

        public ValueTask ReleaseClaimAsync(string key, ClaimTicket claim, TimeSpan retryAfter, bool failed, CancellationToken cancellationToken)
            => new(Fail<bool>().AsTask());

        public ValueTask<bool> WaitForEntryAsync(string key, BackendLookup lookup, TimeSpan timeout, CancellationToken cancellationToken)
            => ValueTask.FromResult(false);

        public ValueTask EvictByTagAsync(string tag, bool soft, CancellationToken cancellationToken)
            => new(Fail<bool>().AsTask());

        public ValueTask EvictKeyAsync(string key, CancellationToken cancellationToken)
            => new(Fail<bool>().AsTask());

        public ValueTask ClearAsync(bool soft, CancellationToken cancellationToken)
            => new(Fail<bool>().AsTask());

        private ValueTask<T> Fail<T>()
        {
            if (!async)
            {
                throw new InvalidOperationException("The backend is down.");
            }

            return new(FailLaterAsync<T>());
        }

        private static async Task<T> FailLaterAsync<T>()
        {
            await Task.Yield();
            throw new InvalidOperationException("The backend is down.");
        }
    }
}
