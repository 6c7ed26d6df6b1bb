using System.Collections.Concurrent;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.OutputCaching;
using Microsoft.Extensions.DependencyInjection;

namespace MintCache.AspNetCore.Tests.Fixtures;

/// <summary>
/// <c>GET /pages/{id}</c>, cached for a minute: answers "{id} {n}" for the n-th execution of that page, counts the
/// executions of each page, and while <see cref="Close"/>d holds every execution at a gate until <see cref="Open"/>.
/// One instance may serve several hosts, as one origin serves a farm.
/// </summary>
internal sealed class GatedPages
{
    private static readonly TimeSpan GateTimeout = TimeSpan.FromSeconds(60);

    private readonly ConcurrentDictionary<int, int> _executions = new();
    private TaskCompletionSource _gate = NewGate(open: true);
    private int _waiting;

    /// <summary>How many executions wait at the closed gate now.</summary>
    public int Waiting => Volatile.Read(ref _waiting);

    public bool IsClosed => !Volatile.Read(ref _gate).Task.IsCompleted;

    public int ExecutionsOf(int id) => _executions.GetValueOrDefault(id);

    public int TotalExecutions => _executions.Values.Sum();

    public void Close() => Volatile.Write(ref _gate, NewGate(open: false));

    public void Open() => Volatile.Read(ref _gate).TrySetResult();

    public void Map(WebApplication app)
        => app.MapGet("/pages/{id:int}", async (int id, HttpContext context) =>
        {
            var execution = _executions.AddOrUpdate(id, 1, static (_, n) => n + 1);
            Interlocked.Increment(ref _waiting);
            try
            {
                // Bounded: a bug that never opens the gate fails the test instead of hanging it.
                await Volatile.Read(ref _gate).Task.WaitAsync(GateTimeout, context.RequestAborted);
            }
            finally
            {
                Interlocked.Decrement(ref _waiting);
            }

            return Results.Text($"{id} {execution}");
        }).CacheOutput((OutputCachePolicyBuilder p) => p.Expire(TimeSpan.FromMinutes(1)));

    private static TaskCompletionSource NewGate(bool open)
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        if (open)
        {
            gate.SetResult();
        }

        return gate;
    }
}
