using System.Buffers;
using System.Diagnostics;
using System.Runtime.CompilerServices;
using MintCache.AspNetCore.Backends;
using MintCache.AspNetCore.Entries;
using MintCache.AspNetCore.Store;

namespace MintCache.AspNetCore.Diagnostics;

/// <summary>
/// Wraps the store's backend to measure every call (duration, failures, activities) and to count how regenerations
/// end, so that the store itself needs no instrumentation around its backend calls.
/// </summary>
/// <remarks>
/// Exceptions pass through unchanged (an exception filter counts them without catching), and the store goes on
/// absorbing them as before. A synchronously completed call stays synchronous: no state machine unless the backend
/// is really asynchronous. A backend that absorbs its own failures (a fallback to local) reports them itself through
/// <see cref="Diagnostics.Metrics.BackendError"/> and <see cref="Diagnostics.Metrics.FallbackToLocal"/>.
/// </remarks>
internal sealed class InstrumentedBackend : IMintBackend
{
    private readonly IMintBackend _inner;
    private readonly Metrics _metrics;
    private readonly ActivityKind _activityKind;

    private InstrumentedBackend(IMintBackend inner, Metrics metrics)
    {
        _inner = inner;
        _metrics = metrics;

        // A backend in this process does in-process work; only one that talks to a server is a client of it.
        _activityKind = inner is Backends.Memory.MemoryBackend ? ActivityKind.Internal : ActivityKind.Client;
    }

    public string Name => _inner.Name;

    public long EvictionMark => _inner.EvictionMark;

    public static InstrumentedBackend Wrap(IMintBackend backend, Metrics metrics)
        => backend as InstrumentedBackend ?? new InstrumentedBackend(backend, metrics);

    public ValueTask<BackendLookup> LookupAsync(string key, TimeSpan leaseDuration, CancellationToken cancellationToken)
    {
        var lookup = StartLookup(key, leaseDuration, cancellationToken, out var call);
        if (lookup.IsCompletedSuccessfully)
        {
            call.End();
            return lookup;
        }

        return AwaitAsync(lookup, call);

        static async ValueTask<BackendLookup> AwaitAsync(ValueTask<BackendLookup> lookup, Call call)
        {
            try
            {
                var result = await lookup.ConfigureAwait(false);
                call.End();
                return result;
            }
            catch (Exception ex) when (call.Fail(ex))
            {
                throw;
            }
        }
    }

    /// <summary>
    /// Starts a lookup whose measurement the caller ends (<see cref="Call.End"/>, or <see cref="Call.Fail"/> as an
    /// exception filter): the store awaits its hits anyway, and a second state machine here, per hit, would allocate
    /// more than the rest of the hit's own work.
    /// </summary>
    public ValueTask<BackendLookup> StartLookup(string key, TimeSpan leaseDuration, CancellationToken cancellationToken, out Call call)
    {
        call = Begin(Tags.OperationLookup);
        try
        {
            return _inner.LookupAsync(key, leaseDuration, cancellationToken);
        }
        catch (Exception ex) when (call.Fail(ex))
        {
            throw;
        }
    }

    public ValueTask<StoreOutcome> SetAsync(string key, ReadOnlySequence<byte> page, string[] tags, EntryLifetime lifetime, StoreFence fence, CancellationToken cancellationToken)
    {
        var call = Begin(Tags.OperationStore);
        ValueTask<StoreOutcome> set;
        try
        {
            set = _inner.SetAsync(key, page, tags, lifetime, fence, cancellationToken);
        }
        catch (Exception ex) when (call.Fail(ex))
        {
            throw;
        }

        if (set.IsCompletedSuccessfully)
        {
            Stored(call, fence, set.Result);
            return set;
        }

        return AwaitAsync(set, call, fence);

        static async ValueTask<StoreOutcome> AwaitAsync(ValueTask<StoreOutcome> set, Call call, StoreFence fence)
        {
            try
            {
                var outcome = await set.ConfigureAwait(false);
                Stored(call, fence, outcome);
                return outcome;
            }
            catch (Exception ex) when (call.Fail(ex))
            {
                throw;
            }
        }

        static void Stored(Call call, StoreFence fence, StoreOutcome outcome)
        {
            call.End();
            if (fence.Claim is not null || outcome != StoreOutcome.Stored)
            {
                // A store under a claim ends a regeneration; a refused one, claimed or not, regenerated for nothing.
                call.Metrics.RegenerationEnded(call.Backend, outcome == StoreOutcome.Stored ? Tags.OutcomeStored : Tags.OutcomeRefused);
            }
        }
    }

