using System.Collections.Concurrent;

namespace WebDemo;

/// <summary>Counts endpoint executions per path, so a storm shows how many regenerations it caused.</summary>
public sealed class DemoStats
{
    private readonly ConcurrentDictionary<string, int> _executions = new(StringComparer.Ordinal);

    /// <summary>Counts one execution of <paramref name="path"/> and returns its number.</summary>
    public int BeginExecution(string path) => _executions.AddOrUpdate(path, 1, static (_, count) => count + 1);

    /// <summary>The executions so far, per path.</summary>
    public IReadOnlyDictionary<string, int> Snapshot() => new SortedDictionary<string, int>(_executions, StringComparer.Ordinal);

    /// <summary>Forgets every count.</summary>
    public void Reset() => _executions.Clear();
}
