using Microsoft.Extensions.Logging.Testing;
using Microsoft.Extensions.Time.Testing;
using MintCache.AspNetCore.Backends.Redis;
using MintCache.AspNetCore.Diagnostics;
using MintCache.AspNetCore.Tests.Fixtures;
using Polly.CircuitBreaker;
using StackExchange.Redis;

namespace MintCache.AspNetCore.Tests.Redis;

/// <summary>
/// The state machine that alone decides whether Redis is usable: Healthy, Degraded on a failure or an open breaker,
/// Probing while the return probe asks, Healthy again when Redis answers. Time is a <see cref="FakeTimeProvider"/>.
/// </summary>
public sealed class RedisAvailabilityTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(10);

    [Fact]
    public void Failure_TurnsDegradedOnce_SaidOnce_ProbesTheFailedKeyAtOnce()
    {
        using var h = new Harness();
        Assert.Equal(RedisAvailabilityState.Healthy, h.Availability.State);

        Assert.True(h.Availability.OnFailure(h.Availability.BeginCall(), new RedisTimeoutException("t", CommandStatus.Sent), "k:e"));
        Assert.False(h.Availability.OnFailure(h.Availability.BeginCall(), new RedisTimeoutException("t", CommandStatus.Sent), "k2:e"));

        Assert.Equal(RedisAvailabilityState.Degraded, h.Availability.State);
        Assert.True(h.Availability.AnswersLocally);
        Assert.Equal(1, h.Degraded);
        Assert.Equal(1, h.Logs.GetSnapshot().Count(r => r.Id.Id == Log.IdRedisUnavailable));
        Assert.Equal([("k:e", true)], h.Asked);
    }

    [Fact]
    public async Task Failure_NothingAnswersLocallyUntilTheDegradedWorkIsDone_ARacingFailureWaitsForIt()
    {
        // The degraded work (keeping the last known pages in local memory) is held: until it is done, no lookup may
        // answer from local memory, neither through AnswersLocally nor as the fallback of a call failing meanwhile.
        var entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var done = 0;
        bool? answeredLocallyMeanwhile = null;
        using var h = new Harness();
        h.OnDegraded = () =>
        {
            answeredLocallyMeanwhile = h.Availability.AnswersLocally;
            entered.TrySetResult();
            release.Task.Wait(Deadline);
            Volatile.Write(ref done, 1);
        };

        var first = Task.Run(() => h.Availability.OnFailure(h.Availability.BeginCall(), new RedisConnectionException(ConnectionFailureType.SocketFailure, "f"), "k:e"));
        await entered.Task.WaitAsync(Deadline);

        var racingSawDone = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        var racing = new Thread(() =>
        {
            h.Availability.OnFailure(h.Availability.BeginCall(), new RedisTimeoutException("t", CommandStatus.Sent), "k:e");
            racingSawDone.SetResult(Volatile.Read(ref done) == 1);
        });
        racing.Start();

        // Returned at once (the bug), or waiting for the degraded work: either way, then the work may finish.
        Assert.True(SpinWait.SpinUntil(() => (racing.ThreadState & (ThreadState.WaitSleepJoin | ThreadState.Stopped)) != 0, Deadline));
        release.SetResult();

        Assert.True(await first.WaitAsync(Deadline));
        Assert.False(answeredLocallyMeanwhile, "local memory answered before the last known pages were kept there");
        Assert.True(await racingSawDone.Task.WaitAsync(Deadline), "a failing call fell back to local memory before the last known pages were kept there");
        Assert.True(h.Availability.AnswersLocally);
        Assert.Equal(1, h.Degraded);
    }

    [Fact]
    public void SuccessOfACallStartedBeforeTheFailure_StaysDegraded_StartedAfter_Healthy()
    {
        using var h = new Harness();
        var inFlight = h.Availability.BeginCall();
        h.Availability.OnFailure(h.Availability.BeginCall(), new RedisConnectionException(ConnectionFailureType.SocketFailure, "f"));

        h.Availability.OnSuccess(inFlight);
        Assert.Equal(RedisAvailabilityState.Degraded, h.Availability.State);
        Assert.Equal(0, h.Restored);

        h.Availability.OnSuccess(h.Availability.BeginCall());
        Assert.Equal(RedisAvailabilityState.Healthy, h.Availability.State);
        Assert.False(h.Availability.AnswersLocally);
        Assert.Equal(1, h.Restored);
        Assert.Equal(1, h.Logs.GetSnapshot().Count(r => r.Id.Id == Log.IdRedisRestored));
    }

    [Fact]
    public void Probe_EveryInterval_UntilRedisAnswers_ThenHealthy_AndStops()
    {
        using var h = new Harness();
        h.Availability.OnFailure(h.Availability.BeginCall(), new RedisConnectionException(ConnectionFailureType.SocketFailure, "f"));
        Assert.Single(h.Asked);

        h.Clock.Advance(RedisAvailability.ReturnProbeInterval);
        Assert.Equal(2, h.Asked.Count);
        Assert.Equal(RedisAvailabilityState.Degraded, h.Availability.State);

        h.Answers = true;
        h.Clock.Advance(RedisAvailability.ReturnProbeInterval);
        Assert.Equal(3, h.Asked.Count);
        Assert.Equal(RedisAvailabilityState.Healthy, h.Availability.State);
        Assert.Equal(1, h.Restored);

        // Back: the probe is disarmed, and Redis is asked no more.
        for (var i = 0; i < 4; i++)
        {
            h.Clock.Advance(RedisAvailability.ReturnProbeInterval);
        }

        Assert.Equal(3, h.Asked.Count);
    }

    [Fact]
    public void ProbeInFlight_Probing_OneAtATime_AnsweredHealthy()
    {
        using var h = new Harness();
        var gate = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        h.Gate = gate;
        h.Availability.OnFailure(h.Availability.BeginCall(), new RedisConnectionException(ConnectionFailureType.SocketFailure, "f"));
        Assert.Equal(RedisAvailabilityState.Probing, h.Availability.State);

        // The timer fires and a connection is restored while the probe still waits: neither asks again.
        h.Clock.Advance(RedisAvailability.ReturnProbeInterval);
        h.Availability.ProbeNow();
        Assert.Single(h.Asked);

        gate.SetResult(true);
        Assert.True(SpinWait.SpinUntil(() => h.Availability.State == RedisAvailabilityState.Healthy, Deadline));
    }

    [Fact]
    public async Task BreakerOpens_AnswersLocally_UntilTheProbeClosesIt()
    {
        using var h = new Harness();
        for (var i = 0; i < 2; i++)
        {
            await Assert.ThrowsAsync<RedisConnectionException>(() => h.Availability.Pipeline.ExecuteAsync(
                static _ => ValueTask.FromException(new RedisConnectionException(ConnectionFailureType.SocketFailure, "f"))).AsTask());
        }

        await Eventually.HoldsAsync(() => h.Availability.Circuit == CircuitState.Open && h.Asked.Count == 1, Deadline, "the breaker opens and the probe asks");
        Assert.False(h.Availability.IsDegraded);
        Assert.True(h.Availability.AnswersLocally);
        Assert.Equal(RedisAvailabilityState.Degraded, h.Availability.State);

        // Past the breaker, since Polly would refuse the question: the probe is what closes it.
        Assert.Equal((null, false), h.Asked[0]);
        h.Answers = true;
        h.Clock.Advance(RedisAvailability.ReturnProbeInterval);
        await Eventually.HoldsAsync(() => h.Availability.State == RedisAvailabilityState.Healthy, Deadline, "the probe closes the breaker");
        Assert.Equal(CircuitState.Closed, h.Availability.Circuit);
        Assert.False(h.Availability.AnswersLocally);
    }

    [Fact]
    public async Task BreakerOpen_BreakOver_CallsGoToThePipelineAgain()
    {
        using var h = new Harness();
        for (var i = 0; i < 2; i++)
        {
            await Assert.ThrowsAsync<RedisConnectionException>(() => h.Availability.Pipeline.ExecuteAsync(
                static _ => ValueTask.FromException(new RedisConnectionException(ConnectionFailureType.SocketFailure, "f"))).AsTask());
        }

        await Eventually.HoldsAsync(() => h.Availability.Circuit == CircuitState.Open, Deadline, "the breaker opens");
        Assert.True(h.Availability.AnswersLocally);

        // Polly half-opens only when a call is attempted after the break: so calls must reach the pipeline then.
        h.Clock.Advance(TimeSpan.FromSeconds(5));
        Assert.False(h.Availability.AnswersLocally);
    }

    [Fact]
    public void Subscription_LostAndProven_SaidOncePerChange()
    {
        using var h = new Harness();
        Assert.False(h.Availability.SubscriptionLive);
        Assert.False(h.Availability.SubscriptionLost("Interactive"));

        h.Availability.SubscriptionProven();
        h.Availability.SubscriptionProven();
        Assert.True(h.Availability.SubscriptionLive);
        Assert.True(h.Availability.SubscriptionLost("Subscription"));
        Assert.False(h.Availability.SubscriptionLost("Interactive"));
        Assert.False(h.Availability.SubscriptionLive);

        // Ended on purpose (disposed): not live, and not said.
        h.Availability.SubscriptionProven();
        Assert.True(h.Availability.SubscriptionLost(connectionType: null));

        Assert.Equal(2, h.Logs.GetSnapshot().Count(r => r.Id.Id == Log.IdNotificationsLive));
        Assert.Equal(1, h.Logs.GetSnapshot().Count(r => r.Id.Id == Log.IdNotificationsLost));
    }

    [Fact]
    public void Subscription_NotLive_OneEchoAtATime_AtMostOncePerInterval()
    {
        using var h = new Harness();
        Assert.True(h.Availability.TryBeginEcho());
        Assert.False(h.Availability.TryBeginEcho());

        // The echo did not come back: the next one waits for the interval on the availability's clock.
        h.Availability.EndEcho();
        Assert.False(h.Availability.TryBeginEcho());
        h.Clock.Advance(RedisAvailability.EchoInterval - TimeSpan.FromMilliseconds(1));
        Assert.False(h.Availability.TryBeginEcho());
        h.Clock.Advance(TimeSpan.FromMilliseconds(1));
        Assert.True(h.Availability.TryBeginEcho());
        h.Availability.EndEcho();

        // Live: nothing to prove.
        h.Availability.SubscriptionProven();
        h.Clock.Advance(RedisAvailability.EchoInterval);
        Assert.False(h.Availability.TryBeginEcho());
    }

    private sealed class Harness : IDisposable
    {
        private int _degraded;
        private int _restored;

        public Harness()
        {
            var options = new MintCacheOptions
            {
                Redis =
                {
                    OperationTimeout = TimeSpan.FromSeconds(1),
                    BreakDuration = TimeSpan.FromSeconds(5),
                    MinimumThroughput = 2,
                    FailureRatio = 0.5,
                },
            };
            Availability = new RedisAvailability(options, Clock, Logger, AskAsync, OnDegradedCalled, () => Interlocked.Increment(ref _restored));
        }

        /// <summary>Runs within the availability's onDegraded callback.</summary>
        public Action? OnDegraded { get; set; }

        public FakeTimeProvider Clock { get; } = new();

        public FakeLogger Logger { get; } = new();

        public FakeLogCollector Logs => Logger.Collector;

        public RedisAvailability Availability { get; }

        public List<(string? Key, bool CircuitClosed)> Asked { get; } = [];

        public bool Answers { get; set; }

        public TaskCompletionSource<bool>? Gate { get; set; }

        public int Degraded => Volatile.Read(ref _degraded);

        public int Restored => Volatile.Read(ref _restored);

        public void Dispose() => Availability.Dispose();

        private void OnDegradedCalled()
        {
            Interlocked.Increment(ref _degraded);
            OnDegraded?.Invoke();
        }

        private Task<bool> AskAsync(string? key, bool circuitClosed)
        {
            lock (Asked)
            {
                Asked.Add((key, circuitClosed));
            }

            return Gate?.Task ?? Task.FromResult(Answers);
        }
    }
}
