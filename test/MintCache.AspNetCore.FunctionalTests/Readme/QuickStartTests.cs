using System.Diagnostics;
using System.Text.RegularExpressions;
using MintCache.AspNetCore.Tests.Fixtures;
using StackExchange.Redis;
using Xunit.Abstractions;

namespace MintCache.AspNetCore.FunctionalTests.Readme;

/// <summary>
/// The README's quick start is code that works: its C# blocks are built, as written, into a fresh web project that
/// references the library with warnings as errors, and the app serves its page from the cache, in memory and then on
/// Redis through the environment variable the README names.
/// </summary>
[Collection(SerialCollection.Name)]
public sealed partial class QuickStartTests(ITestOutputHelper output) : IDisposable
{
    private const int MaxReadmeBytes = 15 * 1024;
    private const int MaxQuickStartLines = 10;
    private const int MaxRedisLines = 3;
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromMinutes(4);
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);
    private readonly DirectoryInfo _work = Directory.CreateTempSubdirectory("mintcache-readme-");

    [Fact]
    public async Task ReadmeQuickStart_BuiltAsAnApp_ServesItsPageFromTheCache()
    {
        var clock = Stopwatch.StartNew();
        var readme = await File.ReadAllTextAsync(Path.Combine(RepositoryPaths.Root, "README.md"));
        Assert.True(readme.Length <= MaxReadmeBytes, $"README.md is {readme.Length} characters; keep it within {MaxReadmeBytes}.");
        var (program, redis, redisVariable) = QuickStart(readme);
        Assert.True(Lines(program) <= MaxQuickStartLines, $"The quick start has {Lines(program)} lines; keep it within {MaxQuickStartLines}:\n{program}");
        Assert.True(Lines(redis) <= MaxRedisLines, $"The Redis lines are {Lines(redis)}; keep them within {MaxRedisLines}:\n{redis}");

        // The quick start is Program.cs as written; the Redis lines are compiled in a method given the same builder.
        var app = Path.Combine(_work.FullName, "app");
        Directory.CreateDirectory(app);
        await File.WriteAllTextAsync(Path.Combine(app, "QuickStart.csproj"), $"""
            <Project Sdk="Microsoft.NET.Sdk.Web">
              <PropertyGroup>
                <TargetFramework>net10.0</TargetFramework>
                <Nullable>enable</Nullable>
                <ImplicitUsings>enable</ImplicitUsings>
                <TreatWarningsAsErrors>true</TreatWarningsAsErrors>
              </PropertyGroup>
              <ItemGroup>
                <ProjectReference Include="{RepositoryPaths.Library}" />
              </ItemGroup>
            </Project>
            """);
        await File.WriteAllTextAsync(Path.Combine(app, "Program.cs"), program);
        await File.WriteAllTextAsync(Path.Combine(app, "RedisQuickStart.cs"), $$"""
            internal static class RedisQuickStart
            {
                internal static void Configure(WebApplicationBuilder builder)
                {
            {{redis}}
                }
            }
            """);
        await ChildProcess.RunAsync(ChildProcess.DotnetHost, ["build", app, "--disable-build-servers"], app, CommandTimeout);
        var built = clock.Elapsed;

        var path = PagePath(program);
        var dll = Path.Combine(app, "bin", "Debug", "net10.0", "QuickStart.dll");
        await AssertServedFromCacheAsync(dll, app, path, new Dictionary<string, string>());

        using var server = await RedisServerFixture.StartDedicatedAsync();
        await AssertServedFromCacheAsync(dll, app, path, new Dictionary<string, string> { [redisVariable] = server.Endpoint });
        await using var multiplexer = await ConnectionMultiplexer.ConnectAsync(server.Endpoint);
        Assert.NotEmpty(await multiplexer.GetServer(server.Endpoint).KeysAsync(pattern: "mint:*").ToArrayAsync());
        output.WriteLine($"build {built.TotalSeconds:F1} s, two runs {(clock.Elapsed - built).TotalSeconds:F1} s");
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

    /// <summary>The C# blocks of the README's "Quick start" section (the app, then its Redis lines) and the environment variable it names.</summary>
    private static (string Program, string Redis, string RedisVariable) QuickStart(string readme)
    {
        var start = readme.IndexOf("## Quick start", StringComparison.Ordinal);
        Assert.True(start >= 0, "README.md has no '## Quick start' section.");
        var end = readme.IndexOf("\n## ", start + 1, StringComparison.Ordinal);
        var section = end < 0 ? readme[start..] : readme[start..end];
        var blocks = CSharpBlock().Matches(section).Select(m => m.Groups[1].Value).ToList();
        Assert.True(blocks.Count == 2, $"The quick start should hold two C# blocks (the app, then Redis); it holds {blocks.Count}.");
        var variable = RedisVariable().Match(section);
        Assert.True(variable.Success, "The quick start names no MintCache__Redis__... environment variable.");
        return (blocks[0], blocks[1], variable.Groups[1].Value);
    }

    private static string PagePath(string program)
    {
        var map = MapGet().Match(program);
        Assert.True(map.Success, "The quick start maps no GET endpoint.");
        return map.Groups[1].Value;
    }

    private static int Lines(string code) => code.TrimEnd('\n').Split('\n').Length;

    /// <summary>Runs the app and asks for its page until one answer repeats the one before: served from the cache.</summary>
    private static async Task AssertServedFromCacheAsync(string dll, string directory, string path, Dictionary<string, string> environment)
    {
        environment["ASPNETCORE_ENVIRONMENT"] = "Production";
        using var app = ChildProcess.Start(ChildProcess.DotnetHost, [dll, "--urls", "http://127.0.0.1:0"], directory, environment);
        var listening = await app.WaitForOutputAsync(ListeningOn(), TimeSpan.FromSeconds(60));
        using var client = new HttpClient { BaseAddress = new Uri(listening.Groups[1].Value), Timeout = Deadline };

        // A page stored in the millisecond it is read counts as a miss to the middleware: ask again until it is a hit.
        var deadline = Stopwatch.StartNew();
        var previous = await client.GetStringAsync(path);
        for (var asked = 1; asked < 1000 && deadline.Elapsed < Deadline; asked++)
        {
            var body = await client.GetStringAsync(path);
            if (body == previous)
            {
                return;
            }

            previous = body;
        }

        Assert.Fail($"{path} was rendered again on every request for {deadline.Elapsed}:\n{app.Output}");
    }

    [GeneratedRegex(@"```csharp\n(.*?)```", RegexOptions.Singleline)]
    private static partial Regex CSharpBlock();

    [GeneratedRegex(@"`(MintCache__Redis__\w+)=")]
    private static partial Regex RedisVariable();

    [GeneratedRegex(@"MapGet\(""([^""]+)""")]
    private static partial Regex MapGet();

    [GeneratedRegex(@"Now listening on: (http://127\.0\.0\.1:\d+)")]
    private static partial Regex ListeningOn();
}
