using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;

namespace MintCache.AspNetCore.Tests.Fixtures;

/// <summary>A host's log, one record a line, for an assertion's message: a failure that explains itself.</summary>
internal static class LogDigest
{
    public static string Of(FakeLogCollector logs, LogLevel minimum = LogLevel.Information)
        => string.Join(Environment.NewLine, logs.GetSnapshot()
            .Where(r => r.Level >= minimum)
            .Select(r => $"{r.Timestamp:HH:mm:ss.fff} {r.Level} {r.Id.Name}: {r.Message} {r.Exception?.GetType().Name} {r.Exception?.Message}"));
}
