using System.Text.Json;
using System.Text.Json.Serialization;
using DirectorsConsole.GalleryService.Gallery.Files;
using DirectorsConsole.GalleryService.Gallery.Storage;
using DirectorsConsole.GalleryService.Paths;
using DirectorsConsole.GalleryService.Project;

namespace DirectorsConsole.GalleryService.Gallery.Trash;

/// <summary>What the trash knows of one trashed file, in <c>.gallery/.trash/{id}.json</c> beside the folder
/// <c>.gallery/.trash/{id}/</c> that holds the file (and its sidecar). <see cref="Record"/> is the file's gallery
/// entry (rating, tags, notes) when it was trashed, so a restore brings them back.</summary>
public sealed record TrashInfo(
    [property: JsonPropertyName("id")] string Id,
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("original_path")] string OriginalPath,
    [property: JsonPropertyName("sidecar")] string? Sidecar,
    [property: JsonPropertyName("size")] long Size,
    [property: JsonPropertyName("trashed_at")] DateTimeOffset TrashedAt,
    [property: JsonPropertyName("record")] GalleryFileRecord? Record);

/// <summary>
/// Soft delete into <c>{project}/.gallery/.trash/</c>. One folder and one info file per trashed file (no shared
/// manifest, so two writers never rewrite each other's list). Trashing writes the info first, moves the files all or
/// nothing, then takes the entries out of gallery.json (and updates the info if the entry changed meanwhile).
/// Restoring re-checks the stored original path like any client path, adds <c>_N</c> when the name is taken again,
/// and puts the rating and tags back.
/// </summary>
public sealed class GalleryTrash(
    GalleryPaths paths,
    GalleryStore store,
    FileMoveExecutor executor,
    IResponsePathFormatter formatter,
    TimeProvider time,
    ILogger<GalleryTrash> logger)
{
    public const string TrashFolder = ".trash";

    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true };

    public static string TrashOf(string projectRoot) => Path.Combine(GalleryStore.GalleryFolderOf(projectRoot), TrashFolder);

    /// <summary>The project's trash folder, opened and verified; null when absent and not <paramref name="create"/>.</summary>
    private static ConfinedFolder? OpenTrash(string projectRoot, bool create)
    {
        using var gallery = GalleryStore.OpenGalleryFolder(projectRoot, create);
        try
        {
            return gallery?.Subfolder(TrashFolder, create, out _);
        }
        catch (ApiProblemException ex) when (ex.Status == StatusCodes.Status404NotFound && !create)
        {
            return null;
        }
    }

    public async Task<TrashResponse> TrashAsync(TrashRequest request, CancellationToken cancellationToken)
    {
        new RequestValidation(request)
            .Required(request.ProjectPath, "projectPath")
            .Required(request.Files, "files")
            .Check(request.Files is not { Count: 0 }, "files", "at least one file is required", request.Files)
            .ThrowIfInvalid();
        var project = await paths.ProjectAsync(request.ProjectPath, "projectPath", cancellationToken);
        var files = await paths.FilesAsync(project, request.Files, "files", cancellationToken);
        var trash = TrashOf(project.FullPath);
        return await store.WithLockAsync(project.FullPath, async transaction =>
        {
            var infos = new List<TrashInfo>();
            var moves = new List<FileMove>();
            foreach (var file in files)
            {
                var id = Guid.NewGuid().ToString();
                var key = GalleryPaths.KeyOf(project, file.FullPath);
                var sidecar = MediaTypes.SidecarOf(file.FullPath);
                var hasSidecar = !string.Equals(sidecar, file.FullPath, StringComparison.Ordinal) && File.Exists(sidecar);
                var name = Path.GetFileName(file.FullPath);
                infos.Add(new TrashInfo(id, name, key, hasSidecar ? Path.GetFileName(sidecar) : null, new FileInfo(file.FullPath).Length,
                    time.GetUtcNow(), transaction.Current.Files.GetValueOrDefault(key)));
                moves.Add(new FileMove(file.FullPath, Path.Combine(trash, id, name)));
                if (hasSidecar)
                {
                    moves.Add(new FileMove(sidecar, Path.Combine(trash, id, Path.GetFileName(sidecar))));
                }
            }

            foreach (var info in infos)
            {
                await WriteInfoAsync(project.FullPath, info, cancellationToken);
            }

            MovedFiles moved;
            try
            {
                moved = executor.Execute(project.FullPath, moves, []);
            }
            catch
            {
                DeleteInfos(project.FullPath, infos);
                throw;
            }

            Dictionary<string, GalleryFileRecord?> records;
            try
            {
                records = await transaction.UpdateAsync(document => infos.ToDictionary(info => info.Id, info => document.TakeOut(info.OriginalPath)));
            }
            catch
            {
                moved.Undo();
                DeleteInfos(project.FullPath, infos);
                throw;
            }

            moved.Commit();
            foreach (var info in infos.Where(info => !SameRecord(info.Record, records[info.Id])))
            {
                // Rated or tagged by another writer between our read and the save: keep what it was at the end.
                await WriteInfoAsync(project.FullPath, info with { Record = records[info.Id] }, cancellationToken);
            }

            var items = infos.Select(info => new TrashedFile(info.Id, info.Name, info.OriginalPath,
                formatter.Format(Path.Combine(project.FullPath, info.OriginalPath)))).ToList();
            return new TrashResponse(items.Select(item => item.OriginalFullPath).ToList(), items, []) { Message = $"Trashed {items.Count} file(s)" };
        }, cancellationToken);
    }

    public async Task<TrashListResponse> ListAsync(string? projectPath, CancellationToken cancellationToken)
    {
        RequestValidation.Query().Required(projectPath, "projectPath").ThrowIfInvalid();
        var project = await paths.ProjectAsync(projectPath, "projectPath", cancellationToken);
        var document = await store.ReadAsync(project.FullPath, cancellationToken);
        var trash = TrashOf(project.FullPath);
        var items = ReadInfos(project.FullPath)
            .Where(info => File.Exists(Path.Combine(trash, info.Id, info.Name)))
            .OrderByDescending(info => info.TrashedAt)
            .Select(info => new TrashItem(info.Id, info.Name, formatter.Format(Path.Combine(trash, info.Id, info.Name)),
                info.OriginalPath, formatter.Format(Path.Combine(project.FullPath, info.OriginalPath)), info.Size,
                GalleryResponse.IsoTimestamp(info.TrashedAt), MediaTypes.TypeOf(info.Name), info.Record?.Rating ?? 0,
                TagInfo.Of(info.Record?.TagIds ?? [], document)))
            .ToList();
        return new TrashListResponse(items, items.Count, items.Sum(item => item.Size))
        {
            Message = items.Count == 0 ? "Trash is empty" : $"{items.Count} file(s) in trash",
        };
    }

    public async Task<RestoreResponse> RestoreAsync(RestoreRequest request, CancellationToken cancellationToken)
    {
        var validation = new RequestValidation(request)
            .Required(request.ProjectPath, "projectPath")
            .Check(request.TrashIds is { Count: > 0 } || request.FilePaths is { Count: > 0 }, "trashIds",
                "name the items to restore by trashIds, or by filePaths (their paths in the trash listing)", null);
        for (var i = 0; i < (request.TrashIds?.Count ?? 0); i++)
        {
            validation.Check(Guid.TryParse(request.TrashIds![i], out _), $"trashIds[{i}]", "not a trash id (a UUID)", request.TrashIds[i]);
        }

        validation.ThrowIfInvalid();
        var project = await paths.ProjectAsync(request.ProjectPath, "projectPath", cancellationToken);
        var ids = (request.TrashIds ?? []).Select(id => Guid.Parse(id!).ToString()).ToList();
        for (var i = 0; i < (request.FilePaths?.Count ?? 0); i++)
        {
            ids.Add(await TrashIdOfAsync(project, request.FilePaths![i], $"filePaths[{i}]", cancellationToken));
        }

        var trash = TrashOf(project.FullPath);
        return await store.WithLockAsync(project.FullPath, async transaction =>
        {
            var infos = new List<TrashInfo>();
            foreach (var id in ids.Distinct())
            {
                var info = ReadInfos(project.FullPath, id + ".json").FirstOrDefault();
                if (info is null || !File.Exists(Path.Combine(trash, id, info.Name)))
                {
                    throw GalleryException.NotFound($"No item {id} in the trash of {project.FullPath}.");
                }

                infos.Add(info);
            }

            var moves = new List<FileMove>();
            var restored = new List<(TrashInfo Info, string Target)>();
            var taken = new HashSet<string>(ProjectPathResolver.PathComparer);
            foreach (var info in infos)
            {
                // The info file is data on disk like any other: its path must still lead inside the project.
                var original = await paths.WithinAsync(project, info.OriginalPath, "original_path", cancellationToken);
                var target = FreeTarget(original.FullPath, info.Sidecar is not null, taken);
                taken.Add(target);
                moves.Add(new FileMove(Path.Combine(trash, info.Id, info.Name), target));
                if (info.Sidecar is not null && File.Exists(Path.Combine(trash, info.Id, info.Sidecar)))
                {
                    taken.Add(MediaTypes.SidecarOf(target));
                    moves.Add(new FileMove(Path.Combine(trash, info.Id, info.Sidecar), MediaTypes.SidecarOf(target)));
                }

                restored.Add((info, target));
            }

            var moved = executor.Execute(project.FullPath, moves, []);
            try
            {
                await transaction.UpdateAsync(document =>
                {
                    foreach (var (info, target) in restored.Where(r => r.Info.Record is not null))
                    {
                        document.PutBack(GalleryPaths.KeyOf(project, target), info.Record!);
                    }

                    return true;
                });
            }
            catch
            {
                moved.Undo();
                throw;
            }

            moved.Commit();
            DeleteInfos(project.FullPath, infos);
            var items = restored.Select(r => new RestoredFile(r.Info.Id, formatter.Format(r.Target), GalleryPaths.KeyOf(project, r.Target))).ToList();
            return new RestoreResponse(items.Select(item => item.Path).ToList(), items, []) { Message = $"Restored {items.Count} file(s)" };
        }, cancellationToken);
    }

    public async Task<EmptyTrashResponse> EmptyAsync(EmptyTrashRequest request, CancellationToken cancellationToken)
    {
        var validation = new RequestValidation(request).Required(request.ProjectPath, "projectPath");
        for (var i = 0; i < (request.TrashIds?.Count ?? 0); i++)
        {
            validation.Check(Guid.TryParse(request.TrashIds![i], out _), $"trashIds[{i}]", "not a trash id (a UUID)", request.TrashIds[i]);
        }

        validation.ThrowIfInvalid();
        var project = await paths.ProjectAsync(request.ProjectPath, "projectPath", cancellationToken);
        var trash = TrashOf(project.FullPath);
        return await store.WithLockAsync(project.FullPath, transaction =>
        {
            var all = ReadInfos(project.FullPath).ToList();
            var wanted = request.TrashIds is { Count: > 0 } ids ? ids.Select(id => Guid.Parse(id!).ToString()).ToHashSet() : null;
            if (wanted is not null && wanted.FirstOrDefault(id => all.All(info => info.Id != id)) is { } unknown)
            {
                throw GalleryException.NotFound($"No item {unknown} in the trash of {project.FullPath}.");
            }

            var deleted = 0;
            long freed = 0;
            using var trashFolder = OpenTrash(project.FullPath, create: false);
            foreach (var info in all.Where(info => wanted is null || wanted.Contains(info.Id)))
            {
                // Each item's folder is opened without following a link, and its files are measured and deleted
                // through that handle: a folder swapped for a link cannot make this delete or report other files.
                if (trashFolder is not null && Directory.Exists(Path.Combine(trash, info.Id)))
                {
                    using var item = trashFolder.Subfolder(info.Id, create: false, out _);
                    foreach (var name in Directory.EnumerateFiles(item.FullPath).Select(Path.GetFileName).OfType<string>())
                    {
                        using (var file = item.OpenRead(name))
                        {
                            freed += ConfinedFile.StatOf(file).Length;
                        }

                        item.Delete(name);
                    }

                    trashFolder.Delete(info.Id, isFolder: true);
                }

                trashFolder?.TryDelete(info.Id + ".json");
                deleted++;
            }

            logger.LogInformation("Emptied {Count} items ({Bytes} bytes) from the trash of {Project}", deleted, freed, project.FullPath);
            return Task.FromResult(new EmptyTrashResponse(deleted, freed, []) { Message = deleted == 0 ? "Trash already empty" : "Trash emptied" });
        }, cancellationToken);
    }

    /// <summary>The trash item a path of the trash listing belongs to: <c>{trash}/{id}/{name}</c>. The path is resolved
    /// and confined like any client path; one that is not an item of this project's trash is a 422.</summary>
    private async Task<string> TrashIdOfAsync(ConfinedPath project, string? trashedPath, string field, CancellationToken cancellationToken)
    {
        var file = await paths.WithinAsync(project, trashedPath, field, cancellationToken);
        var parts = Path.GetRelativePath(TrashOf(project.FullPath), file.FullPath).Split(Path.DirectorySeparatorChar);
        var id = parts is [var folder, var name] && name is not ("" or "." or "..") && Guid.TryParse(folder, out var parsed) ? parsed.ToString() : null;
        new RequestValidation(null).Check(id is not null, field, $"not a file in the trash of {project.FullPath}", trashedPath).ThrowIfInvalid();
        return id!;
    }

    /// <summary>The trash's info files (all, or the one named), read through the verified trash folder.</summary>
    private List<TrashInfo> ReadInfos(string projectRoot, string? only = null)
    {
        using var trash = OpenTrash(projectRoot, create: false);
        var infos = new List<TrashInfo>();
        if (trash is null)
        {
            return infos;
        }

        var names = only is not null ? [only] : Directory.EnumerateFiles(trash.FullPath, "*.json").Select(Path.GetFileName).OfType<string>();
        foreach (var name in names)
        {
            if (ReadInfo(trash, name) is { } info)
            {
                infos.Add(info);
            }
        }

        return infos;
    }

    private TrashInfo? ReadInfo(ConfinedFolder trash, string name)
    {
        try
        {
            using var stream = trash.OpenRead(name);
            var info = JsonSerializer.Deserialize<TrashInfo>(stream, Json);
            // The id names folders: accept only what this service writes.
            return info is not null && Guid.TryParse(info.Id, out _) && Path.GetFileNameWithoutExtension(name) == info.Id
                && Path.GetFileName(info.Name) == info.Name && (info.Sidecar is null || Path.GetFileName(info.Sidecar) == info.Sidecar)
                ? info
                : null;
        }
        catch (Exception ex) when (ex is JsonException or IOException or ApiProblemException or PathNotAllowedException)
        {
            if (ex is JsonException)
            {
                logger.LogWarning(ex, "Ignored the unreadable trash info {File}", trash.PathOf(name));
            }

            return null;
        }
    }

    private static async Task WriteInfoAsync(string projectRoot, TrashInfo info, CancellationToken cancellationToken)
    {
        using var trash = OpenTrash(projectRoot, create: true)!;
        await AtomicFile.ReplaceAsync(trash, info.Id + ".json", JsonSerializer.SerializeToUtf8Bytes(info, Json), stillCurrent: null, cancellationToken);
    }

    private void DeleteInfos(string projectRoot, IEnumerable<TrashInfo> infos)
    {
        using var trash = OpenTrash(projectRoot, create: false);
        foreach (var info in infos)
        {
            if (trash is null || !trash.TryDelete(info.Id + ".json"))
            {
                logger.LogWarning("Could not remove the trash info of {Id}", info.Id);
                continue;
            }

            // Its folder goes too once empty (a folder still holding a file is kept).
            trash.TryDelete(info.Id, isFolder: true);
        }
    }

    private static bool SameRecord(GalleryFileRecord? a, GalleryFileRecord? b) =>
        JsonSerializer.Serialize(a, Json) == JsonSerializer.Serialize(b, Json);

    private static string FreeTarget(string original, bool withSidecar, HashSet<string> taken)
    {
        bool Free(string path) => !taken.Contains(path) && !File.Exists(path) && !Directory.Exists(path)
            && (!withSidecar || (!taken.Contains(MediaTypes.SidecarOf(path)) && !File.Exists(MediaTypes.SidecarOf(path))));
        if (Free(original))
        {
            return original;
        }

        var folder = Path.GetDirectoryName(original)!;
        for (var n = 1; ; n++)
        {
            var candidate = Path.Combine(folder, $"{Path.GetFileNameWithoutExtension(original)}_{n}{Path.GetExtension(original)}");
            if (Free(candidate))
            {
                return candidate;
            }
        }
    }
}
