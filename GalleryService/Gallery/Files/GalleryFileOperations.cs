using System.Text.RegularExpressions;
using DirectorsConsole.GalleryService.Gallery.Browsing;
using DirectorsConsole.GalleryService.Gallery.Storage;
using DirectorsConsole.GalleryService.Paths;
using DirectorsConsole.GalleryService.Project;
using Microsoft.Extensions.Options;

namespace DirectorsConsole.GalleryService.Gallery.Files;

/// <summary>
/// Moving and renaming project files with their <c>.json</c> sidecars, keeping ratings and tags with them. Every
/// operation holds the project's gallery lock, checks everything before touching a file, moves all or nothing
/// (<see cref="FileMoveExecutor"/>) and re-keys gallery.json; if saving gallery.json fails the files go back.
/// </summary>
public sealed class GalleryFileOperations(
    GalleryPaths paths,
    ProjectScanner scanner,
    GalleryStore store,
    FileMoveExecutor executor,
    IResponsePathFormatter formatter,
    IOptions<GalleryOptions> options,
    TimeProvider time,
    ILogger<GalleryFileOperations> logger)
{
    public async Task<MoveFilesResponse> MoveAsync(MoveFilesRequest request, CancellationToken cancellationToken)
    {
        var conflict = request.Conflict ?? "rename";
        new RequestValidation(request)
            .Required(request.Files, "files")
            .Check(request.Files is not { Count: 0 }, "files", "at least one file is required", request.Files)
            .Required(request.Destination, "destination")
            .OneOf(conflict, "conflict", "rename", "skip", "overwrite")
            .ThrowIfInvalid();
        var project = await paths.ProjectOfFileAsync(request.ProjectPath, request.Files![0], "files[0]", cancellationToken);
        var destination = await paths.WithinAsync(project, request.Destination, "destination", cancellationToken);
        if (GalleryPaths.IsInGalleryFolder(project, destination.FullPath))
        {
            throw new PathNotAllowedException("destination", $"'destination' points into the project's {MediaTypes.GalleryFolder} folder.");
        }

        if (File.Exists(destination.FullPath))
        {
            throw GalleryException.Conflict($"The destination is a file, not a folder: {destination.FullPath}");
        }

        var files = await paths.FilesAsync(project, request.Files, "files", cancellationToken);
        return await store.WithLockAsync(project.FullPath, async transaction =>
        {
            var moves = new List<FileMove>();
            var overwritten = new List<string>();
            var moved = new List<MovedFile>();
            var skipped = new List<SkippedFile>();
            var taken = new HashSet<string>(ProjectPathResolver.PathComparer);
            foreach (var file in files)
            {
                var source = file.FullPath;
                var target = Path.Combine(destination.FullPath, Path.GetFileName(source));
                if (ProjectPathResolver.PathComparer.Equals(Path.GetDirectoryName(source), destination.FullPath))
                {
                    skipped.Add(new SkippedFile(formatter.Format(source), "already in the destination"));
                    continue;
                }

                var sourceSidecar = SidecarIfAny(source);
                if (IsTaken(target, sourceSidecar, taken))
                {
                    switch (conflict)
                    {
                        case "skip":
                            skipped.Add(new SkippedFile(formatter.Format(source), $"{Path.GetFileName(target)} already exists in the destination"));
                            continue;
                        case "rename":
                            target = FreeName(target, sourceSidecar is not null, taken);
                            break;
                        default:
                            if (taken.Contains(target) || Directory.Exists(target))
                            {
                                throw GalleryException.Conflict(Directory.Exists(target)
                                    ? $"{target} is a folder; overwrite replaces files only."
                                    : $"Two of the files are called {Path.GetFileName(target)}; overwrite cannot keep both.");
                            }

                            overwritten.Add(target);
                            if (SidecarIfAny(target) is { } targetSidecar)
                            {
                                overwritten.Add(targetSidecar);
                            }

                            break;
                    }
                }

                taken.Add(target);
                moves.Add(new FileMove(source, target));
                if (sourceSidecar is not null)
                {
                    var sidecarTarget = MediaTypes.SidecarOf(target);
                    taken.Add(sidecarTarget);
                    moves.Add(new FileMove(sourceSidecar, sidecarTarget));
                }

                moved.Add(new MovedFile(formatter.Format(source), formatter.Format(target),
                    GalleryPaths.KeyOf(project, source), GalleryPaths.KeyOf(project, target)));
            }

            if (moves.Count > 0)
            {
                await MoveAndSaveAsync(transaction, moves, overwritten, document =>
                {
                    document.Forget(overwritten.Select(path => GalleryPaths.KeyOf(project, path)));
                    document.Rekey(moved.Select(m => (m.OldRelPath, m.NewRelPath)));
                    return true;
                });
            }

            return new MoveFilesResponse(moved, skipped.Select(file => file.Path).ToList(), skipped, [])
            {
                Message = $"Moved {moved.Count}, skipped {skipped.Count}, errors 0",
            };
        }, cancellationToken);
    }

    public async Task<RenameFileResponse> RenameAsync(RenameFileRequest request, CancellationToken cancellationToken)
    {
        new RequestValidation(request)
            .Required(request.FilePath, "filePath")
            .Required(request.NewName, "newName")
            .ThrowIfInvalid();
        var project = await paths.ProjectOfFileAsync(request.ProjectPath, request.FilePath, "filePath", cancellationToken);
        var file = await paths.FileAsync(project, request.FilePath, "filePath", cancellationToken);
        var newName = WithExtension(ClientNames.Validate(request.NewName, "newName"), file.FullPath);
        return await store.WithLockAsync(project.FullPath, async transaction =>
        {
            var plan = Plan(project, [(file, newName, null)]);
            var item = plan[0];
            if (item.Conflict is not null)
            {
                throw GalleryException.Conflict(item.Conflict == "exists" ? $"File already exists: {item.TargetPath}" : item.Detail!);
            }

            if (!item.Unchanged)
            {
                await ExecuteRenamesAsync(transaction, project, plan);
            }

            return new RenameFileResponse(formatter.Format(file.FullPath), formatter.Format(item.TargetPath),
                GalleryPaths.KeyOf(project, item.TargetPath), Path.GetFileName(item.TargetPath))
            {
                Message = $"Renamed to {Path.GetFileName(item.TargetPath)}",
            };
        }, cancellationToken);
    }

    public async Task<BatchRenameResponse> BatchRenameAsync(BatchRenameRequest request, CancellationToken cancellationToken)
    {
        var mode = request.Mode ?? "template";
        var padWidth = request.PadWidth ?? 3;
        var validation = new RequestValidation(request)
            .Required(request.Files, "files")
            .Check(request.Files is not { Count: 0 }, "files", "at least one file is required", request.Files)
            .OneOf(mode, "mode", "template", "regex", "sequential")
            .Check(padWidth is >= 1 and <= 6, "padWidth", "padWidth must be between 1 and 6", padWidth)
            .Check(request.StartNumber is null or >= 0, "startNumber", "startNumber may not be negative", request.StartNumber);
        Regex? regex = null;
        switch (mode)
        {
            case "template":
                validation.Required(request.Template, "template");
                if (request.Template is { Length: > 0 } given && RenameTemplate.Check(given) is { } problem)
                {
                    validation.Check(false, "template", problem, given);
                }

                break;
            case "regex":
                validation.Required(request.Find, "find");
                regex = request.Find is { Length: > 0 } find ? CompileRegex(find, request.CaseSensitive ?? true, validation) : null;
                break;
            case "sequential":
                if (request.Prefix is { } prefix && RenameTemplate.Check(prefix) is { } prefixProblem)
                {
                    validation.Check(false, "prefix", prefixProblem, prefix);
                }

                break;
        }

        validation.ThrowIfInvalid();
        var project = await paths.ProjectOfFileAsync(request.ProjectPath, request.Files![0], "files[0]", cancellationToken);
        var files = await paths.FilesAsync(project, request.Files, "files", cancellationToken);
        var template = mode == "sequential" ? (request.Prefix ?? "{folder}_") + "{index}" : request.Template;
        var budget = regex is null ? null : PatternBudget.Start(time, options.Value.PatternBudget, "find", InvalidClientPathException.Body, request.Find!);
        var names = NewNames(project, files, request.StartNumber ?? 1, padWidth, request.ProjectName, template, regex, budget, request.Replace ?? "");
        return await RenameBatchAsync(project, names, request.DryRun ?? true, cancellationToken);
    }

    public async Task<BatchRenameResponse> AutoRenameAsync(AutoRenameRequest request, CancellationToken cancellationToken)
    {
        var pattern = request.NamingPattern ?? "{folder}_{index:03d}";
        var validation = new RequestValidation(request)
            .Check(request.ProjectPath is { Length: > 0 } || request.FolderPath is { Length: > 0 }, "projectPath", "projectPath (or folderPath) is required", null);
        if (RenameTemplate.Check(pattern) is { } problem)
        {
            validation.Check(false, "namingPattern", problem, pattern);
        }

        validation.Check(request.StartNumber is null or >= 0, "startNumber", "startNumber may not be negative", request.StartNumber).ThrowIfInvalid();
        var (project, folder) = await paths.ProjectAndFolderAsync(request.ProjectPath, request.FolderPath, cancellationToken);
        // The scan keeps a link only when it still leads inside the project.
        var (_, found) = await scanner.ListAsync(project, folder.FullPath, name => MediaTypes.IsMedia(name), cancellationToken);
        var files = found.Select(file => new ConfinedPath(file.FullPath, project.Root)).ToList();
        var names = NewNames(project, files, request.StartNumber ?? 1, 3, request.ProjectName, pattern, null, null, "");
        return await RenameBatchAsync(project, names, request.DryRun ?? true, cancellationToken);
    }

    private async Task<BatchRenameResponse> RenameBatchAsync(
        ConfinedPath project, IReadOnlyList<(ConfinedPath File, string? NewName, string? Invalid)> names, bool dryRun, CancellationToken cancellationToken)
    {
        if (dryRun)
        {
            var preview = Plan(project, names);
            var problems = preview.Where(p => p.Conflict is not null).Select(p => $"{p.NewName}: {p.Detail}").ToList();
            return new BatchRenameResponse(true, 0, problems.Count, preview.Select(ToPreview).ToList(), problems)
            {
                Message = $"Preview: {preview.Count} files",
            };
        }

        return await store.WithLockAsync(project.FullPath, async transaction =>
        {
            var plan = Plan(project, names);
            var conflicts = plan.Where(p => p.Conflict is not null).ToList();
            if (conflicts.Count > 0)
            {
                var error = GalleryException.Conflict(
                    $"{conflicts.Count} of the {plan.Count} renames cannot be done, so none was: " +
                    string.Join("; ", conflicts.Take(5).Select(c => $"{Path.GetFileName(c.Source.FullPath)} → {c.NewName}: {c.Detail}")));
                error.Extensions["previews"] = plan.Select(ToPreview).ToList();
                throw error;
            }

            var renamed = await ExecuteRenamesAsync(transaction, project, plan);
            return new BatchRenameResponse(false, renamed, 0, plan.Select(ToPreview).ToList(), []) { Message = $"Renamed: {plan.Count} files" };
        }, cancellationToken);
    }

    /// <summary>The new name of each file, in creation-time order (then by name), as the original numbered them.</summary>
    private static List<(ConfinedPath File, string? NewName, string? Invalid)> NewNames(
        ConfinedPath project, IReadOnlyList<ConfinedPath> files, int start, int padWidth, string? projectName,
        string? template, Regex? regex, PatternBudget? budget, string replacement)
    {
        var ordered = files
            .Select(file => (File: file, Info: new FileInfo(file.FullPath)))
            .OrderBy(f => f.Info.CreationTimeUtc)
            .ThenBy(f => f.Info.Name, StringComparer.OrdinalIgnoreCase)
            .ToList();
        var result = new List<(ConfinedPath, string?, string?)>();
        for (var i = 0; i < ordered.Count; i++)
        {
            var (file, info) = ordered[i];
            var stem = Path.GetFileNameWithoutExtension(info.Name);
            string name;
            if (regex is not null)
            {
                name = budget!.Replace(regex, stem, replacement) + info.Extension;
            }
            else
            {
                var context = new RenameContext(projectName ?? Path.GetFileName(project.FullPath), Path.GetFileName(Path.GetDirectoryName(file.FullPath)!),
                    stem, info.Extension.TrimStart('.'), start + i, info.CreationTimeUtc);
                name = WithExtension(RenameTemplate.Render(template!, context, padWidth), file.FullPath);
            }

            try
            {
                result.Add((file, ClientNames.Validate(name, "newName"), null));
            }
            catch (InvalidClientPathException ex)
            {
                result.Add((file, name, ex.Message.Replace("'newName'", $"'{name}'", StringComparison.Ordinal)));
            }
        }

        return result;
    }

    private Regex? CompileRegex(string pattern, bool caseSensitive, RequestValidation validation)
    {
        try
        {
            var regexOptions = RegexOptions.CultureInvariant | (caseSensitive ? RegexOptions.None : RegexOptions.IgnoreCase);
            return new Regex(pattern, regexOptions, options.Value.RegexTimeout);
        }
        catch (ArgumentException ex)
        {
            validation.Check(false, "find", $"not a valid regular expression: {ex.Message}", pattern);
            return null;
        }
    }

    /// <summary>Targets and conflicts of a set of renames within their folders, counting the files and sidecars
    /// that move away (a swap is no conflict) and the names the batch itself gives out twice.</summary>
    private static List<PlannedRename> Plan(ConfinedPath project, IReadOnlyList<(ConfinedPath File, string? NewName, string? Invalid)> names)
    {
        var comparer = ProjectPathResolver.PathComparer;
        var planned = names.Select(n =>
        {
            var source = n.File.FullPath;
            var target = Path.Combine(Path.GetDirectoryName(source)!, n.NewName ?? "");
            return new PlannedRename(n.File, n.NewName ?? "", target, SidecarIfAny(source), string.Equals(source, target, StringComparison.Ordinal),
                n.Invalid is null ? null : "invalid", n.Invalid);
        }).ToList();

        var moving = planned.Where(p => p.Conflict is null && !p.Unchanged).ToList();
        var leaving = new HashSet<string>(moving.SelectMany(p => p.Sidecar is null ? [p.Source.FullPath] : new[] { p.Source.FullPath, p.Sidecar }), comparer);
        var arriving = moving
            .SelectMany(p => p.Sidecar is null ? [p.TargetPath] : new[] { p.TargetPath, MediaTypes.SidecarOf(p.TargetPath) })
            .GroupBy(path => path, comparer)
            .ToDictionary(group => group.Key, group => group.Count(), comparer);
        for (var i = 0; i < planned.Count; i++)
        {
            var p = planned[i];
            if (p.Conflict is not null || p.Unchanged)
            {
                continue;
            }

            var sidecarTarget = p.Sidecar is null ? null : MediaTypes.SidecarOf(p.TargetPath);
            if (arriving[p.TargetPath] > 1 || (sidecarTarget is not null && arriving[sidecarTarget] > 1))
            {
                planned[i] = p with { Conflict = "inBatch", Detail = $"another file of this batch would also be named {Path.GetFileName(p.TargetPath)}" };
            }
            else if (Exists(p.TargetPath) && !leaving.Contains(p.TargetPath))
            {
                planned[i] = p with { Conflict = "exists", Detail = $"{Path.GetFileName(p.TargetPath)} already exists" };
            }
            else if (sidecarTarget is not null && Exists(sidecarTarget) && !leaving.Contains(sidecarTarget))
            {
                planned[i] = p with { Conflict = "exists", Detail = $"its sidecar would replace the existing {Path.GetFileName(sidecarTarget)}" };
            }
        }

        return planned;
    }

    private async Task<int> ExecuteRenamesAsync(GalleryTransaction transaction, ConfinedPath project, IReadOnlyList<PlannedRename> plan)
    {
        var changing = plan.Where(p => !p.Unchanged).ToList();
        var moves = changing.SelectMany(p => p.Sidecar is null
            ? [new FileMove(p.Source.FullPath, p.TargetPath)]
            : new[] { new FileMove(p.Source.FullPath, p.TargetPath), new FileMove(p.Sidecar, MediaTypes.SidecarOf(p.TargetPath)) }).ToList();
        await MoveAndSaveAsync(transaction, moves, [], document =>
        {
            document.Rekey(changing.Select(p => (GalleryPaths.KeyOf(project, p.Source.FullPath), GalleryPaths.KeyOf(project, p.TargetPath))));
            return true;
        });
        return changing.Count;
    }

    /// <summary>Moves the files, then saves the gallery; when saving fails the files are moved back.</summary>
    private async Task MoveAndSaveAsync(GalleryTransaction transaction, IReadOnlyList<FileMove> moves, IReadOnlyCollection<string> overwritten, Func<GalleryDocument, bool> apply)
    {
        var moved = executor.Execute(transaction.ProjectRoot, moves, overwritten);
        try
        {
            await transaction.UpdateAsync(apply);
        }
        catch (Exception ex)
        {
            var left = moved.Undo();
            logger.LogWarning(ex, "Saving the gallery of {Project} failed after moving {Count} files; moved them back ({Left} could not be)",
                transaction.ProjectRoot, moves.Count, left.Count);
            throw;
        }

        moved.Commit();
    }

    /// <summary>Paths as the client writes them, like every other path this service answers with: the app maps old
    /// paths to new ones with them.</summary>
    private RenamePreview ToPreview(PlannedRename p) =>
        new(formatter.Format(p.Source.FullPath), Path.GetFileName(p.Source.FullPath), p.NewName, formatter.Format(p.TargetPath), p.Unchanged, p.Conflict, p.Detail);

    /// <summary>The original appends the old extension only when the new name has none.</summary>
    private static string WithExtension(string name, string oldPath) =>
        Path.HasExtension(name) ? name : name + Path.GetExtension(oldPath);

    private static string? SidecarIfAny(string mediaPath)
    {
        var sidecar = MediaTypes.SidecarOf(mediaPath);
        return !string.Equals(sidecar, mediaPath, StringComparison.Ordinal) && File.Exists(sidecar) ? sidecar : null;
    }

    private static bool Exists(string path) => File.Exists(path) || Directory.Exists(path);

    private static bool IsTaken(string target, string? sourceSidecar, HashSet<string> taken) =>
        taken.Contains(target) || Exists(target) || (sourceSidecar is not null && (taken.Contains(MediaTypes.SidecarOf(target)) || Exists(MediaTypes.SidecarOf(target))));

    /// <summary><c>name_1.png</c>, <c>name_2.png</c>…: the first name free on disk and in the batch (with its sidecar).</summary>
    private static string FreeName(string target, bool withSidecar, HashSet<string> taken)
    {
        var folder = Path.GetDirectoryName(target)!;
        var stem = Path.GetFileNameWithoutExtension(target);
        var extension = Path.GetExtension(target);
        for (var n = 1; ; n++)
        {
            var candidate = Path.Combine(folder, $"{stem}_{n}{extension}");
            if (!IsTaken(candidate, withSidecar ? "" : null, taken))
            {
                return candidate;
            }
        }
    }

    private sealed record PlannedRename(ConfinedPath Source, string NewName, string TargetPath, string? Sidecar, bool Unchanged, string? Conflict, string? Detail);
}
