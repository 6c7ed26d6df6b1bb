using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using MintCache.AspNetCore.Refresh;
using MintCache.AspNetCore.Tests.Fixtures;

namespace MintCache.AspNetCore.Tests.Refresh;

/// <summary>
/// The origin's word stands (design invariant 10): a regeneration answered "gone" (404, 410) or "not cacheable"
/// (<c>no-store</c>, <c>private</c>) ends the stale page, so the next request sees what the origin says.
/// </summary>
public sealed class OriginGoneTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);

    public static TheoryData<RefreshMode, string> Answers => new()
    {
        { RefreshMode.Background, "404" },
        { RefreshMode.Background, "410" },
        { RefreshMode.Background, "no-store" },
        { RefreshMode.Background, "private" },
        { RefreshMode.Foreground, "404" },
        { RefreshMode.Foreground, "410" },
        { RefreshMode.Foreground, "no-store" },
    };

    [Theory]
    [MemberData(nameof(Answers))]
    public async Task RegenerationSaysGone_StalePageEnds_NextRequestGetsTheOriginsAnswer(RefreshMode mode, string answer)
    {
        var origin = new ChangingOrigin();
        await using var app = await TestApp.StartAsync(
            o => o.RefreshMode = mode,
            mapMore: web => web.MapGet("/article", origin.Answer).CacheOutput(p => p.Expire(TestApp.Fresh)));
        var regenerator = app.Services.GetRequiredService<BackgroundRegenerator>();
        Assert.Equal("v1", await app.Client.GetStringAsync("/article"));

        origin.Now = answer;
        app.Time.Advance(TestApp.Fresh);
        using (var winner = await app.Client.GetAsync("/article"))
        {
            // Served stale in the background mode; in the foreground, the winner renders and gets the answer itself.
            Assert.Equal(mode == RefreshMode.Background ? "v1" : "v2", await winner.Content.ReadAsStringAsync());
        }

        await Eventually.HoldsAsync(() => origin.Executions == 2 && regenerator.Running == 0, Deadline, "the regeneration ended");
        using var next = await app.Client.GetAsync("/article");
        Assert.Equal("v3", await next.Content.ReadAsStringAsync());
        Assert.Equal(ChangingOrigin.StatusOf(answer), next.StatusCode);
    }

    [Fact]
    public async Task Redirect_KeepsTheStalePageForTheGrace()
    {
        // Not "gone": the page may come back, and a redirect is not an error the users should see in its place.
        var origin = new ChangingOrigin();
        await using var app = await TestApp.StartAsync(
            o => o.RefreshMode = RefreshMode.Background,
            mapMore: web => web.MapGet("/article", origin.Answer).CacheOutput(p => p.Expire(TestApp.Fresh)));
        var regenerator = app.Services.GetRequiredService<BackgroundRegenerator>();
        Assert.Equal("v1", await app.Client.GetStringAsync("/article"));

        origin.Now = "302";
        app.Time.Advance(TestApp.Fresh);
        Assert.Equal("v1", await app.Client.GetStringAsync("/article"));
        await Eventually.HoldsAsync(() => origin.Executions == 2 && regenerator.Running == 0, Deadline, "the regeneration ended");
        Assert.Equal("v1", await app.Client.GetStringAsync("/article"));
        Assert.Equal(0, app.Logs["OriginSaidGone"]);
    }

    /// <summary>Answers "vN" for its N-th execution, with what <see cref="Now"/> says: 200, a status, or a Cache-Control.</summary>
    internal sealed class ChangingOrigin
    {
        private int _executions;

        public string Now { get; set; } = "200";

        public int Executions => Volatile.Read(ref _executions);

        public static HttpStatusCode StatusOf(string answer) => int.TryParse(answer, out var status) ? (HttpStatusCode)status : HttpStatusCode.OK;

        public IResult Answer(HttpContext context)
        {
            var body = "v" + Interlocked.Increment(ref _executions);
            var now = Now;
            switch (now)
            {
                case "no-store" or "private":
                    context.Response.Headers.CacheControl = now;
                    return Results.Text(body);
                case "302":
                    return Results.Redirect("/elsewhere");
                default:
                    return Results.Text(body, statusCode: (int)StatusOf(now));
            }
        }
    }
}
