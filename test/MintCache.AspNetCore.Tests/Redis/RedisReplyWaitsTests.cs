using Microsoft.Extensions.Time.Testing;
using MintCache.AspNetCore.Backends.Redis;
using Polly.Timeout;

namespace MintCache.AspNetCore.Tests.Redis;

/// <summary>
/// The hit path's own wait for a Redis reply: the reply, or a timeout on the backend's clock, or the caller's
/// cancellation, whichever comes first; and a pooled wait never lets a late reply or an old timer reach its next caller.
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
            var waiting = waits.WaitAsync(reply.Task, default).AsTask();
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
        var waiting = waits.WaitAsync(reply.Task, default).AsTask();

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
        var waiting = waits.WaitAsync(reply.Task, default).AsTask();

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
        var waiting = waits.WaitAsync(first.Task, default).AsTask();
        time.Advance(Timeout);
        await Assert.ThrowsAsync<TimeoutRejectedException>(() => waiting);
        var late = new Lease();
        first.SetResult(late);
        await late.Disposed.Task.WaitAsync(TimeSpan.FromSeconds(30));

        // The next wait (the same pooled one) starts its own timeout: half of it passing is no timeout.
        var second = new TaskCompletionSource<Lease?>(TaskCreationOptions.RunContinuationsAsynchronously);
        var waitingAgain = waits.WaitAsync(second.Task, default).AsTask();
        time.Advance(Timeout / 2);
        Assert.False(waitingAgain.IsCompleted);

        var answer = new Lease();
        second.SetResult(answer);
        Assert.Same(answer, await waitingAgain);
        Assert.False(answer.Disposed.Task.IsCompleted);
    }

    [Fact]
    public async Task CallerGivesUp_Canceled_NotTimedOut()
    {
        var time = new FakeTimeProvider();
        using var waits = new RedisReplyWaits<string>(time, Timeout);
        using var giveUp = new CancellationTokenSource();
        var reply = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var waiting = waits.WaitAsync(reply.Task, giveUp.Token).AsTask();

        await giveUp.CancelAsync();
        var canceled = await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting);
        Assert.Equal(giveUp.Token, canceled.CancellationToken);

        // Neither the reply nor the timer answers it a second time.
        reply.SetResult("too late");
        time.Advance(Timeout);
        Assert.True(waiting.IsCanceled);
    }

    [Fact]
    public async Task CallerGaveUpBeforeTheWait_Canceled_AndTheWaitServesTheNextCallerWhole()
    {
        var time = new FakeTimeProvider();
        using var waits = new RedisReplyWaits<string>(time, Timeout);
        using var gaveUp = new CancellationTokenSource();
        await gaveUp.CancelAsync();
        var first = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waits.WaitAsync(first.Task, gaveUp.Token).AsTask());
        first.SetResult("nobody reads this");

        // The next caller (the same pooled wait, once its reply is in) is answered by its own reply only.
        var second = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var waiting = waits.WaitAsync(second.Task, default).AsTask();
        time.Advance(Timeout / 2);
        Assert.False(waiting.IsCompleted);
        second.SetResult("answer");
        Assert.Equal("answer", await waiting);
    }

    [Fact]
    public async Task ReplyAlreadyThere_AnsweredWithoutWaiting()
    {
        using var waits = new RedisReplyWaits<string>(new FakeTimeProvider(), Timeout);
        var answered = waits.WaitAsync(Task.FromResult("there"), default);
        Assert.True(answered.IsCompletedSuccessfully);
        Assert.Equal("there", await answered);
    }

    private sealed class Lease : IDisposable
    {
        public TaskCompletionSource<bool> Disposed { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public void Dispose() => Disposed.TrySetResult(true);
    }
}
