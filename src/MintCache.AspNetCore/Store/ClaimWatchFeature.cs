namespace MintCache.AspNetCore.Store;

/// <summary>
/// The refresh claims that lookups of one request won and answered "miss" for: if the request ends and a claim
/// was not stored under, the regeneration failed.
/// </summary>
internal sealed class ClaimWatchFeature
{
    private readonly List<(string Key, LocalClaim Claim)> _claims = new(1);

    public void Add(string key, LocalClaim claim)
    {
        lock (_claims)
        {
            _claims.Add((key, claim));
        }
    }

    public (string Key, LocalClaim Claim)[] TakeAll()
    {
        lock (_claims)
        {
            var all = _claims.ToArray();
            _claims.Clear();
            return all;
        }
    }
}
