using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.OutputCaching;
using Microsoft.Extensions.DependencyInjection;

namespace MintCache.AspNetCore.Tests.Fixtures;

/// <summary>
/// <c>GET /products/{id}</c>, cached for a minute under the output cache's default policy (which varies by every query
/// string): answers "{id} {n}" for the n-th execution of any product, and writes <see cref="TagsOf"/>'s value as the
/// response tag header (<c>Surrogate-Key</c>).
/// </summary>
internal sealed class ProductPages
{
    public static readonly TimeSpan Fresh = TimeSpan.FromMinutes(1);

    private int _executions;

    public int Executions => Volatile.Read(ref _executions);

    /// <summary>The <c>Surrogate-Key</c> value a product's page is rendered with; <c>"product-{id} list"</c> unless a test says otherwise.</summary>
    public Func<string, string?> TagsOf { get; set; } = static id => $"product-{id} list";

    /// <summary>Maps the page on a host, with <paramref name="policy"/> added to its output-cache policy.</summary>
    public void Map(WebApplication app, Action<OutputCachePolicyBuilder>? policy = null)
        => app.MapGet("/products/{id}", (string id, HttpContext context) =>
        {
            var execution = Interlocked.Increment(ref _executions);
            if (TagsOf(id) is { } tags)
            {
                context.Response.Headers["Surrogate-Key"] = tags;
            }

            return Results.Text($"{id} {execution}");
        }).CacheOutput((OutputCachePolicyBuilder p) =>
        {
            p.Expire(Fresh);
            policy?.Invoke(p);
        });
}
