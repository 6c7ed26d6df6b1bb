using StackExchange.Redis;
using StackExchange.Redis.Profiling;

namespace MintCache.AspNetCore.Tests.Fixtures;

/// <summary>The commands a multiplexer sent while a lookup ran, read from StackExchange.Redis's profiler.</summary>
internal static class RedisCommandLog
{
    public static async Task<string[]> CommandsAsync(IConnectionMultiplexer multiplexer, Func<Task> lookup)
    {
        var session = new ProfilingSession();
        multiplexer.RegisterProfiler(() => session);
        await lookup();
        multiplexer.RegisterProfiler(() => null);

        // The clock's own TIME, sent beside a lookup, is no decision.
        return session.FinishProfiling().Select(c => c.Command).Where(c => c != "TIME").ToArray();
    }
}
