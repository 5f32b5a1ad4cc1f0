using DirectorsConsole.GalleryService.Paths;

namespace DirectorsConsole.GalleryService.Project;

/// <summary>
/// Writes files so that a reader sees the old content or the new, never a part: the bytes go to a hidden
/// temporary file made in the verified folder (<see cref="ConfinedFolder"/>, same file system, so the final rename
/// is atomic), are flushed to disk, checked, and only then renamed into place within that folder. A failure removes
/// the temporary file and leaves the target as it was; a full disk is a 507.
/// </summary>
public static class AtomicFile
{
    /// <summary>Replaces <paramref name="file"/> with <paramref name="content"/>, keeping the previous file as
    /// <paramref name="backupName"/> beside it (as the original's <c>.json.bak</c>). Returns whether a backup was made.</summary>
    public static async Task<bool> WriteWithBackupAsync(ConfinedPath file, ReadOnlyMemory<byte> content, string backupName, string field, CancellationToken cancellationToken)
    {
        var name = Path.GetFileName(file.FullPath);
        using var folder = ConfinedFolder.Open(file.FullPath[..^name.Length].TrimEnd(Path.DirectorySeparatorChar), file.Root, field);
        var temporary = await WriteTemporaryAsync(folder, name, async stream => await stream.WriteAsync(content, cancellationToken), cancellationToken);
        var backupTemporary = TemporaryName(backupName);
        try
        {
            var backedUp = true;
            try
            {
                // The old file gets its second name first, so the project file is never missing, not even for a moment.
                folder.LinkAs(name, backupTemporary);
            }
            catch (ApiProblemException ex) when (ex.Status == StatusCodes.Status404NotFound)
            {
                backedUp = false;
            }

            if (backedUp)
            {
                folder.Rename(backupTemporary, folder, backupName, replace: true);
            }

            folder.Rename(temporary, folder, name, replace: true);
            return backedUp;
        }
        catch (Exception ex)
        {
            folder.TryDelete(temporary);
            folder.TryDelete(backupTemporary);
            throw ConfinedFile.IsDiskFull(ex) ? ConfinedFile.DiskFull(folder.FullPath) : ex is IOException ? Refused(folder, ex) : ex;
        }
    }

    /// <summary>Replaces <paramref name="name"/> of <paramref name="folder"/> with <paramref name="content"/> (no
    /// backup). <paramref name="stillCurrent"/>, asked once the new content is on disk, may call the replacement off
    /// (another writer changed the file meanwhile): then nothing changes and the result is false.</summary>
    public static async Task<bool> ReplaceAsync(ConfinedFolder folder, string name, ReadOnlyMemory<byte> content, Func<bool>? stillCurrent, CancellationToken cancellationToken)
    {
        var temporary = await WriteTemporaryAsync(folder, name, async stream => await stream.WriteAsync(content, cancellationToken), cancellationToken);
        try
        {
            if (stillCurrent is not null && !stillCurrent())
            {
                folder.TryDelete(temporary);
                return false;
            }

            folder.Rename(temporary, folder, name, replace: true);
            return true;
        }
        catch (Exception ex)
        {
            folder.TryDelete(temporary);
            throw ConfinedFile.IsDiskFull(ex) ? ConfinedFile.DiskFull(folder.FullPath) : ex;
        }
    }

    /// <summary>Copies <paramref name="source"/> (at most <paramref name="maxBytes"/>) into <paramref name="name"/>
    /// of <paramref name="folder"/>; unless <paramref name="overwrite"/>, an existing file is a 409 and is not touched.
    /// Returns the size written.</summary>
    public static async Task<long> WriteNewAsync(ConfinedFolder folder, string name, Stream source, long maxBytes, bool overwrite, CancellationToken cancellationToken)
    {
        long written = 0;
        var temporary = await WriteTemporaryAsync(folder, name, async stream =>
        {
            var buffer = new byte[81920];
            int read;
            while ((read = await source.ReadAsync(buffer, cancellationToken)) > 0)
            {
                written += read;
                if (written > maxBytes)
                {
                    throw new ApiProblemException(StatusCodes.Status413PayloadTooLarge, "Too large", $"The image is larger than {maxBytes} bytes.");
                }

                await stream.WriteAsync(buffer.AsMemory(0, read), cancellationToken);
            }
        }, cancellationToken);
        try
        {
            if (written == 0)
            {
                throw new ApiProblemException(StatusCodes.Status422UnprocessableEntity, "Empty image", "The image is empty (0 bytes); nothing was saved.");
            }

            folder.Rename(temporary, folder, name, overwrite);
            return written;
        }
        catch (ApiProblemException ex) when (ex.Status == StatusCodes.Status409Conflict && !overwrite)
        {
            folder.TryDelete(temporary);
            throw ApiProblemException.Conflict($"{name} already exists; send overwrite: true to replace it.");
        }
        catch (Exception ex)
        {
            folder.TryDelete(temporary);
            throw ex is IOException && !ConfinedFile.IsDiskFull(ex) ? Refused(folder, ex) : ex;
        }
    }

    private static async Task<string> WriteTemporaryAsync(ConfinedFolder folder, string name, Func<FileStream, Task> write, CancellationToken cancellationToken)
    {
        var temporary = TemporaryName(name);
        try
        {
            await using (var stream = folder.CreateNew(temporary))
            {
                await write(stream);
                await stream.FlushAsync(cancellationToken);
                stream.Flush(flushToDisk: true);
            }

            return temporary;
        }
        catch (Exception ex)
        {
            folder.TryDelete(temporary);
            throw ConfinedFile.IsDiskFull(ex) ? ConfinedFile.DiskFull(folder.FullPath) : ex;
        }
    }

    private static string TemporaryName(string name) => $".{name}.{Guid.NewGuid():N}.tmp";

    // Anything else the file system says while the folder changes under the request: the caller's problem to retry, not a 500.
    private static ApiProblemException Refused(ConfinedFolder folder, Exception ex) =>
        ApiProblemException.Conflict($"Could not write in {folder.FullPath}: {ex.Message}; nothing was changed, try again.");
}
