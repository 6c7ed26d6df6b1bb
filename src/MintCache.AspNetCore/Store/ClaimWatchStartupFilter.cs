using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;

namespace MintCache.AspNetCore.Store;

/// <summary>Puts <see cref="ClaimWatchMiddleware"/> in front of the application's pipeline, whatever the app's order.</summary>
internal sealed class ClaimWatchStartupFilter : IStartupFilter
{
    public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
    {
        app.UseMiddleware<ClaimWatchMiddleware>();
        next(app);
    };
}
