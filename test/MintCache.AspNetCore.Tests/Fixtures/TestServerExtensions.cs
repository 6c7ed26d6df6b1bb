using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.TestHost;

namespace MintCache.AspNetCore.Tests.Fixtures;

internal static class TestServerExtensions
{
    /// <summary>Sends a GET after <paramref name="configure"/> sets up the request (its Host, its connection); returns the body.</summary>
    public static async Task<string> GetBodyAsync(this TestServer server, string path, Action<HttpContext> configure)
    {
        var context = await server.SendAsync(c =>
        {
            c.Request.Method = HttpMethods.Get;
            c.Request.Path = path;
            configure(c);
        });
        using var reader = new StreamReader(context.Response.Body);
        return await reader.ReadToEndAsync();
    }
}
