using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using MintCache.AspNetCore.Backends.Memory;

namespace MintCache.AspNetCore.Tests.Fixtures;

/// <summary>Hosts in this process sharing one memory backend and one fake clock, which only the test moves.</summary>
internal sealed class MemoryFarm : HostFarm
{
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));

    private MemoryFarm(TimeSpan fresh)
        : base(fresh)
    {
    }

    public override bool IsExact => true;

    public FakeTimeProvider Time => _time;

    public static async Task<MemoryFarm> StartAsync(FarmSetup setup)
    {
        var farm = new MemoryFarm(setup.Fresh ?? TestApp.Fresh);
        var page = new GatedPage();
        MemoryBackend? shared = null;
        await farm.StartHostsAsync(setup, async _ =>
        {
            var host = await TestApp.StartAsync(
                setup.ConfigureMint,
                setup.PagePolicy,
                services =>
                {
                    services.AddSingleton(page);
                    if (shared is not null)
                    {
                        // Registered last, so it wins; an instance, so only the first host's container disposes it.
                        services.AddSingleton(shared);
                    }

                    setup.ConfigureServices?.Invoke(services);
                },
                farm._time,
                app => setup.MapMore?.Invoke(app, farm.Fresh),
                fresh: farm.Fresh);
            shared ??= host.Services.GetRequiredService<MemoryBackend>();
            return host;
        });
        return farm;
    }

    public override Task PassAsync(TimeSpan duration)
    {
        _time.Advance(duration);
        return Task.CompletedTask;
    }
}
