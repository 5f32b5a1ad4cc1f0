namespace DirectorsConsole.ServiceDefaults.Tests.Architecture;

/// <summary>The repository's C# sources, as the architecture rules read them.</summary>
internal static class SourceTree
{
    /// <summary>Every <c>.cs</c> file under <paramref name="root"/> but those in <paramref name="excludedTopFolders"/>,
    /// build output and hidden folders.</summary>
    public static IEnumerable<string> Files(string root, params string[] excludedTopFolders) =>
        Directory.EnumerateFiles(root, "*.cs", SearchOption.AllDirectories).Where(file =>
        {
            var parts = Path.GetRelativePath(root, file).Split(Path.DirectorySeparatorChar);
            return !excludedTopFolders.Contains(parts[0]) && !parts.Any(part => part is "bin" or "obj" || part.StartsWith('.'));
        });

    /// <summary>A file's path from the root, with <c>/</c> on every OS.</summary>
    public static string Relative(string root, string file) => Path.GetRelativePath(root, file).Replace(Path.DirectorySeparatorChar, '/');

    public static string RepositoryRoot()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "DirectorsConsole.sln")))
        {
            directory = directory.Parent;
        }

        return directory?.FullName ?? throw new DirectoryNotFoundException($"DirectorsConsole.sln not found above {AppContext.BaseDirectory}.");
    }
}
