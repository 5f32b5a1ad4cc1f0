using DirectorsConsole.GalleryService.Paths;

namespace DirectorsConsole.GalleryService.Project;

/// <summary>One entry of a folder listing: its path as listed (under the folder asked for) and what it is.</summary>
public sealed record WalkEntry(string Path, string RelativePath, bool IsDirectory, long Size, DateTimeOffset Modified);

/// <summary>
/// Lists and walks folders that passed <see cref="IProjectPathResolver"/> without leaving the allowed roots:
/// hidden entries (<c>.gallery</c>, <c>.trash</c>, dot files) are skipped, a symbolic link is followed only when
/// its target lies inside an allowed root, each real folder is visited once (no loops), and walks stop at
/// <see cref="MaxEntries"/> entries or <see cref="MaxDepth"/> levels so a huge share cannot hold a request forever.
/// </summary>
public static class ProjectFileWalker
{
    public const int MaxEntries = 200_000;
    public const int MaxDepth = 32;

    private static readonly EnumerationOptions Options = new()
    {
        IgnoreInaccessible = true,
        RecurseSubdirectories = false,
        AttributesToSkip = 0,
        ReturnSpecialDirectories = false,
    };

    /// <summary>The entries directly in <paramref name="folder"/>, by name.</summary>
    public static IReadOnlyList<WalkEntry> List(string folder, IReadOnlyList<string> roots, CancellationToken cancellationToken, int maxEntries = MaxEntries) =>
        ListCore(folder, folder, roots, cancellationToken).Take(maxEntries).OrderBy(e => e.Path, StringComparer.OrdinalIgnoreCase).ToList();

    /// <summary>Every file below <paramref name="folder"/> (subfolders included); <c>Truncated</c> when a limit stopped the walk.</summary>
    public static (IReadOnlyList<WalkEntry> Files, bool Truncated) Walk(string folder, IReadOnlyList<string> roots, CancellationToken cancellationToken)
    {
        var files = new List<WalkEntry>();
        var visited = new HashSet<string>(ProjectPathResolver.PathComparer) { RealPathOrNull(folder) ?? folder };
        var pending = new Queue<(string Path, int Depth)>();
        pending.Enqueue((folder, 0));
        var seen = 0;
        while (pending.TryDequeue(out var current))
        {
            foreach (var entry in ListCore(current.Path, folder, roots, cancellationToken))
            {
                if (++seen > MaxEntries)
                {
                    return (files, true);
                }

                if (!entry.IsDirectory)
                {
                    files.Add(entry);
                }
                else if (current.Depth + 1 >= MaxDepth)
                {
                    return (files, true);
                }
                else if (RealPathOrNull(entry.Path) is { } real && visited.Add(real))
                {
                    pending.Enqueue((entry.Path, current.Depth + 1));
                }
            }
        }

        return (files, false);
    }

    private static IEnumerable<WalkEntry> ListCore(string folder, string top, IReadOnlyList<string> roots, CancellationToken cancellationToken)
    {
        IEnumerable<FileSystemInfo> entries;
        try
        {
            entries = new DirectoryInfo(folder).EnumerateFileSystemInfos("*", Options);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            yield break;
        }

        foreach (var entry in entries)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (entry.Name.StartsWith('.') || (entry.Attributes & FileAttributes.Hidden) != 0)
            {
                continue;
            }

            var info = entry;
            if (entry.LinkTarget is not null)
            {
                if (RealPathOrNull(entry.FullName) is not { } real || !roots.Any(root => ProjectPathResolver.IsInside(real, root)))
                {
                    continue;
                }

                info = Directory.Exists(real) ? new DirectoryInfo(real) : new FileInfo(real);
                if (!info.Exists)
                {
                    continue;
                }
            }

            var isDirectory = info is DirectoryInfo;
            var relative = Path.GetRelativePath(top, entry.FullName).Replace('\\', '/');
            yield return new WalkEntry(
                entry.FullName, relative, isDirectory, isDirectory ? 0 : ((FileInfo)info).Length, new DateTimeOffset(info.LastWriteTimeUtc, TimeSpan.Zero));
        }
    }

    // A link loop is skipped like a link out of the roots.
    private static string? RealPathOrNull(string path)
    {
        try
        {
            return ProjectPathResolver.ResolveLinks(path, "path");
        }
        catch (PathNotAllowedException)
        {
            return null;
        }
    }
}
