using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace MintCache.AspNetCore.Tests.Fixtures;

/// <summary>
/// Counts log events by name, and lets a test wait, with a deadline, until the counts satisfy a condition: a signal
/// from the code under test rather than a guess at how long it takes.
/// </summary>
internal sealed class LogCounter : ILoggerProvider
{
    private readonly ConcurrentDictionary<string, int> _counts = new(StringComparer.Ordinal);
    private readonly List<(Func<LogCounter, bool> Condition, TaskCompletionSource Done)> _waiters = [];
    private readonly Lock _lock = new();
    private int _waiterCount;
    private int _checking;
    private int _recheck;

    public int this[string eventName] => _counts.TryGetValue(eventName, out var count) ? count : 0;

    public void Reset() => _counts.Clear();

    public async Task WaitUntilAsync(Func<LogCounter, bool> condition, TimeSpan timeout)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_lock)
        {
            _waiters.Add((condition, done));
            Volatile.Write(ref _waiterCount, _waiters.Count);
        }

        Check();
        try
        {
            await done.Task.WaitAsync(timeout);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"Log counts never met the condition; seen: {string.Join(", ", _counts.Select(c => $"{c.Key}={c.Value}"))}");
        }
    }

    public ILogger CreateLogger(string categoryName) => new CountingLogger(this);

    public void Dispose()
    {
    }

    private void Record(EventId eventId)
    {
        if (string.IsNullOrEmpty(eventId.Name))
        {
            return;
        }

        _counts.AddOrUpdate(eventId.Name, 1, static (_, count) => count + 1);
        if (Volatile.Read(ref _waiterCount) > 0)
        {
            Check();
        }
    }

    /// <summary>
    /// Evaluates the waiters' conditions. The code under test logs from inside the windows the tests measure (a
    /// claim taken while the middleware shares a lookup), so a logging thread must never queue behind another: one
    /// thread checks at a time, and a thread that finds it busy asks it to check once more instead of waiting.
    /// </summary>
    private void Check()
    {
        Volatile.Write(ref _recheck, 1);
        while (Volatile.Read(ref _recheck) == 1 && Interlocked.CompareExchange(ref _checking, 1, 0) == 0)
        {
            Volatile.Write(ref _recheck, 0);
            lock (_lock)
            {
                for (var i = _waiters.Count - 1; i >= 0; i--)
                {
                    if (_waiters[i].Condition(this))
                    {
                        _waiters[i].Done.TrySetResult();
                        _waiters.RemoveAt(i);
                    }
                }

                Volatile.Write(ref _waiterCount, _waiters.Count);
            }

            // A full fence, so that the re-check flag read next cannot be one from before this release.
            Interlocked.Exchange(ref _checking, 0);
        }
    }

    private sealed class CountingLogger(LogCounter owner) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            => owner.Record(eventId);
    }
}
