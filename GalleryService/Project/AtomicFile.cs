namespace DirectorsConsole.GalleryService.Project;

/// <summary>
/// Writes files so that a reader sees the old content or the new, never a part: the bytes go to a hidden
/// temporary file in the same folder (same file system, so the final rename is atomic), are flushed to disk,
/// checked, and only then renamed into place. A failure removes the temporary file and leaves the target as it was.
/// </summary>
public static class AtomicFile
{
    /// <summary>Replaces <paramref name="path"/> with <paramref name="content"/>, keeping the previous file as
    /// <paramref name="backupPath"/> (as the original's <c>.json.bak</c>). Returns whether a backup was made.</summary>
    public static async Task<bool> WriteWithBackupAsync(string path, ReadOnlyMemory<byte> content, string backupPath, CancellationToken cancellationToken)
    {
        var temporary = await WriteTemporaryAsync(path, async stream => await stream.WriteAsync(content, cancellationToken), cancellationToken);
        try
        {
            if (new FileInfo(temporary).Length != content.Length)
            {
                throw new IOException($"The temporary file {temporary} holds fewer bytes than were written; the disk may be full.");
            }

            if (File.Exists(path))
            {
                File.Replace(temporary, path, backupPath, ignoreMetadataErrors: true);
                return true;
            }

            File.Move(temporary, path, overwrite: false);
            return false;
        }
        catch
        {
            TryDelete(temporary);
            throw;
        }
    }

    /// <summary>Copies <paramref name="source"/> (at most <paramref name="maxBytes"/>) into
    /// <paramref name="path"/>; unless <paramref name="overwrite"/>, an existing file is a 409 and is not touched.
    /// Returns the size written.</summary>
    public static async Task<long> WriteNewAsync(string path, Stream source, long maxBytes, bool overwrite, CancellationToken cancellationToken)
    {
        long written = 0;
        var temporary = await WriteTemporaryAsync(path, async stream =>
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

            File.Move(temporary, path, overwrite);
            return written;
        }
        catch (IOException) when (!overwrite && File.Exists(path))
        {
            TryDelete(temporary);
            throw ApiProblemException.Conflict($"{Path.GetFileName(path)} already exists; send overwrite: true to replace it.");
        }
        catch
        {
            TryDelete(temporary);
            throw;
        }
    }

    private static async Task<string> WriteTemporaryAsync(string path, Func<FileStream, Task> write, CancellationToken cancellationToken)
    {
        var folder = Path.GetDirectoryName(path) ?? throw new IOException($"{path} has no folder.");
        var temporary = Path.Join(folder, $".{Path.GetFileName(path)}.{Guid.NewGuid():N}.tmp");
        try
        {
            await using (var stream = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None, 81920, useAsync: true))
            {
                await write(stream);
                await stream.FlushAsync(cancellationToken);
                stream.Flush(flushToDisk: true);
            }

            return temporary;
        }
        catch
        {
            TryDelete(temporary);
            throw;
        }
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // Hidden and named *.tmp; harmless if it stays.
        }
    }
}
