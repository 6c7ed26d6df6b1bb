using System.Buffers;
using Microsoft.AspNetCore.OutputCaching;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using MintCache.AspNetCore.Store;

namespace MintCache.AspNetCore.Tests.Fixtures;

/// <summary>
/// The MintCache store as the middleware sees it, except that the answer of one chosen lookup is held until the test
/// releases it: the middleware then acts on an answer the store gave earlier, as it does when the thread carrying that
/// answer is preempted under load.
/// </summary>
internal sealed class HeldAnswerStore(MintOutputCacheStore inner, int heldCall) : IOutputCacheBufferStore
{
    private readonly TaskCompletionSource _release = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _answered = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _calls;

    /// <summary>Whether the store answered the held lookup (the middleware has not seen the answer yet).</summary>
    public bool HeldAnswered => _answered.Task.IsCompleted;

    /// <summary>Replaces the app's <see cref="IOutputCacheStore"/> with one that holds the answer of its <paramref name="heldCall"/>-th lookup.</summary>
    public static void Decorate(IServiceCollection services, int heldCall)
    {
        services.RemoveAll<IOutputCacheStore>();
        services.AddSingleton<IOutputCacheStore>(sp => new HeldAnswerStore(sp.GetRequiredService<MintOutputCacheStore>(), heldCall));
    }

    /// <summary>Lets the held answer reach the middleware.</summary>
    public void Release() => _release.TrySetResult();

    public async ValueTask<byte[]?> GetAsync(string key, CancellationToken cancellationToken)
    {
        var call = Interlocked.Increment(ref _calls);
        var answer = await inner.GetAsync(key, cancellationToken);
        if (call == heldCall)
        {
            _answered.TrySetResult();

            // Bounded: a test that never releases fails instead of hanging.
            await _release.Task.WaitAsync(TimeSpan.FromSeconds(30), cancellationToken);
        }

        return answer;
    }

    public ValueTask<bool> TryGetAsync(string key, System.IO.Pipelines.PipeWriter destination, CancellationToken cancellationToken)
        => throw new NotSupportedException("The middleware reads through GetAsync (design.md §3).");

    public ValueTask SetAsync(string key, byte[] value, string[]? tags, TimeSpan validFor, CancellationToken cancellationToken)
        => inner.SetAsync(key, value, tags, validFor, cancellationToken);

    public ValueTask SetAsync(string key, ReadOnlySequence<byte> value, ReadOnlyMemory<string> tags, TimeSpan validFor, CancellationToken cancellationToken)
        => inner.SetAsync(key, value, tags, validFor, cancellationToken);

    public ValueTask EvictByTagAsync(string tag, CancellationToken cancellationToken)
        => inner.EvictByTagAsync(tag, cancellationToken);
}
