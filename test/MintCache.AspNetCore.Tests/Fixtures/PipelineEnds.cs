using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;

namespace MintCache.AspNetCore.Tests.Fixtures;

/// <summary>
/// Counts the requests whose pipeline has ended, seen from just outside the output-cache middleware: once a request
/// is counted, the middleware is done with it, its execution lock on the key included.
/// </summary>
internal sealed class PipelineEnds : IStartupFilter
{
    private int _ended;

    public int Ended => Volatile.Read(ref _ended);

    /// <summary>Adds the counter to the host's services; resolve it with <c>GetRequiredService&lt;PipelineEnds&gt;()</c>.</summary>
    public static void Register(IServiceCollection services)
    {
        services.AddSingleton<PipelineEnds>();
        services.AddTransient<IStartupFilter>(sp => sp.GetRequiredService<PipelineEnds>());
    }

    public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
    {
        app.Use(async (context, pipeline) =>
        {
            try
            {
                await pipeline(context);
            }
            finally
            {
                Interlocked.Increment(ref _ended);
            }
        });
        next(app);
    };
}
