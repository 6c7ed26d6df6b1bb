using Polly;
using Polly.CircuitBreaker;
using Polly.Timeout;

namespace MintCache.AspNetCore.Backends.Redis;

/// <summary>Builds the one <see cref="ResiliencePipeline"/> every Redis call of a backend runs through.</summary>
internal static class RedisResilience
{
    /// <summary>
    /// A circuit breaker around a timeout: a call slower than <see cref="MintRedisOptions.OperationTimeout"/>
    /// fails (and counts as a failure), and when failures pass <see cref="MintRedisOptions.FailureRatio"/> the
    /// breaker opens for <see cref="MintRedisOptions.BreakDuration"/>, during which the backend does not ask Redis
    /// at all and answers from local memory.
    /// </summary>
    /// <remarks>
    /// The caller's cancellation is not a Redis failure: it never counts towards opening the breaker. The backend closes
    /// the breaker itself, through <paramref name="manualControl"/>, as soon as a ping shows Redis answers again.
    /// </remarks>
    public static ResiliencePipeline Build(
        MintCacheOptions options,
        TimeProvider timeProvider,
        CircuitBreakerStateProvider stateProvider,
        CircuitBreakerManualControl manualControl,
        Func<OnCircuitOpenedArguments<object>, ValueTask> onOpened)
    {
        var builder = new ResiliencePipelineBuilder { TimeProvider = timeProvider };
        builder.AddCircuitBreaker(new CircuitBreakerStrategyOptions
        {
            FailureRatio = options.Redis.FailureRatio,
            MinimumThroughput = options.Redis.MinimumThroughput,
            SamplingDuration = MintCacheConstants.RedisSamplingDuration,
            BreakDuration = options.Redis.BreakDuration,
            StateProvider = stateProvider,
            ManualControl = manualControl,
            ShouldHandle = static args => ValueTask.FromResult(args.Outcome.Exception is { } ex && ex is not OperationCanceledException),
            OnOpened = onOpened,
        });
        builder.AddTimeout(new TimeoutStrategyOptions { Timeout = options.Redis.OperationTimeout });
        return builder.Build();
    }
}
