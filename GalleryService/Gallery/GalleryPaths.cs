using DirectorsConsole.GalleryService.Paths;

namespace DirectorsConsole.GalleryService.Gallery;

/// <summary>
/// The gallery's use of <see cref="IProjectPathResolver"/>: the project folder of a request, paths given beside it
/// (relative to it, or absolute, and always inside it), and the re-check of links that a scan found before they are
/// read, hashed or moved. Keys of gallery.json are paths relative to the project with <c>/</c>.
/// </summary>
public sealed class GalleryPaths(IProjectPathResolver resolver, ILogger<GalleryPaths> logger)
{
    /// <summary>The project folder; it must exist (404 otherwise).</summary>
    public async Task<ConfinedPath> ProjectAsync(string? projectPath, string field, CancellationToken cancellationToken)
    {
        var project = await resolver.ResolveAsync(projectPath, field, cancellationToken);
        if (!Directory.Exists(project.FullPath))
        {
            throw File.Exists(project.FullPath)
                ? GalleryException.BadRequest($"'{field}' is a file, not a project folder: {project.FullPath}")
                : GalleryException.NotFound($"Project folder not found: {project.FullPath}");
        }

        return project;
    }

    /// <summary>The project of a request about one file. The original let clients leave the project out; then the
    /// folder holding the file stands for it (confined like any project), as the original rooted its gallery there.</summary>
    public async Task<ConfinedPath> ProjectOfFileAsync(string? projectPath, string? filePath, string fileField, CancellationToken cancellationToken)
    {
        if (projectPath is { Length: > 0 })
        {
            return await ProjectAsync(projectPath, "projectPath", cancellationToken);
        }

        var file = await resolver.ResolveAsync(filePath, fileField, cancellationToken);
        return await ProjectAsync(Path.GetDirectoryName(file.FullPath), fileField, cancellationToken);
    }

    /// <summary>The project and the folder to look at. The original sent only an absolute <c>folder_path</c>; then
    /// that folder is also the project whose ratings are shown (as the original rooted its gallery there).</summary>
    public async Task<(ConfinedPath Project, ConfinedPath Folder)> ProjectAndFolderAsync(string? projectPath, string? folderPath, CancellationToken cancellationToken)
    {
        if (projectPath is not { Length: > 0 })
        {
            var alone = await ProjectAsync(folderPath, "folderPath", cancellationToken);
            return (alone, alone);
        }

        var project = await ProjectAsync(projectPath, "projectPath", cancellationToken);
        var folder = await FolderAsync(project, folderPath, "folderPath", cancellationToken);
        return (project, folder);
    }

    /// <summary>A folder inside the project (empty or absent: the project itself); it must exist.</summary>
    public async Task<ConfinedPath> FolderAsync(ConfinedPath project, string? folderPath, string field, CancellationToken cancellationToken)
    {
        if (string.IsNullOrEmpty(folderPath))
        {
            return project;
        }

        var folder = await resolver.ResolveWithinAsync(project, folderPath, field, cancellationToken);
        if (!Directory.Exists(folder.FullPath))
        {
            throw File.Exists(folder.FullPath)
                ? GalleryException.BadRequest($"'{field}' is a file, not a folder: {folder.FullPath}")
                : GalleryException.NotFound($"Folder not found: {folder.FullPath}");
        }

        return folder;
    }

    /// <summary>A path inside the project that need not exist (a destination).</summary>
    public Task<ConfinedPath> WithinAsync(ConfinedPath project, string? clientPath, string field, CancellationToken cancellationToken) =>
        resolver.ResolveWithinAsync(project, clientPath, field, cancellationToken);

