using System.Collections.Concurrent;
using System.IO.Enumeration;
using DirectorsConsole.GalleryService.Paths;
using Microsoft.Extensions.Options;

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
/// <para>A walk may use listings remembered from an earlier walk (<see cref="WalkRememberedAsync"/>, what search uses):
/// one stat of each folder instead of one per file. A remembered listing is used only while its folder's
/// modification and creation times are what they were when it was read (adding, removing or renaming an entry,
/// by this service or any other program, changes them), when that modification time was already at least
/// <see cref="QuietMargin"/> old then (a change in the same tick of a coarse clock would not show), when it holds
/// no file link (those are checked again at every walk), and for at most
/// <see cref="GalleryOptions.SearchRevalidateSeconds"/>: a file rewritten in place keeps its folder's times, so
/// its new size and time are seen after that at the latest.</para>
/// </summary>
public sealed class ProjectScanner(GalleryPaths paths, IOptions<GalleryOptions> options, TimeProvider time)
{
    /// <summary>How old a folder's modification time must be when it is listed for the listing to be remembered:
    /// more than the coarsest file-system clock in use (FAT and some NAS shares: 2 s).</summary>
    public static readonly TimeSpan QuietMargin = TimeSpan.FromSeconds(3);

    /// <summary>The most folder listings one replica keeps; past it they are dropped and read again.</summary>
    private const int MaxListings = 100_000;

    private readonly ConcurrentDictionary<string, Listing> _listings = new(ProjectPathResolver.PathComparer);
    private long _foldersListed;

    /// <summary>How many folders this replica's walks have listed, remembered ones not counted (for tests and the benchmark).</summary>
    public long FoldersListed => Interlocked.Read(ref _foldersListed);

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
        ConfinedPath project, string folder, Func<string, bool> include, CancellationToken cancellationToken) =>
        (await ListWithLinksAsync(project, folder, include, cancellationToken)) is var (folders, files, _) ? (folders, files) : default;

    private async Task<(List<string> Folders, List<FoundFile> Files, bool HadLinks)> ListWithLinksAsync(
        ConfinedPath project, string folder, Func<string, bool> include, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _foldersListed);
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

        return (folders, files, links.Count > 0);
    }

    /// <summary>Every folder from <paramref name="start"/> down, depth first, parents before children, names in order.</summary>
    public IAsyncEnumerable<FoundFolder> WalkAsync(ConfinedPath project, string start, Func<string, bool> include, CancellationToken cancellationToken) =>
        WalkAsync(project, start, include, remembered: false, cancellationToken);

    /// <summary><see cref="WalkAsync(ConfinedPath, string, Func{string, bool}, CancellationToken)"/> where a folder
    /// that has not changed is not listed again (see the class summary for what that means for changes made by other
    /// programs). <paramref name="include"/> chooses among media files only, since those are what a listing keeps.</summary>
    public IAsyncEnumerable<FoundFolder> WalkRememberedAsync(ConfinedPath project, string start, Func<string, bool> include, CancellationToken cancellationToken) =>
        WalkAsync(project, start, include, remembered: true, cancellationToken);

    private async IAsyncEnumerable<FoundFolder> WalkAsync(
        ConfinedPath project, string start, Func<string, bool> include, bool remembered,
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
                (folders, files) = remembered ? await RememberedListingAsync(project, folder, include, cancellationToken) : await SortedListingAsync(project, folder, include, cancellationToken);
            }
            catch (Exception ex) when (ex is DirectoryNotFoundException or UnauthorizedAccessException)
            {
                // Removed or unreadable while the walk ran: nothing to show for it.
                _listings.TryRemove(folder, out _);
                continue;
            }

            for (var i = folders.Count - 1; i >= 0; i--)
            {
                pending.Push(folders[i]);
            }

            yield return new FoundFolder(folder, folders, files);
        }
    }

    private async Task<(List<string> Folders, List<FoundFile> Files)> SortedListingAsync(
        ConfinedPath project, string folder, Func<string, bool> include, CancellationToken cancellationToken)
    {
        var (folders, files) = await ListAsync(project, folder, include, cancellationToken);
        folders.Sort(StringComparer.OrdinalIgnoreCase);
        files.Sort((a, b) => StringComparer.OrdinalIgnoreCase.Compare(a.Name, b.Name));
        return (folders, files);
    }

    private async Task<(List<string> Folders, List<FoundFile> Files)> RememberedListingAsync(
        ConfinedPath project, string folder, Func<string, bool> include, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow().UtcDateTime;
        var stamp = FolderStamp.Of(folder);
        if (_listings.TryGetValue(folder, out var known) && known.Stamp == stamp
            && now - known.ListedUtc < TimeSpan.FromSeconds(options.Value.SearchRevalidateSeconds))
        {
            return (known.Folders, known.Files.FindAll(file => include(file.Name)));
        }

        var (folders, files, hadLinks) = await ListWithLinksAsync(project, folder, name => MediaTypes.IsMedia(name), cancellationToken);
        folders.Sort(StringComparer.OrdinalIgnoreCase);
        files.Sort((a, b) => StringComparer.OrdinalIgnoreCase.Compare(a.Name, b.Name));
        if (!hadLinks && now - new DateTime(stamp.Modified, DateTimeKind.Utc) >= QuietMargin)
        {
            if (_listings.Count >= MaxListings)
            {
                // Folders no walk reaches any more (removed, renamed, other projects) are not kept forever.
                _listings.Clear();
            }

            _listings[folder] = new Listing(stamp, now, folders, files);
        }
        else
        {
            _listings.TryRemove(folder, out _);
        }

        return (folders, files.FindAll(file => include(file.Name)));
    }

    /// <summary>What changes when an entry of a folder is added, removed or renamed (the modification time), or
    /// when another folder takes its place (the creation time), read with one stat before the folder is listed.</summary>
    private readonly record struct FolderStamp(long Modified, long Created)
    {
        public static FolderStamp Of(string folder)
        {
            var info = new DirectoryInfo(folder);
            return info.Exists ? new FolderStamp(info.LastWriteTimeUtc.Ticks, info.CreationTimeUtc.Ticks) : throw new DirectoryNotFoundException(folder);
        }
    }

    /// <summary>A folder's sorted sub-folders (full paths) and media files as a walk read them.</summary>
    private sealed record Listing(FolderStamp Stamp, DateTime ListedUtc, List<string> Folders, List<FoundFile> Files);
}
