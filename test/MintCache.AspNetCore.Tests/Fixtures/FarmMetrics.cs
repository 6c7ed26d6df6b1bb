namespace MintCache.AspNetCore.Tests.Fixtures;

/// <summary>The MintCache instruments of every host of a farm, summed: what the farm did as a whole.</summary>
internal sealed class FarmMetrics(HostFarm farm) : IDisposable
{
    private readonly MintMetrics[] _hosts = [.. farm.Hosts.Select(h => new MintMetrics(h.Services))];

    public long Started(string mode) => _hosts.Sum(h => h.Started(mode));

    public long Lookup(string result, string state) => _hosts.Sum(h => h.Lookup(result, state));

    public long Claim(string result) => _hosts.Sum(h => h.Claim(result));

    public string Describe() => string.Join(" | ", _hosts.Select(h => h.Describe()));

    public void Dispose()
    {
        foreach (var host in _hosts)
        {
            host.Dispose();
        }
    }
}
