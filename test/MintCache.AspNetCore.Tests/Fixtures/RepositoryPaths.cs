namespace MintCache.AspNetCore.Tests.Fixtures;

/// <summary>Paths in the repository the tests run from, found by walking up to the solution file.</summary>
internal static class RepositoryPaths
{
    public static string Root { get; } = FindRoot();

    public static string Library => Path.Combine(Root, "src", "MintCache.AspNetCore", "MintCache.AspNetCore.csproj");

    private static string FindRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "MintCache.sln")))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException($"No MintCache.sln above {AppContext.BaseDirectory}.");
    }
}