    public ValueTask<ClaimRenewal> RenewClaimAsync(string key, ClaimTicket claim, TimeSpan leaseDuration, CancellationToken cancellationToken)
        => _inner.RenewClaimAsync(key, claim, leaseDuration, cancellationToken);

    public ValueTask ReleaseClaimAsync(string key, ClaimTicket claim, TimeSpan retryAfter, bool failed, CancellationToken cancellationToken)
    {
        if (failed)
        {
            // Counted when the store gives up, whether or not the release itself reaches the backend.
            _metrics.RegenerationEnded(_inner.Name, Tags.OutcomeFailed);
        }

        var call = Begin(Tags.OperationRelease);
        ValueTask release;
        try
        {
            release = _inner.ReleaseClaimAsync(key, claim, retryAfter, failed, cancellationToken);
        }
        catch (Exception ex) when (call.Fail(ex))
        {
            throw;
        }

        return Complete(release, call);
    }

    // A wait is no backend call worth timing: it lasts as long as another process renders the page.
    public ValueTask<bool> WaitForEntryAsync(string key, BackendLookup lookup, TimeSpan timeout, CancellationToken cancellationToken)
        => _inner.WaitForEntryAsync(key, lookup, timeout, cancellationToken);

    public ValueTask EvictByTagAsync(string tag, bool soft, CancellationToken cancellationToken)
    {
        var call = Begin(Tags.OperationEvict);
        ValueTask evict;
        try
        {
            evict = _inner.EvictByTagAsync(tag, soft, cancellationToken);
        }
        catch (Exception ex) when (call.Fail(ex))
        {
            throw;
        }

        return Complete(evict, call);
    }

    public ValueTask EvictKeyAsync(string key, CancellationToken cancellationToken)
    {
        var call = Begin(Tags.OperationEvict);
        ValueTask evict;
        try
        {
            evict = _inner.EvictKeyAsync(key, cancellationToken);
        }
        catch (Exception ex) when (call.Fail(ex))
        {
            throw;
        }

        return Complete(evict, call);
    }

    public ValueTask ClearAsync(bool soft, CancellationToken cancellationToken)
    {
        var call = Begin(Tags.OperationEvict);
        ValueTask clear;
        try
        {
            clear = _inner.ClearAsync(soft, cancellationToken);
        }
        catch (Exception ex) when (call.Fail(ex))
        {
            throw;
        }

        return Complete(clear, call);
    }

    private static ValueTask Complete(ValueTask operation, Call call)
    {
        if (operation.IsCompletedSuccessfully)
        {
            call.End();
            return operation;
        }

        return AwaitAsync(operation, call);

        static async ValueTask AwaitAsync(ValueTask operation, Call call)
        {
            try
            {
                await operation.ConfigureAwait(false);
                call.End();
            }
            catch (Exception ex) when (call.Fail(ex))
            {
                throw;
            }
        }
    }

    private Call Begin(string operation)
        => new(_metrics, _inner.Name, operation, _metrics.TimingBackend ? Stopwatch.GetTimestamp() : 0, Activities.StartBackendCall(_inner.Name, operation, _activityKind));

    /// <summary>One backend call being measured; <see langword="default"/> measures nothing (one already ended).</summary>
    internal readonly record struct Call(Metrics Metrics, string Backend, string Operation, long StartedAt, Activity? Activity)
    {
        public void End()
        {
            Metrics?.BackendCall(Backend, Operation, StartedAt);
            Activity?.Dispose();
        }

        /// <summary>Records a failure; always <see langword="false"/>, so that, as a filter, it never catches.</summary>
        public bool Fail(Exception exception)
        {
            if (Metrics is null)
            {
                return false;
            }

            if (exception is not OperationCanceledException)
            {
                Metrics.BackendError(Backend, Operation);
                Activities.Failed(Activity, exception);
            }

            Metrics.BackendCall(Backend, Operation, StartedAt);
            Activity?.Dispose();
            return false;
        }
    }
}
