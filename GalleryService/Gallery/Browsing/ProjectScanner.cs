using System.IO.Enumeration;
using DirectorsConsole.GalleryService.Paths;

namespace DirectorsConsole.GalleryService.Gallery.Browsing;

/// <summary>A file a scan found, with what one stat gives (zero/default when the scan did not stat).</summary>
public sealed record FoundFile(string Name, string FullPath, long Length, DateTime LastWriteUtc, DateTime CreatedUtc);

/// <summary>One folder of a walk: its sub-folders (full paths) and the files that passed the filter.</summary>
public sealed record FoundFolder(string FullPath, IReadOnlyList<string> Subfolders, IReadOnlyList<FoundFile> Files);

/// <summary>
/// Walks project folders for the gallery. Hidden names (<c>.gallery</c>, <c>.trash</c>, dot files) are skipped.
/// Folder links are not followed (a link inside the project would show its files twice, one outside is not
/// allowed). A file that is a link is kept only when it leads to a file inside the project
/// (<see cref="GalleryPaths.LinkStaysInsideAsync"/>). Listing names costs no stat per file: the directory entries
/// say which are folders, and only folders are checked for being links.
/// </summary>
public sealed class ProjectScanner(GalleryPaths paths)
{
    private static readonly EnumerationOptions Options = new()
    {
        RecurseSubdirectories = false,
        IgnoreInaccessible = true,
        AttributesToSkip = 0,
        ReturnSpecialDirectories = false,
    };

    /// <summary>Sub-folders and file names of one folder, without a stat per file.</summary>
    public static (List<string> Folders, List<string> Files) ListNames(string folder)
    {
        var folders = new List<string>();
        var files = new List<string>();
        var entries = new FileSystemEnumerable<(string Name, bool IsFolder, bool IsLinkedFolder)>(folder,
            static (ref FileSystemEntry entry) =>
            {
                var isFolder = entry.IsDirectory;
                return (entry.FileName.ToString(), isFolder, isFolder && entry.Attributes.HasFlag(FileAttributes.ReparsePoint));
            },
            Options)
        {
            ShouldIncludePredicate = static (ref FileSystemEntry entry) => !MediaTypes.IsHidden(entry.FileName),
        };
        foreach (var (name, isFolder, isLinkedFolder) in entries)
        {
            if (!isFolder)
            {
                files.Add(name);
            }
            else if (!isLinkedFolder)
            {
                folders.Add(name);
            }
        }

        return (folders, files);
    }

    /// <summary>The files of one folder that <paramref name="include"/> accepts (by name), each with one stat.</summary>
    public async Task<(List<string> Folders, List<FoundFile> Files)> ListAsync(
        ConfinedPath project, string folder, Func<string, bool> include, CancellationToken cancellationToken)
    {
        var folders = new List<string>();
        var files = new List<FoundFile>();
        var links = new List<FoundFile>();
        var entries = new FileSystemEnumerable<(FoundFile? File, string? Folder, bool IsLink)>(folder,
            (ref FileSystemEntry entry) =>
            {
                if (entry.IsDirectory)
                {
                    return (null, entry.Attributes.HasFlag(FileAttributes.ReparsePoint) ? null : entry.ToFullPath(), false);
                }

                var name = entry.FileName.ToString();
                if (!include(name))
                {
                    return (null, null, false);
                }

                var file = new FoundFile(name, entry.ToFullPath(), entry.Length, entry.LastWriteTimeUtc.UtcDateTime, entry.CreationTimeUtc.UtcDateTime);
                return (file, null, entry.Attributes.HasFlag(FileAttributes.ReparsePoint));
            },
            Options)
        {
            ShouldIncludePredicate = static (ref FileSystemEntry entry) => !MediaTypes.IsHidden(entry.FileName),
        };
        foreach (var (file, subfolder, isLink) in entries)
        {
            if (subfolder is not null)
            {
                folders.Add(subfolder);
            }
            else if (file is not null)
            {
                (isLink ? links : files).Add(file);
            }
        }

        foreach (var link in links)
        {
            if (await paths.LinkStaysInsideAsync(project, link.FullPath, cancellationToken))
            {
                files.Add(link);
            }
        }

        return (folders, files);
    }

    /// <summary>Every folder from <paramref name="start"/> down, depth first, parents before children, names in order.</summary>
    public async IAsyncEnumerable<FoundFolder> WalkAsync(
        ConfinedPath project, string start, Func<string, bool> include,
        [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var pending = new Stack<string>();
        pending.Push(start);
        while (pending.TryPop(out var folder))
        {
            cancellationToken.ThrowIfCancellationRequested();
            List<string> folders;
            List<FoundFile> files;
            try
            {
                (folders, files) = await ListAsync(project, folder, include, cancellationToken);
            }
            catch (Exception ex) when (ex is DirectoryNotFoundException or UnauthorizedAccessException)
            {
                // Removed or unreadable while the walk ran: nothing to show for it.
                continue;
            }

            folders.Sort(StringComparer.OrdinalIgnoreCase);
            files.Sort((a, b) => StringComparer.OrdinalIgnoreCase.Compare(a.Name, b.Name));
            for (var i = folders.Count - 1; i >= 0; i--)
            {
                pending.Push(folders[i]);
            }

            yield return new FoundFolder(folder, folders, files);
        }
    }
}
