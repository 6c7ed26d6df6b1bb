using System.Reflection;
using StackExchange.Redis;

namespace MintCache.AspNetCore.Tests.Fixtures;

/// <summary>
/// An interface with nothing behind it (an <see cref="IConnectionMultiplexer"/> with no server), for unit tests of
/// pieces that ask it only a few things: each call is recorded by member name and answered by <see cref="Answer"/>,
/// which by default throws as an unreachable server does.
/// </summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Performance", "CA1852", Justification = "DispatchProxy derives its proxy type from this one at run time.")]
internal class StubProxy : DispatchProxy
{
    private readonly List<string> _calls = [];

    public Func<string, object?[], object?> Answer { get; set; } = static (name, _) => throw new RedisConnectionException(ConnectionFailureType.UnableToConnect, name);

    public IReadOnlyList<string> Calls
    {
        get
        {
            lock (_calls)
            {
                return [.. _calls];
            }
        }
    }

    public static (T Proxy, StubProxy Stub) Create<T>(Func<string, object?[], object?>? answer = null)
        where T : class
    {
        var proxy = Create<T, StubProxy>();
        var stub = (StubProxy)(object)proxy;
        if (answer is not null)
        {
            stub.Answer = answer;
        }

        return (proxy, stub);
    }

    protected override object? Invoke(MethodInfo? targetMethod, object?[]? args)
    {
        ArgumentNullException.ThrowIfNull(targetMethod);
        lock (_calls)
        {
            _calls.Add(targetMethod.Name);
        }

        return Answer(targetMethod.Name, args ?? []);
    }
}
