using Microsoft.AspNetCore.OutputCaching;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using Microsoft.Extensions.Time.Testing;
using MintCache.AspNetCore;
using MintCache.AspNetCore.Backends.Memory;
using MintCache.AspNetCore.Store;

namespace MintCache.AspNetCore.Tests.Fixtures;

/// <summary>A MintCache store on the memory backend, built through DI as an app would, on a fake clock.</summary>
internal sealed class StoreHarness : IDisposable
{
    private readonly ServiceProvider _services;

    public StoreHarness(Action<MintCacheOptions>? configure = null, long? sizeLimit = null)
    {
        Time = new FakeTimeProvider(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
        var services = new ServiceCollection();
        services.AddSingleton<TimeProvider>(Time);
        services.AddLogging(b => b.AddFakeLogging().SetMinimumLevel(LogLevel.Debug));
        services.AddOutputCache(o =>
        {
            if (sizeLimit is { } limit)
            {
                o.SizeLimit = limit;
            }
        });
        services.AddMintStore(configure ?? (static _ => { }));
        _services = services.BuildServiceProvider(validateScopes: true);
        Store = (MintOutputCacheStore)_services.GetRequiredService<IOutputCacheStore>();
        Backend = _services.GetRequiredService<MemoryBackend>();
        Logs = _services.GetRequiredService<FakeLogCollector>();
    }

    public FakeTimeProvider Time { get; }

    public MintOutputCacheStore Store { get; }

    public MemoryBackend Backend { get; }

    public FakeLogCollector Logs { get; }

    public T Get<T>()
        where T : notnull
        => _services.GetRequiredService<T>();

    /// <summary>A second store on the same backend: what another process sharing the backend would be.</summary>
    public MintOutputCacheStore NewStoreOnSameBackend()
        => ActivatorUtilities.CreateInstance<MintOutputCacheStore>(_services);

    public void Dispose() => _services.Dispose();
}
