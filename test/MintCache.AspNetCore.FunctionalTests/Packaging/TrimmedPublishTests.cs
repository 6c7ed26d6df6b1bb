using System.Diagnostics;
using System.Text.RegularExpressions;
using MintCache.AspNetCore.Tests.Fixtures;
using StackExchange.Redis;
using Xunit.Abstractions;

namespace MintCache.AspNetCore.FunctionalTests.Packaging;

/// <summary>
/// Publishes test/MintCache.TrimCheck trimmed and self-contained, with the AOT analyzers on and warnings as errors, then
/// runs the trimmed binary against Redis: a trim or AOT warning fails the publish, and code the trimmer removed that
/// the library still needs (options binding, script evaluation) fails the requests.
/// </summary>
/// <remarks>A native AOT publish would also need clang, which CI machines lack; the analyzers catch the same code.</remarks>
[Collection(SerialCollection.Name)]
public sealed class TrimmedPublishTests(ITestOutputHelper output) : IDisposable
{
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromMinutes(4);
    private readonly DirectoryInfo _work = Directory.CreateTempSubdirectory("mintcache-trim-");

    [Fact]
    public async Task PublishTrimmed_NoWarnings_ServesFromRedisCache()
    {
        var clock = Stopwatch.StartNew();
        var project = Path.Combine(RepositoryPaths.Root, "test", "MintCache.TrimCheck", "MintCache.TrimCheck.csproj");
        var published = Path.Combine(_work.FullName, "out");
        var log = await ChildProcess.RunAsync(
            ChildProcess.DotnetHost,
            ["publish", project, "-c", "Release", "-r", "linux-x64", "--self-contained", "-o", published, "--disable-build-servers"],
            _work.FullName,
            CommandTimeout);
        Assert.DoesNotContain("warning IL", log, StringComparison.Ordinal);
        var publishedIn = clock.Elapsed;

        using var redis = await RedisServerFixture.StartDedicatedAsync();
        using var server = ChildProcess.Start(
            Path.Combine(published, "MintCache.TrimCheck"),
            ["--urls", "http://127.0.0.1:0"],
            _work.FullName,
            new Dictionary<string, string> { ["ASPNETCORE_ENVIRONMENT"] = "Production", ["MintCache__Redis__Configuration"] = redis.Endpoint });
        var listening = await server.WaitForOutputAsync(new Regex(@"Now listening on: (http://127\.0\.0\.1:\d+)"), TimeSpan.FromSeconds(60));
        using var client = new HttpClient { BaseAddress = new Uri(listening.Groups[1].Value), Timeout = TimeSpan.FromSeconds(30) };

        Assert.Equal("Healthy", await client.GetStringAsync("/health"));
        var first = await client.GetAsync("/");
        Assert.Equal("MintCache; fwd=miss", Assert.Single(first.Headers.GetValues("Cache-Status")));
        Assert.Equal("render 1", await first.Content.ReadAsStringAsync());

        // The middleware takes a page stored in the same millisecond for a miss, so ask until the cache answers.
        var deadline = Stopwatch.StartNew();
        string status;
        do
        {
            var again = await client.GetAsync("/");
            Assert.Equal("render 1", await again.Content.ReadAsStringAsync());
            status = Assert.Single(again.Headers.GetValues("Cache-Status"));
        }
        while (!status.StartsWith("MintCache; hit", StringComparison.Ordinal) && deadline.Elapsed < TimeSpan.FromSeconds(10));

        Assert.StartsWith("MintCache; hit; ttl=", status, StringComparison.Ordinal);

        // Stored in Redis, not in the local fallback that a failing script would have sent it to.
        await using var multiplexer = await ConnectionMultiplexer.ConnectAsync(redis.Endpoint);
        Assert.NotEmpty(await multiplexer.GetServer(redis.Endpoint).KeysAsync(pattern: "mint:*").ToArrayAsync());
        output.WriteLine($"publish {publishedIn.TotalSeconds:F1} s, run {(clock.Elapsed - publishedIn).TotalSeconds:F1} s");
    }

    public void Dispose()
    {
        try
        {
            _work.Delete(recursive: true);
        }
        catch (IOException)
        {
            // A temp folder left behind is harmless.
        }
    }
}
