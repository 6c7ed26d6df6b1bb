using System.Collections.Concurrent;
using System.Diagnostics;

namespace MintCache.AspNetCore.Tests.Fixtures;

/// <summary>
/// A bounded closed loop of clients, each requesting a path from the hosts of a farm in turn until stopped, its
/// request budget is spent or its time is up: a storm a test can keep going across an event, such as a failover.
/// </summary>
/// <remarks>
/// A request that fails (an exception, a status other than 200, a body that is no page) is an error. A request served
/// a page while the endpoint's gate is closed waited for no render: counting those is what makes "held" exact (an
/// error, such as the gate's own timeout, never counts as served).
/// </remarks>
internal sealed class FarmLoad
{
    private readonly RedisHost[] _hosts;
    private readonly GatedEndpoint _endpoint;
    private readonly string _path;
    private readonly ConcurrentQueue<string> _errors = new();
    private readonly ConcurrentQueue<TimeSpan> _durations = new();
    private readonly ConcurrentQueue<string> _slow = new();
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly Task[] _clients;
    private readonly int _budgetPerClient;
    private readonly TimeSpan _maxTime;
    private int _stopped;
    private int _issued;
    private int _completed;
    private int _completedWhileGated;

    private FarmLoad(RedisHost[] hosts, GatedEndpoint endpoint, string path, int clients, int budgetPerClient, TimeSpan maxTime)
    {
        _hosts = hosts;
        _endpoint = endpoint;
        _path = path;
        _budgetPerClient = budgetPerClient;
        _maxTime = maxTime;
        _clients = [.. Enumerable.Range(0, clients).Select(RunClientAsync)];
    }

    /// <summary>Requests started.</summary>
    public int Issued => Volatile.Read(ref _issued);

    /// <summary>Requests answered, with a page or an error.</summary>
    public int Completed => Volatile.Read(ref _completed);

    /// <summary>Requests served a page while the endpoint's gate was closed.</summary>
    public int CompletedWhileGated => Volatile.Read(ref _completedWhileGated);

    public IReadOnlyCollection<string> Errors => _errors;

    /// <summary>For a failing test's output: each request that failed or took <see cref="SlowRequest"/> or longer.</summary>
    public IReadOnlyCollection<string> SlowOrFailed => _slow;

    /// <summary>What <see cref="SlowOrFailed"/> counts as slow.</summary>
    public static TimeSpan SlowRequest { get; } = TimeSpan.FromMilliseconds(300);

    /// <summary>The longest time a request took, of those answered.</summary>
    public TimeSpan Slowest => _durations.DefaultIfEmpty().Max();

    /// <summary>How many answered requests took <paramref name="threshold"/> or longer.</summary>
    public int TookAtLeast(TimeSpan threshold) => _durations.Count(d => d >= threshold);

    /// <summary>Whether every client is done: stopped, out of budget or out of time, with its last request answered.</summary>
    public bool IsDone => _clients.All(c => c.IsCompleted);

    /// <summary>Starts <paramref name="clients"/> clients at once; each spreads its requests over the hosts in turn.</summary>
    public static FarmLoad Start(RedisHost[] hosts, GatedEndpoint endpoint, string path, int clients, int budgetPerClient, TimeSpan maxTime)
        => new(hosts, endpoint, path, clients, budgetPerClient, maxTime);

    /// <summary>No client starts another request; those in flight go on.</summary>
    public void Stop() => Volatile.Write(ref _stopped, 1);

    /// <summary>Waits until every client is done, each one's last request answered, within <paramref name="timeout"/>.</summary>
    public Task DrainAsync(TimeSpan timeout) => Task.WhenAll(_clients).WaitAsync(timeout);

    private async Task RunClientAsync(int client)
    {
        // Off the caller's thread at once: the loop must not run synchronously inside the constructor.
        await Task.Yield();
        for (var i = 0; i < _budgetPerClient && Volatile.Read(ref _stopped) == 0 && _clock.Elapsed < _maxTime; i++)
        {
            var host = _hosts[(client + i) % _hosts.Length];
            Interlocked.Increment(ref _issued);
            var started = Stopwatch.GetTimestamp();
            var served = false;
            try
            {
                using var response = await host.Client.GetAsync(_path);
                var body = await response.Content.ReadAsStringAsync();
                if ((int)response.StatusCode != 200 || !body.StartsWith("page ", StringComparison.Ordinal))
                {
                    _errors.Enqueue($"{(int)response.StatusCode} {body}");
                }
                else
                {
                    served = true;
                }
            }
#pragma warning disable CA1031 // Any exception is an error the test reports, with the others.
            catch (Exception ex)
#pragma warning restore CA1031
            {
                _errors.Enqueue(ex.GetType().Name + ": " + ex.Message);
            }

            // Counted after the answer: a request held behind a render completes only once the gate opens.
            if (served && _endpoint.IsClosed)
            {
                Interlocked.Increment(ref _completedWhileGated);
            }

            var took = Stopwatch.GetElapsedTime(started);
            _durations.Enqueue(took);
            if (!served || took >= SlowRequest)
            {
                _slow.Enqueue($"client {client} on host {(client + i) % _hosts.Length}: began {DateTime.UtcNow - took:HH:mm:ss.fff}, took {took.TotalMilliseconds:F0} ms, served {served}, gate closed {_endpoint.IsClosed}");
            }

            Interlocked.Increment(ref _completed);
        }
    }
}
