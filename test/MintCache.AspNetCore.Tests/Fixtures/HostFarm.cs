using Microsoft.Extensions.DependencyInjection;

namespace MintCache.AspNetCore.Tests.Fixtures;

/// <summary>
/// Hosts of one app sharing one backend, as the processes of a farm do: what the host suites written once for every
/// backend run on. Each host is a <see cref="TestApp"/> (its own middleware, store and logs); the gated page, and every
/// instance the setup registers, is one object shared by all hosts, so its counts are farm-wide.
/// </summary>
internal abstract class HostFarm : IAsyncDisposable
{
    /// <summary>How long a farm-wide wait may take before the test fails instead of hanging.</summary>
    public static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    private readonly List<TestApp> _hosts = [];

    protected HostFarm(TimeSpan fresh) => Fresh = fresh;

    public IReadOnlyList<TestApp> Hosts => _hosts;

    public TestApp A => _hosts[0];

    public TestApp B => _hosts[1];

    /// <summary>The gated page behind <c>/page</c> and <c>/mvc/page</c>, shared by every host.</summary>
    public GatedPage Page => A.Page;

    /// <summary>How long <c>/page</c> stays fresh; the suites map their own pages with it too.</summary>
    public TimeSpan Fresh { get; }

    /// <summary>
    /// Whether every decision is taken in this process on a clock only the test moves (the memory farm): the lookup
    /// that wins a claim is the one that renders, and nothing goes stale between two lines of a test, so a test may
    /// assert each answer in order. On Redis the server's clock runs on its own, and a lookup that wins a claim may be
    /// served the stale page and hand its miss to the host's next lookup: there a test asserts what holds eventually.
    /// </summary>
    public abstract bool IsExact { get; }

    /// <summary>How many records of <paramref name="eventName"/> the hosts logged, all together.</summary>
    public int this[string eventName] => _hosts.Sum(h => h.Logs[eventName]);

    /// <summary>Lets at least <paramref name="duration"/> pass on the clock the backend decides on.</summary>
    public abstract Task PassAsync(TimeSpan duration);

    /// <summary>Lets every page stored so far (with <see cref="Fresh"/>) go stale.</summary>
    public Task GoStaleAsync() => PassAsync(Fresh);

    /// <summary>Polls <paramref name="condition"/> until it holds, or fails the test after <see cref="Deadline"/>.</summary>
    public Task<TimeSpan> WaitUntilAsync(Func<bool> condition, string what) => Eventually.HoldsAsync(condition, Deadline, what);

    /// <inheritdoc cref="WaitUntilAsync(Func{bool}, string)"/>
    public Task<TimeSpan> WaitUntilAsync(Func<Task<bool>> condition, string what) => Eventually.HoldsAsync(condition, Deadline, what);

    public IMintCache Mint(TestApp host) => host.Services.GetRequiredService<IMintCache>();

    /// <summary>The shared instance of <typeparamref name="T"/> (a page the setup registered).</summary>
    public T Shared<T>()
        where T : notnull
        => A.Services.GetRequiredService<T>();

    public async ValueTask DisposeAsync()
    {
        // The later hosts first: on memory, the first host's container owns the backend the others borrow.
        for (var i = _hosts.Count - 1; i >= 0; i--)
        {
            await _hosts[i].DisposeAsync();
        }
    }

    protected async Task StartHostsAsync(FarmSetup setup, Func<int, Task<TestApp>> startHost)
    {
        try
        {
            for (var i = 0; i < setup.Hosts; i++)
            {
                _hosts.Add(await startHost(i));
            }
        }
        catch
        {
            await DisposeAsync();
            throw;
        }
    }
}
