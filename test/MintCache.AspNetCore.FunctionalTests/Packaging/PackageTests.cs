using System.Diagnostics;
using System.IO.Compression;
using System.Text.RegularExpressions;
using MintCache.AspNetCore.Tests.Fixtures;
using Xunit.Abstractions;

namespace MintCache.AspNetCore.FunctionalTests.Packaging;

/// <summary>
/// Packs the library as a release would, installs the package into a fresh web project from a local package source,
/// and runs one cached request through it on Kestrel.
/// </summary>
/// <remarks>
/// The fresh project restores into a package folder of its own (nothing lands in the user's <c>~/.nuget</c>), with
/// the user's folder as a read-only fallback so that the package's dependencies are not downloaded again. The pack
/// builds under the test's own folder (<c>--artifacts-path</c>), never in the repository's <c>obj</c>, so it runs
/// beside the other builds of this project.
/// </remarks>
public sealed class PackageTests(ITestOutputHelper output) : IDisposable
{
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromMinutes(8);
    private const string RepositoryUrl = "https://github.com/example/MintCache.git";
    private readonly DirectoryInfo _work = Directory.CreateTempSubdirectory("mintcache-pack-");

    [Fact]
    public async Task Pack_InstallIntoFreshWebProject_ServesSecondRequestFromCache()
    {
        var clock = Stopwatch.StartNew();
        var version = "0.1.0-packtest";
        var feed = Path.Combine(_work.FullName, "feed");
        var app = Path.Combine(_work.FullName, "app");
        var dotnet = ChildProcess.DotnetHost;

        // 1. The package, as a release builds it: the version and the repository's address are the release's to give.
        await ChildProcess.RunAsync(dotnet, ["pack", RepositoryPaths.Library, "-c", "Release", "-o", feed, "--artifacts-path", Path.Combine(_work.FullName, "artifacts"), $"-p:Version={version}", $"-p:RepositoryUrl={RepositoryUrl}", "--disable-build-servers"], _work.FullName, CommandTimeout);
        var package = Path.Combine(feed, $"MintCache.AspNetCore.{version}.nupkg");
        AssertPackageContents(package, Path.ChangeExtension(package, ".snupkg"));
        var packed = clock.Elapsed;

        // 2. A fresh web project that installs it from the local source.
        await ChildProcess.RunAsync(dotnet, ["new", "web", "-o", app, "-n", "PackCheck", "--no-restore"], _work.FullName, CommandTimeout);
        var fallback = Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } packages
            ? packages
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        await File.WriteAllTextAsync(Path.Combine(app, "NuGet.config"), $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <config>
                <add key="globalPackagesFolder" value="{Path.Combine(_work.FullName, "packages")}" />
              </config>
              <packageSources>
                <add key="local" value="{feed}" />
              </packageSources>
              <fallbackPackageFolders>
                <add key="user" value="{fallback}" />
              </fallbackPackageFolders>
            </configuration>
            """);
        var project = Path.Combine(app, "PackCheck.csproj");
        var csproj = await File.ReadAllTextAsync(project);
        await File.WriteAllTextAsync(project, csproj.Replace(
            "</Project>",
            $"""  <ItemGroup><PackageReference Include="MintCache.AspNetCore" Version="{version}" /></ItemGroup>{Environment.NewLine}</Project>""",
            StringComparison.Ordinal));
        await File.WriteAllTextAsync(Path.Combine(app, "Program.cs"), """
            var builder = WebApplication.CreateBuilder(args);
            builder.Services.AddOutputCache().AddMintStore(o => o.CacheStatusHeader = true);
            var app = builder.Build();
            app.UseOutputCache();
            var renders = 0;
            app.MapGet("/", () => $"render {Interlocked.Increment(ref renders)}").CacheOutput(p => p.Expire(TimeSpan.FromMinutes(1)));
            app.Run();
            """);
        await ChildProcess.RunAsync(dotnet, ["build", app, "--disable-build-servers"], app, CommandTimeout);
        var built = clock.Elapsed;

        // 3. One cached request on Kestrel, on a port the OS picks.
        using var server = ChildProcess.Start(
            dotnet,
            [Path.Combine(app, "bin", "Debug", "net10.0", "PackCheck.dll"), "--urls", "http://127.0.0.1:0"],
            app,
            new Dictionary<string, string> { ["ASPNETCORE_ENVIRONMENT"] = "Production" });
        var listening = await server.WaitForOutputAsync(new Regex(@"Now listening on: (http://127\.0\.0\.1:\d+)"), TimeSpan.FromSeconds(60));
        using var client = new HttpClient { BaseAddress = new Uri(listening.Groups[1].Value), Timeout = TimeSpan.FromSeconds(30) };

        var first = await client.GetAsync("/");
        await Task.Delay(TimeSpan.FromMilliseconds(50)); // the middleware refuses a page whose age is exactly zero
        var second = await client.GetAsync("/");

        Assert.Equal("render 1", await first.Content.ReadAsStringAsync());
        Assert.Equal("render 1", await second.Content.ReadAsStringAsync());
        Assert.Equal("MintCache; fwd=miss", Assert.Single(first.Headers.GetValues("Cache-Status")));
        Assert.StartsWith("MintCache; hit; ttl=", Assert.Single(second.Headers.GetValues("Cache-Status")), StringComparison.Ordinal);
        Assert.NotNull(second.Headers.Age);
        Assert.False(Directory.Exists(Path.Combine(fallback, "mintcache.aspnetcore", version)), "the test package leaked into the user's package folder");
        output.WriteLine($"pack {packed.TotalSeconds:F1} s, new + restore + build {(built - packed).TotalSeconds:F1} s, run + 2 requests {(clock.Elapsed - built).TotalSeconds:F1} s; total {clock.Elapsed.TotalSeconds:F1} s");
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

    private static void AssertPackageContents(string package, string symbols)
    {
        using (var zip = ZipFile.OpenRead(package))
        {
            var entries = zip.Entries.Select(e => e.FullName).ToList();
            Assert.Contains("README.md", entries);
            Assert.Contains("lib/net10.0/MintCache.AspNetCore.dll", entries);
            Assert.Contains("lib/net10.0/MintCache.AspNetCore.xml", entries);
            using var nuspec = new StreamReader(zip.Entries.Single(e => e.FullName.EndsWith(".nuspec", StringComparison.Ordinal)).Open());
            var metadata = nuspec.ReadToEnd();
            Assert.Contains("<license type=\"expression\">MIT</license>", metadata, StringComparison.Ordinal);
            Assert.Contains("<readme>README.md</readme>", metadata, StringComparison.Ordinal);
            Assert.Contains($"<repository type=\"git\" url=\"{RepositoryUrl}\"", metadata, StringComparison.Ordinal);
            Assert.Contains("<projectUrl>https://github.com/example/MintCache</projectUrl>", metadata, StringComparison.Ordinal);
            Assert.Contains("<releaseNotes># MintCache.AspNetCore release notes", metadata, StringComparison.Ordinal);
            Assert.Contains("RELEASE-NOTES.md", entries);
            Assert.Contains("<tags>", metadata, StringComparison.Ordinal);
        }

        using var snupkg = ZipFile.OpenRead(symbols);
        Assert.Contains("lib/net10.0/MintCache.AspNetCore.pdb", snupkg.Entries.Select(e => e.FullName));
    }
}
