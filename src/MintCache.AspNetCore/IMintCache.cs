namespace MintCache.AspNetCore;

/// <summary>
/// Tag operations of the MintCache store beyond <see cref="Microsoft.AspNetCore.OutputCaching.IOutputCacheStore"/>.
/// Resolve it from dependency injection after <c>AddMintStore()</c>.
/// </summary>
public interface IMintCache
{
    /// <summary>
    /// Removes every entry that carries <paramref name="tag"/>, as
    /// <see cref="Microsoft.AspNetCore.OutputCaching.IOutputCacheStore.EvictByTagAsync"/> does. The next requests for
    /// those pages miss; the middleware collapses them per process.
    /// </summary>
    /// <param name="tag">The tag to evict.</param>
    /// <param name="cancellationToken">Indicates that the operation should be cancelled.</param>
    /// <returns>A task that completes when the entries are gone.</returns>
    ValueTask EvictByTagAsync(string tag, CancellationToken cancellationToken = default);

    /// <summary>
    /// Marks every entry that carries <paramref name="tag"/> stale without removing it (a <em>soft</em> eviction):
    /// the next lookup of each page regenerates it while every other lookup is still served the old page, so a
    /// popular tag is refreshed by one request per page instead of a stampede.
    /// </summary>
    /// <param name="tag">The tag to mark stale.</param>
    /// <param name="cancellationToken">Indicates that the operation should be cancelled.</param>
    /// <returns>A task that completes when the entries are marked.</returns>
    /// <remarks>
    /// A marked entry keeps its expiry: it is served stale for at most the grace it had left, never longer.
    /// </remarks>
    ValueTask MarkStaleByTagAsync(string tag, CancellationToken cancellationToken = default);
}
