using System.Diagnostics;
using Microsoft.Extensions.Logging.Testing;

namespace MintCache.AspNetCore.Tests.Fixtures;

/// <summary>
/// The log records of a host, in a <see cref="FakeLogCollector"/>, counted by event name, with a wait, under a
/// deadline, until the counts satisfy a condition: a signal from the code under test rather than a guess at its timing.
/// </summary>
/// <remarks>
/// The code under test logs inside the windows the storm tests measure (a claim taken while the middleware shares a
/// lookup), so a logging thread only swaps in a new signal: conditions are evaluated on the waiting test's thread.
/// </remarks>
internal sealed class LogEvents
{
    private TaskCompletionSource _logged = NewSignal();

    public LogEvents()
        => Collector = FakeLogCollector.Create(new FakeLogCollectorOptions
        {
            OutputFormatter = static _ => string.Empty,
            OutputSink = _ => Interlocked.Exchange(ref _logged, NewSignal()).TrySetResult(),
        });

    public FakeLogCollector Collector { get; }

    /// <summary>How many records of <paramref name="eventName"/> were logged since the start or the last <see cref="Reset"/>.</summary>
    public int this[string eventName] => Count().Of(eventName);

    public void Reset() => Collector.Clear();

    public async Task WaitUntilAsync(Func<Counts, bool> condition, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            // The signal before the counts: a record logged while they are counted completes it.
            var logged = Volatile.Read(ref _logged).Task;
            var counts = Count();
            if (condition(counts))
            {
                return;
            }

            var left = timeout - clock.Elapsed;
            if (left > TimeSpan.Zero)
            {
                try
                {
                    await logged.WaitAsync(left);
                    continue;
                }
                catch (TimeoutException)
                {
                    // Past the deadline: one last count below.
                }
            }

            counts = Count();
            if (condition(counts))
            {
                return;
            }

            throw new TimeoutException($"Log counts never met the condition; seen: {counts}");
        }
    }

    private Counts Count()
    {
        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var record in Collector.GetSnapshot())
        {
            if (record.Id.Name is { Length: > 0 } name)
            {
                counts[name] = counts.GetValueOrDefault(name) + 1;
            }
        }

        return new Counts(counts);
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Counts of log events by name, at one moment.</summary>
    internal sealed class Counts(Dictionary<string, int> counts)
    {
        public int this[string eventName] => Of(eventName);

        public int Of(string eventName) => counts.GetValueOrDefault(eventName);

        public override string ToString() => string.Join(", ", counts.Select(c => $"{c.Key}={c.Value}"));
    }
}
