using MintCache.AspNetCore.Diagnostics;

namespace MintCache.AspNetCore.Store;

/// <summary>
/// Clears, hard and soft: one stamp in the backend, checked when an entry is read, so the cost does not grow with the
/// number of pages, and the stores of regenerations that began before it are refused (evictions win).
/// </summary>
internal sealed partial class MintOutputCacheStore
{
    public ValueTask ClearAsync(CancellationToken cancellationToken = default)
        => ClearAsync(soft: false, cancellationToken);

    public ValueTask MarkAllStaleAsync(CancellationToken cancellationToken = default)
        => ClearAsync(soft: true, cancellationToken);

    private async ValueTask ClearAsync(bool soft, CancellationToken cancellationToken)
    {
        try
        {
            await _backend.ClearAsync(soft, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // Thrown on, as a failed tag eviction is: the caller must learn that the clear did not happen everywhere.
            Log.ClearFailed(_logger, _backend.Name, ex);
            throw;
        }

        Log.Cleared(_logger, _backend.Name, soft ? "soft" : "hard", soft ? "regenerated once" : "rendered anew");
    }
}
