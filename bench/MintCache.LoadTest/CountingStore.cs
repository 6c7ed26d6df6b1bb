using System.Buffers;
using System.IO.Pipelines;
using Microsoft.AspNetCore.OutputCaching;
using Microsoft.Extensions.DependencyInjection;

namespace MintCache.LoadTest;

/// <summary>
/// Counts the store lookups the middleware makes, to show how widely it shares one lookup among concurrent requests
/// (design.md §3). It forwards everything, and implements <see cref="IOutputCacheBufferStore"/> exactly when the
/// store it wraps does, so that the middleware takes the same write path.
/// </summary>
internal class CountingStore(IOutputCacheStore inner, ServerStats stats) : IOutputCacheStore
{
    protected IOutputCacheStore Inner { get; } = inner;

    public static void Decorate(IServiceCollection services)
    {
        var original = services.Last(static d => d.ServiceType == typeof(IOutputCacheStore));
        services.Remove(original);
        services.AddSingleton<IOutputCacheStore>(sp =>
        {
            var inner = (IOutputCacheStore)(original.ImplementationInstance
                ?? original.ImplementationFactory?.Invoke(sp)
                ?? ActivatorUtilities.CreateInstance(sp, original.ImplementationType!));
            var stats = sp.GetRequiredService<ServerStats>();
            return inner is IOutputCacheBufferStore ? new CountingBufferStore(inner, stats) : new CountingStore(inner, stats);
        });
    }

    public ValueTask<byte[]?> GetAsync(string key, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref stats.Lookups);
        return Inner.GetAsync(key, cancellationToken);
    }

    public ValueTask SetAsync(string key, byte[] value, string[]? tags, TimeSpan validFor, CancellationToken cancellationToken)
        => Inner.SetAsync(key, value, tags, validFor, cancellationToken);

    public ValueTask EvictByTagAsync(string tag, CancellationToken cancellationToken)
        => Inner.EvictByTagAsync(tag, cancellationToken);

    private sealed class CountingBufferStore(IOutputCacheStore inner, ServerStats stats) : CountingStore(inner, stats), IOutputCacheBufferStore
    {
        public ValueTask<bool> TryGetAsync(string key, PipeWriter destination, CancellationToken cancellationToken)
            => ((IOutputCacheBufferStore)Inner).TryGetAsync(key, destination, cancellationToken);

        public ValueTask SetAsync(string key, ReadOnlySequence<byte> value, ReadOnlyMemory<string> tags, TimeSpan validFor, CancellationToken cancellationToken)
            => ((IOutputCacheBufferStore)Inner).SetAsync(key, value, tags, validFor, cancellationToken);
    }
}
