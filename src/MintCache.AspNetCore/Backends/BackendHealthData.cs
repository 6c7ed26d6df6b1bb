namespace MintCache.AspNetCore.Backends;

/// <summary>The keys of a backend's health data, the same for every backend so dashboards can rely on them.</summary>
internal static class BackendHealthData
{
    /// <summary>The backend's short name (<see cref="IMintBackend.Name"/>).</summary>
    public const string Backend = "backend";

    /// <summary>Whether the shared backend answers (<see langword="bool"/>).</summary>
    public const string Reachable = "reachable";

    /// <summary>The circuit breaker's state: <c>closed</c>, <c>open</c>, <c>half-open</c> or <c>isolated</c>.</summary>
    public const string Circuit = "circuit";

    /// <summary>Whether this process serves from its local in-memory fallback (<see langword="bool"/>).</summary>
    public const string FallbackActive = "fallbackActive";

    /// <summary>The shared backend's eviction policy (Redis <c>maxmemory-policy</c>), when it could be read.</summary>
    public const string MemoryPolicy = "memoryPolicy";
}