    /// <summary>An existing file inside the project, outside <c>.gallery/</c> (404 when it is not there).</summary>
    public async Task<ConfinedPath> FileAsync(ConfinedPath project, string? filePath, string field, CancellationToken cancellationToken)
    {
        var file = await resolver.ResolveWithinAsync(project, filePath, field, cancellationToken);
        if (IsInGalleryFolder(project, file.FullPath))
        {
            throw new PathNotAllowedException(field, $"'{field}' points into the project's {MediaTypes.GalleryFolder} folder, which only the gallery itself changes.");
        }

        if (!File.Exists(file.FullPath))
        {
            throw Directory.Exists(file.FullPath)
                ? GalleryException.BadRequest($"'{field}' is a folder, not a file: {file.FullPath}")
                : GalleryException.NotFound($"File not found: {file.FullPath}");
        }

        return file;
    }

    /// <summary>Every file of a list, each resolved and required to exist; duplicates are dropped.</summary>
    public async Task<IReadOnlyList<ConfinedPath>> FilesAsync(ConfinedPath project, IReadOnlyList<string?>? filePaths, string field, CancellationToken cancellationToken)
    {
        var files = new List<ConfinedPath>();
        var seen = new HashSet<string>(ProjectPathResolver.PathComparer);
        for (var i = 0; i < (filePaths?.Count ?? 0); i++)
        {
            var file = await FileAsync(project, filePaths![i], $"{field}[{i}]", cancellationToken);
            if (seen.Add(file.FullPath))
            {
                files.Add(file);
            }
        }

        return files;
    }

    /// <summary>For an entry a scan found that is a symbolic link: true when what it leads to is still inside the
    /// project. Entries that are not links lie inside the folder being walked by construction.</summary>
    public async Task<bool> LinkStaysInsideAsync(ConfinedPath project, string foundPath, CancellationToken cancellationToken)
    {
        try
        {
            await resolver.ResolveWithinAsync(project, foundPath, "found", cancellationToken);
            return true;
        }
        catch (Exception ex) when (ex is PathNotAllowedException or InvalidClientPathException)
        {
            logger.LogDebug("Skipped {Path}, a link that leads outside {Project}: {Reason}", foundPath, project.FullPath, ex.Message);
            return false;
        }
    }

    /// <summary>The gallery.json key of a file of the project.</summary>
    public static string KeyOf(ConfinedPath project, string fullPath) => KeyOf(project.FullPath, fullPath);

    public static string KeyOf(string projectRoot, string fullPath)
    {
        // A path a walk built is the root, one separator and plain names: the key is what follows, without the
        // normalising Path.GetRelativePath does (which a search would pay for each of its files).
        if (fullPath.Length > projectRoot.Length + 1
            && fullPath.StartsWith(projectRoot, ProjectPathResolver.PathComparison)
            && !Path.EndsInDirectorySeparator(projectRoot)
            && IsSeparator(fullPath[projectRoot.Length])
            && IsPlain(fullPath.AsSpan(projectRoot.Length + 1)))
        {
            var key = fullPath[(projectRoot.Length + 1)..];
            return Path.DirectorySeparatorChar == '/' ? key : key.Replace('\\', '/');
        }

        return Path.GetRelativePath(projectRoot, fullPath).Replace('\\', '/');
    }

    private static bool IsSeparator(char c) => c == Path.DirectorySeparatorChar || c == Path.AltDirectorySeparatorChar;

    /// <summary>No empty, <c>.</c> or <c>..</c> segment and no trailing separator: nothing to normalise.</summary>
    private static bool IsPlain(ReadOnlySpan<char> relative)
    {
        while (true)
        {
            var end = relative.IndexOfAny(Path.DirectorySeparatorChar, Path.AltDirectorySeparatorChar);
            var segment = end < 0 ? relative : relative[..end];
            if (segment.IsEmpty || segment is "." or "..")
            {
                return false;
            }

            if (end < 0)
            {
                return true;
            }

            relative = relative[(end + 1)..];
        }
    }

    public static bool IsInGalleryFolder(ConfinedPath project, string fullPath) =>
        ProjectPathResolver.IsInside(fullPath, Path.Combine(project.FullPath, MediaTypes.GalleryFolder));
}
