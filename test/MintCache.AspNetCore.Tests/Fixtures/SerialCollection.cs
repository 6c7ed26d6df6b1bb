namespace MintCache.AspNetCore.Tests.Fixtures;

/// <summary>
/// Tests that read process-wide state (MintCache's static <c>Meter</c>, a browser, a child process) and must not
/// see other tests' measurements, and the storm tests, whose share served stale depends on the CPU they get: xunit
/// runs this collection alone, after the parallel ones.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class SerialCollection
{
    public const string Name = "Serial";
}
