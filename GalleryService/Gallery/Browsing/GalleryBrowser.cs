using System.Text.Json;
using System.Text.Json.Nodes;
using DirectorsConsole.GalleryService.Gallery.Storage;
using DirectorsConsole.GalleryService.Paths;
using DirectorsConsole.GalleryService.Project;
using Microsoft.Extensions.Options;

namespace DirectorsConsole.GalleryService.Gallery.Browsing;

/// <summary>
/// The read-only views of project folders: the folder tree (names only, no stat per file), one folder's files in
/// pages (a stat only for the files of the page unless the sort or filter needs them all), the recursive listing,
/// one file's details with its PNG metadata, and folder statistics.
/// </summary>
public sealed class GalleryBrowser(
    GalleryPaths paths,
    ProjectScanner scanner,
    GalleryStore store,
    IResponsePathFormatter formatter,
    IOptions<GalleryOptions> options)
{
    private static readonly string[] SortFields = ["name", "modified", "created", "size", "type", "rating"];

    public async Task<ScanTreeResponse> ScanTreeAsync(ScanTreeRequest request, CancellationToken cancellationToken)
    {
        new RequestValidation(request)
            .Check(request.ProjectPath is { Length: > 0 } || request.FolderPath is { Length: > 0 }, "projectPath", "projectPath (or folderPath) is required", null)
            .Check(request.MaxDepth is null or >= 0, "maxDepth", "maxDepth may not be negative", request.MaxDepth)
            .ThrowIfInvalid();
        var (project, folder) = await paths.ProjectAndFolderAsync(request.ProjectPath, request.FolderPath, cancellationToken);
        // The flat list (what the original sent) and the nested tree are built in one walk: a folder enters the list
        // before its children, which is the order the original's os.walk gave.
        var flat = new List<TreeFolderEntry>();
        FolderNode Build(string path, int depth)
        {
            var (subfolders, files) = ProjectScanner.ListNames(path);
            subfolders.Sort(StringComparer.OrdinalIgnoreCase);
            var fileCount = files.Count(name => MediaTypes.IsMedia(name));
            var relPath = RelativeOf(project, path);
            flat.Add(new TreeFolderEntry(Path.GetFileName(path), formatter.Format(path), depth == 0 ? "." : relPath, subfolders, fileCount));
            var children = request.MaxDepth is { } max && depth >= max
                ? []
                : subfolders.Select(name => Build(Path.Combine(path, name), depth + 1)).ToList();
            return new FolderNode(Path.GetFileName(path), formatter.Format(path), relPath, fileCount, children);
        }

        var root = await Task.Run(() => Build(folder.FullPath, 0), cancellationToken);
        return new ScanTreeResponse(flat, root.Path, root.RelPath, root.FileCount, flat.Sum(entry => entry.Subfolders.Count), root.Children)
        {
            Message = $"Scanned {flat.Count} folders",
        };
    }

    public async Task<ScanFolderResponse> ScanFolderAsync(ScanFolderRequest request, CancellationToken cancellationToken)
    {
        var maxPage = options.Value.MaxPageSize;
        var sortField = request.SortField ?? "name";
        var sortDirection = request.SortDirection ?? "asc";
        var validation = new RequestValidation(request)
            .Check(request.ProjectPath is { Length: > 0 } || request.FolderPath is { Length: > 0 }, "projectPath", "projectPath (or folderPath) is required", null)
            .Check(request.Offset is null or >= 0, "offset", "offset may not be negative", request.Offset)
            .Check(request.Limit is null or >= 1 && (request.Limit ?? 1) <= maxPage, "limit", $"limit must be between 1 and {maxPage}", request.Limit)
            .OneOf(sortField, "sortField", SortFields)
            .OneOf(sortDirection, "sortDirection", "asc", "desc")
            .Check(request.MinRating is null or >= 0 and <= 5, "minRating", "minRating must be between 0 and 5", request.MinRating);
        foreach (var type in request.Types ?? [])
        {
            validation.OneOf(type, "types", MediaTypes.Image, MediaTypes.Video);
        }

        validation.ThrowIfInvalid();
        var (project, folder) = await paths.ProjectAndFolderAsync(request.ProjectPath, request.FolderPath, cancellationToken);
        var document = await store.ReadAsync(project.FullPath, cancellationToken);
        // Paged only when the client asks: the original web app reads the whole folder in one answer.
        var offset = request.Offset ?? 0;
        var limit = request.Limit ?? int.MaxValue;

        bool Include(string name) =>
            MediaTypes.IsMedia(name)
            && (request.Types is not { Count: > 0 } types || types.Contains(MediaTypes.TypeOf(name)))
            && (request.NameContains is not { Length: > 0 } text || name.Contains(text, StringComparison.OrdinalIgnoreCase));

        bool Tagged(string key) =>
            (request.MinRating is not { } min || document.RatingOf(key) >= min)
            && (request.TagIds is not { Count: > 0 } tags || tags.All(document.TagsOf(key).Contains));

        List<FoundFile> page;
        int total;
        var descending = sortDirection == "desc";
        if (sortField is "name" or "type" or "rating")
        {
            // Sorted without a stat: only the files of the page are looked at closer.
            var names = (await Task.Run(() => ProjectScanner.ListNames(folder.FullPath).Files, cancellationToken))
                .Where(name => Include(name) && Tagged(GalleryPaths.KeyOf(project, Path.Combine(folder.FullPath, name))))
                .ToList();
            var sorted = Order(names, name => name, sortField, name => document.RatingOf(GalleryPaths.KeyOf(project, Path.Combine(folder.FullPath, name))), descending);
            total = names.Count;
            page = [];
            foreach (var name in sorted.Skip(offset).Take(limit))
            {
                var full = Path.Combine(folder.FullPath, name);
                if (TryStat(full) is var (found, isLink) && found is not null
                    && (!isLink || await paths.LinkStaysInsideAsync(project, full, cancellationToken)))
                {
                    page.Add(found);
                }
            }
        }
        else
        {
            var (_, files) = await scanner.ListAsync(project, folder.FullPath, Include, cancellationToken);
            files = files.Where(file => Tagged(GalleryPaths.KeyOf(project, file.FullPath))).ToList();
            Func<FoundFile, IComparable> key = sortField switch
            {
                "modified" => file => file.LastWriteUtc,
                "created" => file => file.CreatedUtc,
                _ => file => file.Length,
            };
            var sorted = descending ? files.OrderByDescending(key).ThenBy(f => f.Name, StringComparer.OrdinalIgnoreCase) : files.OrderBy(key).ThenBy(f => f.Name, StringComparer.OrdinalIgnoreCase);
            total = files.Count;
            page = sorted.Skip(offset).Take(limit).ToList();
        }

        var entries = page.Select(file => ToEntry(project, file, document, request.IncludeDimensions ?? false)).ToList();
        return new ScanFolderResponse(formatter.Format(folder.FullPath), RelativeOf(project, folder.FullPath), total, offset, request.Limit ?? total, entries)
        {
            Message = $"Found {entries.Count} files",
        };
    }

    public async Task<ScanRecursiveResponse> ScanRecursiveAsync(ScanRecursiveRequest request, CancellationToken cancellationToken)
    {
        new RequestValidation(request)
            .Check(request.ProjectPath is { Length: > 0 } || request.FolderPath is { Length: > 0 }, "projectPath", "projectPath (or folderPath) is required", null)
            .ThrowIfInvalid();
        var (project, folder) = await paths.ProjectAndFolderAsync(request.ProjectPath, request.FolderPath, cancellationToken);
        var document = await store.ReadAsync(project.FullPath, cancellationToken);
        var folders = new List<FolderFiles>();
        var totalFiles = 0;
        long totalSize = 0;
        await foreach (var found in scanner.WalkAsync(project, folder.FullPath, name => MediaTypes.IsMedia(name), cancellationToken))
        {
            var files = found.Files.Select(file => ToEntry(project, file, document, request.IncludeDimensions ?? false)).ToList();
            var size = files.Sum(file => file.Size);
            totalFiles += files.Count;
            totalSize += size;
            var subfolders = found.Subfolders.Select(Path.GetFileName).OfType<string>().ToList();
            var relPath = ProjectPathResolver.PathComparer.Equals(found.FullPath, folder.FullPath) ? "." : RelativeOf(project, found.FullPath);
            folders.Add(new FolderFiles(Path.GetFileName(found.FullPath), formatter.Format(found.FullPath), relPath, files, subfolders, files.Count, size));
        }

        return new ScanRecursiveResponse(folders, totalFiles, totalSize) { Message = $"Scanned {folders.Count} folders, {totalFiles} files" };
    }

    public async Task<FileInfoResponse> FileInfoAsync(FileInfoRequest request, CancellationToken cancellationToken)
    {
        new RequestValidation(request).Required(request.FilePath, "filePath").ThrowIfInvalid();
        var project = await paths.ProjectOfFileAsync(request.ProjectPath, request.FilePath, "filePath", cancellationToken);
        var file = await paths.FileAsync(project, request.FilePath, "filePath", cancellationToken);
        var document = await store.ReadAsync(project.FullPath, cancellationToken);
        // Size, times, dimensions and metadata all come from the one handle that was verified.
        using var stream = ConfinedFile.OpenRead(file, "filePath");
        var facts = ConfinedFile.StatOf(stream);
        var found = new FoundFile(Path.GetFileName(file.FullPath), file.FullPath, facts.Length, facts.LastWriteUtc, facts.CreatedUtc);
        var entry = ToEntry(project, found, document, includeDimensions: true, stream);
        PngMetadataView? metadata = null;
        if (MediaTypes.IsPng(file.FullPath))
        {
            try
            {
                stream.Position = 0;
                metadata = ToView(PngMetadataReader.Read(stream));
            }
            catch (InvalidDataException ex)
            {
                throw new GalleryException(StatusCodes.Status422UnprocessableEntity, "Unreadable PNG", $"{file.FullPath} is not a readable PNG: {ex.Message}");
            }
        }

        return new FileInfoResponse(entry, metadata);
    }

    public async Task<FolderStatsResponse> FolderStatsAsync(FolderStatsRequest request, CancellationToken cancellationToken)
    {
        new RequestValidation(request)
            .Check(request.ProjectPath is { Length: > 0 } || request.FolderPath is { Length: > 0 }, "projectPath", "projectPath (or folderPath) is required", null)
            .ThrowIfInvalid();
        var (project, folder) = await paths.ProjectAndFolderAsync(request.ProjectPath, request.FolderPath, cancellationToken);
        int files = 0, images = 0, videos = 0, subfolders = -1;
        long size = 0;
        var byExtension = new Dictionary<string, (int Count, long Size)>(StringComparer.OrdinalIgnoreCase);
        await foreach (var found in scanner.WalkAsync(project, folder.FullPath, name => MediaTypes.IsMedia(name), cancellationToken))
        {
            subfolders++;
            foreach (var file in found.Files)
            {
                files++;
                size += file.Length;
                var type = MediaTypes.TypeOf(file.Name);
                images += type == MediaTypes.Image ? 1 : 0;
                videos += type == MediaTypes.Video ? 1 : 0;
                var extension = Path.GetExtension(file.Name).ToLowerInvariant();
                var (count, bytes) = byExtension.GetValueOrDefault(extension);
                byExtension[extension] = (count + 1, bytes + file.Length);
            }
        }

        var extensions = byExtension.OrderBy(e => e.Key, StringComparer.Ordinal).ToList();
        return new FolderStatsResponse(formatter.Format(folder.FullPath), files, size, images, videos, Math.Max(subfolders, 0),
            extensions.ToDictionary(e => e.Key, e => e.Value.Count), extensions.ToDictionary(e => e.Key, e => e.Value.Size))
        {
            Message = $"{files} files in {Math.Max(subfolders, 0) + 1} folders",
        };
    }

    /// <param name="opened">The file already open and verified, when the caller has it.</param>
    private FileEntry ToEntry(ConfinedPath project, FoundFile file, GalleryDocument document, bool includeDimensions, FileStream? opened = null)
    {
        var key = GalleryPaths.KeyOf(project, file.FullPath);
        var type = MediaTypes.TypeOf(file.Name);
        (int Width, int Height)? size = null;
        if (includeDimensions && type == MediaTypes.Image)
        {
            try
            {
                if (opened is not null)
                {
                    opened.Position = 0;
                    size = ImageDimensions.TryRead(opened);
                }
                else
                {
                    using var stream = ConfinedFile.OpenFoundFile(file.FullPath, project.FullPath);
                    size = ImageDimensions.TryRead(stream);
                }
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ApiProblemException or PathNotAllowedException)
            {
                // Gone, locked or leading elsewhere since the listing: shown without dimensions.
            }
        }

        return new FileEntry(file.Name, formatter.Format(file.FullPath), key, file.Length, GalleryResponse.EpochSeconds(file.LastWriteUtc),
            GalleryResponse.EpochSeconds(file.CreatedUtc), type, Path.GetExtension(file.Name).ToLowerInvariant(), size?.Width, size?.Height,
            document.RatingOf(key), TagInfo.Of(document.TagsOf(key), document));
    }

    private static IEnumerable<string> Order(List<string> names, Func<string, string> name, string field, Func<string, int> rating, bool descending)
    {
        var comparer = StringComparer.OrdinalIgnoreCase;
        IOrderedEnumerable<string> ordered = field switch
        {
            "type" => descending ? names.OrderByDescending(n => MediaTypes.TypeOf(n), comparer) : names.OrderBy(n => MediaTypes.TypeOf(n), comparer),
            "rating" => descending ? names.OrderByDescending(rating) : names.OrderBy(rating),
            _ => descending ? names.OrderByDescending(name, comparer) : names.OrderBy(name, comparer),
        };
        return field == "name" ? ordered : ordered.ThenBy(name, comparer);
    }

    private static (FoundFile? File, bool IsLink) TryStat(string fullPath)
    {
        try
        {
            var info = new FileInfo(fullPath);
            return (new FoundFile(info.Name, info.FullName, info.Length, info.LastWriteTimeUtc, info.CreationTimeUtc), info.Attributes.HasFlag(FileAttributes.ReparsePoint));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return (null, false);
        }
    }

    private static string RelativeOf(ConfinedPath project, string fullPath) =>
        GalleryPaths.KeyOf(project, fullPath) is var key && key == "." ? "" : key;

    internal static PngMetadataView ToView(IReadOnlyDictionary<string, string> chunks) =>
        new(AsJson(chunks.GetValueOrDefault("prompt")), AsJson(chunks.GetValueOrDefault("workflow")), chunks.GetValueOrDefault("parameters"),
            chunks.Where(c => c.Key is not ("prompt" or "workflow" or "parameters")).ToDictionary(c => c.Key, c => c.Value) is { Count: > 0 } other ? other : null);

    /// <summary>ComfyUI's chunks are JSON; a chunk that is not comes back as the string it is.</summary>
    private static JsonNode? AsJson(string? text)
    {
        if (text is null)
        {
            return null;
        }

        try
        {
            return JsonNode.Parse(text);
        }
        catch (JsonException)
        {
            return JsonValue.Create(text);
        }
    }
}
