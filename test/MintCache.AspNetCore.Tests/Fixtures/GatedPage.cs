namespace MintCache.AspNetCore.Tests.Fixtures;

/// <summary>
/// An endpoint body whose first execution renders at once and whose later executions (the regenerations) wait for
/// the test to open a gate, so a test can hold a regeneration in flight for as long as it asserts.
/// </summary>
public sealed class GatedPage
{
    private readonly TaskCompletionSource _gate = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _regenerationStarted = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _executions;

    public int Executions => Volatile.Read(ref _executions);

    public bool IsGateOpen => _gate.Task.IsCompleted;

    /// <summary>How many executions render at once before the gate holds the rest; by default the first one.</summary>
    public int UngatedExecutions { get; set; } = 1;

    /// <summary>What a regeneration does once the gate opens; by default it renders the next version.</summary>
    public RegenerationOutcome Outcome { get; set; } = RegenerationOutcome.Render;

    public Task RegenerationStarted => _regenerationStarted.Task;

    /// <summary>The Cookie and Authorization headers each execution saw, in order.</summary>
    public System.Collections.Concurrent.ConcurrentQueue<string> SeenCredentials { get; } = new();

    /// <summary>Whether each execution was a background regeneration, in order.</summary>
    public System.Collections.Concurrent.ConcurrentQueue<bool> SeenRegenerationFlags { get; } = new();

    public void OpenGate() => _gate.TrySetResult();

    /// <summary>Runs one execution: the status code and body to answer with.</summary>
    public async Task<(int Status, string Body)> RenderAsync(CancellationToken requestAborted, string? credentials = null, bool isRegeneration = false)
    {
        SeenCredentials.Enqueue(credentials ?? string.Empty);
        SeenRegenerationFlags.Enqueue(isRegeneration);
        var execution = Interlocked.Increment(ref _executions);
        if (execution > UngatedExecutions)
        {
            _regenerationStarted.TrySetResult();
            await _gate.Task.WaitAsync(requestAborted);
            switch (Outcome)
            {
                case RegenerationOutcome.Throw:
                    throw new InvalidOperationException("The origin failed.");
                case RegenerationOutcome.ServerError:
                    return (500, "origin error");
            }
        }

        return (200, $"v{execution}");
    }
}

public enum RegenerationOutcome
{
    Render,
    Throw,
    ServerError,
}
