using DirectorsConsole.GalleryService.Paths;
using DirectorsConsole.GalleryService.Project;

namespace DirectorsConsole.GalleryService.Gallery.Files;

/// <summary>One file to move or rename (full paths, both already confined to the project).</summary>
public sealed record FileMove(string Source, string Target);

/// <summary>
/// Moves a set of files all or nothing, in two phases: every source first gets a temporary hidden name beside
/// itself, then every temporary file takes its target name. So swaps and chains (a→b, b→a) work, and a failure at
/// any step (a target that appeared meanwhile, a permission error, a file that became a folder) puts back every
/// file already moved, in reverse order. Files to be overwritten are first set aside the same way and deleted
/// only when the caller commits, after it has saved the gallery; if saving fails the caller undoes the moves.
/// Every step is a rename between folders opened and verified inside the project (<see cref="ConfinedFile"/>), so a
/// folder swapped for a link meanwhile cannot take a file out; a move to another file system is refused, never copied.
/// </summary>
public class FileMoveExecutor(ILogger<FileMoveExecutor> logger)
{
    public MovedFiles Execute(string projectRoot, IReadOnlyList<FileMove> moves, IReadOnlyCollection<string> overwritten)
    {
        var token = Guid.NewGuid().ToString("N")[..12];
        var done = new List<(string From, string To)>();
        var createdFolders = new List<string>();
        var asideFiles = new List<string>();
        var current = "";
        try
        {
            foreach (var folder in moves.Select(move => Path.GetDirectoryName(move.Target)!).Distinct())
            {
                current = $"creating {folder}";
                ConfinedFile.OpenOrCreateFolder(projectRoot, folder, createdFolders).Dispose();
            }

            foreach (var path in overwritten.Where(File.Exists))
            {
                var aside = Beside(path, token, $"r{asideFiles.Count}");
                current = $"setting aside {path}";
                MoveOne(projectRoot, path, aside);
                done.Add((path, aside));
                asideFiles.Add(aside);
            }

            var temporary = new string[moves.Count];
            for (var i = 0; i < moves.Count; i++)
            {
                temporary[i] = Beside(moves[i].Source, token, i.ToString(System.Globalization.CultureInfo.InvariantCulture));
                current = $"moving {moves[i].Source} to a temporary name";
                MoveOne(projectRoot, moves[i].Source, temporary[i]);
                done.Add((moves[i].Source, temporary[i]));
            }

            for (var i = 0; i < moves.Count; i++)
            {
                current = $"moving {moves[i].Source} to {moves[i].Target}";
                MoveOne(projectRoot, temporary[i], moves[i].Target);
                done.Add((temporary[i], moves[i].Target));
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ApiProblemException or PathNotAllowedException)
        {
            var (notUndone, kept) = RollBack(projectRoot, done, createdFolders);
            logger.LogWarning(ex, "Moving {Count} files failed while {Step}; rolled back {Undone} steps", moves.Count, current, done.Count - notUndone.Count - kept.Count);
            if (notUndone.Count == 0 && kept.Count > 0)
            {
                // Something else created a file under a name being put back: the project changed under the operation.
                throw new GalleryException(StatusCodes.Status409Conflict, "Files not moved",
                    $"The operation failed while {current} ({ex.Message}), and every file already moved was put back, except where " +
                    $"another file took its name meanwhile: {string.Join("; ", kept)}.");
            }

            if (notUndone.Count == 0)
            {
                // The status says why (a folder swapped for a link leading out: 403, a full disk: 507, else 409).
                var status = ex switch
                {
                    PathNotAllowedException => StatusCodes.Status403Forbidden,
                    ApiProblemException problem => problem.Status,
                    _ => StatusCodes.Status409Conflict,
                };
                throw new GalleryException(status, "Files not moved",
                    $"Nothing was changed: the operation failed while {current} ({ex.Message}), and every file already moved was put back.");
            }

            throw new GalleryException(StatusCodes.Status500InternalServerError, "Files partly moved",
                $"The operation failed while {current} ({ex.Message}) and could not put everything back: {string.Join("; ", notUndone)}.");
        }

        return new MovedFiles(this, projectRoot, done, createdFolders, asideFiles);
    }

    /// <summary>One rename on disk, inside <paramref name="projectRoot"/>; never replaces an existing file. Tests
    /// override it to fail on purpose.</summary>
    protected virtual void MoveOne(string projectRoot, string source, string target) => ConfinedFile.Move(projectRoot, source, target);

    /// <summary>Puts every file moved back, in reverse order. A file whose name another file took meanwhile (something
    /// outside this operation created it) is put beside it under a free visible name instead (<c>name (kept 1).png</c>),
    /// never left hidden under its temporary one: <c>Kept</c> says where. <c>NotUndone</c>: files that could not be
    /// moved at all.</summary>
    internal (List<string> NotUndone, List<string> Kept) RollBack(string projectRoot, List<(string From, string To)> done, List<string> createdFolders)
    {
        var failures = new List<string>();
        var kept = new List<string>();
        for (var i = done.Count - 1; i >= 0; i--)
        {
            var (from, to) = done[i];
            try
            {
                ConfinedFile.Move(projectRoot, to, from);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ApiProblemException or PathNotAllowedException)
            {
                if (ex is ApiProblemException { Status: StatusCodes.Status409Conflict } && KeepBeside(projectRoot, to, from) is { } keptAs)
                {
                    logger.LogWarning("Could not put {To} back to {From}, whose name another file took meanwhile; kept it as {KeptAs}", to, from, keptAs);
                    kept.Add($"{from} is kept as {keptAs}");
                    continue;
                }

                logger.LogError(ex, "Could not put {To} back to {From}", to, from);
                failures.Add($"{from} is now {to} ({ex.Message})");
            }
        }

        for (var i = createdFolders.Count - 1; i >= 0; i--)
        {
            try
            {
                ConfinedFile.Delete(projectRoot, createdFolders[i], isFolder: true);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ApiProblemException or PathNotAllowedException)
            {
                logger.LogDebug(ex, "Left the folder {Folder} created for the failed move", createdFolders[i]);
            }
        }

        return (failures, kept);
    }

    /// <summary>Moves <paramref name="temporary"/> to the first free name <c>stem (kept N).ext</c> beside
    /// <paramref name="original"/>; null when none could be taken.</summary>
    private static string? KeepBeside(string projectRoot, string temporary, string original)
    {
        var folder = Path.GetDirectoryName(original)!;
        var stem = Path.GetFileNameWithoutExtension(original);
        var extension = Path.GetExtension(original);
        for (var n = 1; n <= 20; n++)
        {
            var candidate = Path.Combine(folder, $"{stem} (kept {n}){extension}");
            try
            {
                ConfinedFile.Move(projectRoot, temporary, candidate);
                return candidate;
            }
            catch (ApiProblemException taken) when (taken.Status == StatusCodes.Status409Conflict)
            {
                // Taken too; try the next number.
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ApiProblemException or PathNotAllowedException)
            {
                return null;
            }
        }

        return null;
    }

    private static string Beside(string path, string token, string suffix) =>
        Path.Combine(Path.GetDirectoryName(path)!, $".dc-{token}-{suffix}.tmp");

    internal void TryDelete(string projectRoot, string path)
    {
        try
        {
            ConfinedFile.Delete(projectRoot, path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ApiProblemException or PathNotAllowedException)
        {
            logger.LogWarning(ex, "Could not delete the replaced file kept at {Path}", path);
        }
    }
}

/// <summary>Moves that are done on disk but not yet final: <see cref="Commit"/> deletes the files they replaced,
/// <see cref="Undo"/> puts everything back (when the gallery could not be saved) and returns what is not where it was.</summary>
public sealed class MovedFiles
{
    private readonly FileMoveExecutor _executor;
    private readonly string _projectRoot;
    private readonly List<(string From, string To)> _done;
    private readonly List<string> _createdFolders;
    private readonly List<string> _asideFiles;

    internal MovedFiles(FileMoveExecutor executor, string projectRoot, List<(string From, string To)> done, List<string> createdFolders, List<string> asideFiles)
    {
        _executor = executor;
        _projectRoot = projectRoot;
        _done = done;
        _createdFolders = createdFolders;
        _asideFiles = asideFiles;
    }

    public void Commit()
    {
        foreach (var aside in _asideFiles)
        {
            _executor.TryDelete(_projectRoot, aside);
        }
    }

    /// <summary>Returns what could not be put back (empty when all went back).</summary>
    public IReadOnlyList<string> Undo()
    {
        var (notUndone, kept) = _executor.RollBack(_projectRoot, _done, _createdFolders);
        return [.. notUndone, .. kept];
    }
}
