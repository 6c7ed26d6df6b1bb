using Microsoft.Extensions.Time.Testing;
using MintCache.AspNetCore.Backends.Redis;
using Polly.Timeout;

namespace MintCache.AspNetCore.Tests.Redis;

/// <summary>
/// The hit path's own wait for a Redis reply: the reply, or a timeout on the backend's clock, whichever comes first;
/// and a pooled wait never lets a late reply or an old timer reach its next caller.
/// </summary>
public sealed class RedisReplyWaitsTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromMilliseconds(500);

    [Fact]
    public async Task Reply_BeforeTheTimeout_IsTheOutcome_AgainAndAgain()
    {
        var time = new FakeTimeProvider();
        using var waits = new RedisReplyWaits<string>(time, Timeout);
        for (var i = 0; i < 3; i++)
        {
            var reply = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
            var waiting = waits.WaitAsync(reply.Task).AsTask();
            time.Advance(Timeout - TimeSpan.FromMilliseconds(1));
            Assert.False(waiting.IsCompleted);

            reply.SetResult("reply " + i);
            Assert.Equal("reply " + i, await waiting);
        }
    }

    [Fact]
    public async Task Reply_Fails_TheFailureIsTheOutcome()
    {
        using var waits = new RedisReplyWaits<string>(new FakeTimeProvider(), Timeout);
        var reply = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var waiting = waits.WaitAsync(reply.Task).AsTask();

        reply.SetException(new InvalidOperationException("connection lost"));
        var failure = await Assert.ThrowsAsync<InvalidOperationException>(() => waiting);
        Assert.Equal("connection lost", failure.Message);
    }

    [Fact]
    public async Task NoReply_TheTimeoutPasses_TimesOut_AndTheLateReplyIsDisposed()
    {
        var time = new FakeTimeProvider();
        using var waits = new RedisReplyWaits<Lease?>(time, Timeout);
        var reply = new TaskCompletionSource<Lease?>(TaskCreationOptions.RunContinuationsAsynchronously);
        var waiting = waits.WaitAsync(reply.Task).AsTask();

        time.Advance(Timeout);
        var timedOut = await Assert.ThrowsAsync<TimeoutRejectedException>(() => waiting);
        Assert.Equal(Timeout, timedOut.Timeout);

        // Redis answers after all: nobody reads that reply, so its leased buffer goes back at once.
        var late = new Lease();
        reply.SetResult(late);
        Assert.True(await late.Disposed.Task.WaitAsync(TimeSpan.FromSeconds(30)));
    }

    [Fact]
    public async Task WaitUsedAgainAfterATimeout_TimesOutAtItsOwnDeadlineOnly()
    {
        var time = new FakeTimeProvider();
        using var waits = new RedisReplyWaits<Lease?>(time, Timeout);
        var first = new TaskCompletionSource<Lease?>(TaskCreationOptions.RunContinuationsAsynchronously);
        var waiting = waits.WaitAsync(first.Task).AsTask();
        time.Advance(Timeout);
        await Assert.ThrowsAsync<TimeoutRejectedException>(() => waiting);
        var late = new Lease();
        first.SetResult(late);
        await late.Disposed.Task.WaitAsync(TimeSpan.FromSeconds(30));

        // The next wait (the same pooled one) starts its own timeout: half of it passing is no timeout.
        var second = new TaskCompletionSource<Lease?>(TaskCreationOptions.RunContinuationsAsynchronously);
        var waitingAgain = waits.WaitAsync(second.Task).AsTask();
        time.Advance(Timeout / 2);
        Assert.False(waitingAgain.IsCompleted);

        var answer = new Lease();
        second.SetResult(answer);
        Assert.Same(answer, await waitingAgain);
        Assert.False(answer.Disposed.Task.IsCompleted);
    }

    [Fact]
    public async Task TimerOfAnEarlierUseFiresLate_TheNextUseIsNotAnswered()
    {
        // The timer of the first use fires (as a timer callback already on its way may, whatever Change says), and the
        // first use is answered by its reply and the wait serves a second use before that callback decides.
        var time = new HeldTimeProvider();
        using var waits = new RedisReplyWaits<string>(time, Timeout);
        var first = new TaskCompletionSource<string>();
        var firstAnswer = waits.WaitAsync(first.Task).AsTask();
        var second = new TaskCompletionSource<string>();
        Task<string>? secondAnswer = null;
        time.Advance(Timeout);
        time.WhileTimerReadsTheClock = () =>
        {
            first.SetResult("first");
            secondAnswer = waits.WaitAsync(second.Task).AsTask();
        };

        // Off the test's synchronization context, so that the reply's continuation runs inline, inside the timer's callback.
        await Task.Run(time.FireTimer);

        Assert.Equal("first", await firstAnswer);
        Assert.NotNull(secondAnswer);
        Assert.False(secondAnswer.IsCompleted, "the first use's timer answered the second use");
        second.SetResult("second");
        Assert.Equal("second", await secondAnswer);
    }

    [Fact]
    public async Task ReplyAlreadyThere_AnsweredWithoutWaiting()
    {
        using var waits = new RedisReplyWaits<string>(new FakeTimeProvider(), Timeout);
        var answered = waits.WaitAsync(Task.FromResult("there"));
        Assert.True(answered.IsCompletedSuccessfully);
        Assert.Equal("there", await answered);
    }

    /// <summary>A clock that moves only when told, and one timer whose callback the test runs when it chooses.</summary>
    private sealed class HeldTimeProvider : TimeProvider
    {
        private long _now;
        private TimerCallback? _callback;
        private object? _state;
        private bool _inTimer;

        /// <summary>Runs once, the first time the timer's callback reads the clock.</summary>
        public Action? WhileTimerReadsTheClock { get; set; }

        public override long TimestampFrequency => TimeSpan.TicksPerSecond;

        public void Advance(TimeSpan by) => _now += by.Ticks;

        public override long GetTimestamp()
        {
            if (_inTimer && WhileTimerReadsTheClock is { } action)
            {
                WhileTimerReadsTheClock = null;
                action();
            }

            return _now;
        }

        public void FireTimer()
        {
            _inTimer = true;
            try
            {
                _callback!(_state);
            }
            finally
            {
                _inTimer = false;
            }
        }

        public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
        {
            _callback = callback;
            _state = state;
            return new HeldTimer();
        }

        private sealed class HeldTimer : ITimer
        {
            public bool Change(TimeSpan dueTime, TimeSpan period) => true;

            public void Dispose()
            {
            }

            public ValueTask DisposeAsync() => ValueTask.CompletedTask;
        }
    }

    private sealed class Lease : IDisposable
    {
        public TaskCompletionSource<bool> Disposed { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public void Dispose() => Disposed.TrySetResult(true);
    }
}
