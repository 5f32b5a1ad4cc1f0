using DirectorsConsole.GalleryService.Project;
using Microsoft.Win32.SafeHandles;

namespace DirectorsConsole.GalleryService.Paths;

/// <summary>
/// File access that checks what was opened, not the path: <see cref="IProjectPathResolver"/> proves a path lies
/// inside an allowed root, but a link or folder can be swapped between that check and the moment the file is opened.
/// So every read, stat, write, rename and delete goes through a handle: the file (or the folder it is made in) is
/// opened first, the handle's real location is asked of the operating system, and only a handle that is where the
/// resolver said it would be is used. A handle inside the root but elsewhere (the tree changed meanwhile) is a 409, one
/// outside the roots a 403; nothing is read or written through either. New files are made inside a verified folder
/// handle and never through a final link.
/// </summary>
public static class ConfinedFile
{
    /// <summary>Opens an existing file for reading (a final link is followed, the handle must then be exactly where
    /// the resolved path says). 404 when it is missing, 409 when it is a folder or changed, 403 when it leads out.</summary>
    public static FileStream OpenRead(ConfinedPath file, string field, int bufferSize = 4096, FileOptions options = FileOptions.None) =>
        OpenRead(file.FullPath, file.Root, field, bufferSize, options);

    /// <inheritdoc cref="OpenRead(ConfinedPath, string, int, FileOptions)"/>
    public static FileStream OpenRead(string fullPath, string root, string field, int bufferSize = 4096, FileOptions options = FileOptions.None)
    {
        FileStream stream;
        try
        {
            stream = new FileStream(fullPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, bufferSize, options);
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            throw ApiProblemException.NotFound($"File not found: {fullPath}");
        }
        catch (UnauthorizedAccessException) when (Directory.Exists(fullPath))
        {
            throw ApiProblemException.Conflict($"'{field}' is a folder, not a file: {fullPath}");
        }
        catch (IOException ex) when (!IsDiskFull(ex))
        {
            // A link loop or a component that is no longer a folder: the tree changed under the request.
            throw ApiProblemException.Conflict($"'{field}' ({fullPath}) could not be opened ({ex.Message}); it may have changed meanwhile, try again.");
        }

        try
        {
            Verify(stream.SafeFileHandle, fullPath, root, field);
            return stream;
        }
        catch
        {
            stream.Dispose();
            throw;
        }
    }

    /// <summary>Opens a file a scan found (possibly a link that led inside when the scan looked) for reading: the
    /// handle must be inside <paramref name="folder"/>, wherever there. 404 missing, 403 when it leads out now.</summary>
    public static FileStream OpenFoundFile(string path, string folder, int bufferSize = 4096, FileOptions options = FileOptions.None)
    {
        FileStream stream;
        try
        {
            stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, bufferSize, options);
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            throw ApiProblemException.NotFound($"File not found: {path}");
        }

        if (NativeFiles.RealPathOf(stream.SafeFileHandle) is { } real && ProjectPathResolver.IsInside(real, folder))
        {
            return stream;
        }

        stream.Dispose();
        throw new PathNotAllowedException("path", $"{path} now leads outside {folder}; it was not read.");
    }

    /// <summary>Renames <paramref name="source"/> to <paramref name="target"/> (full paths inside
    /// <paramref name="root"/>) between their verified folders; an existing target is a 409, a move to another file
    /// system too (nothing is ever copied).</summary>
    public static void Move(string root, string source, string target)
    {
        using var from = ConfinedFolder.Open(Path.GetDirectoryName(source)!, root, "source");
        var targetFolder = Path.GetDirectoryName(target)!;
        using var to = ProjectPathResolver.PathComparer.Equals(targetFolder, from.FullPath) ? null : ConfinedFolder.Open(targetFolder, root, "destination");
        from.Rename(Path.GetFileName(source), to ?? from, Path.GetFileName(target), replace: false);
    }

    /// <summary>Opens <paramref name="folder"/> (inside <paramref name="root"/>), making the folders that are missing
    /// on the way down, each inside the verified one above it; <paramref name="created"/> gets those made.</summary>
    public static ConfinedFolder OpenOrCreateFolder(string root, string folder, ICollection<string> created)
    {
        ArgumentNullException.ThrowIfNull(created);
        var current = ConfinedFolder.Open(root, root, "destination");
        try
        {
            var relative = Path.GetRelativePath(root, folder);
            foreach (var name in relative == "." ? [] : relative.Split(Path.DirectorySeparatorChar))
            {
                var next = current.Subfolder(name, create: true, out var made);
                current.Dispose();
                current = next;
                if (made)
                {
                    created.Add(current.FullPath);
                }
            }

            return current;
        }
        catch
        {
            current.Dispose();
            throw;
        }
    }

    /// <summary>Deletes the file (or empty folder) <paramref name="path"/> inside <paramref name="root"/> by its name in
    /// its verified folder.</summary>
    public static void Delete(string root, string path, bool isFolder = false)
    {
        using var folder = ConfinedFolder.Open(Path.GetDirectoryName(path)!, root, "path");
        folder.Delete(Path.GetFileName(path), isFolder);
    }

    /// <summary>Size and times of an open file, from its handle (not from a path that may name another file by now).</summary>
    public static FileFacts StatOf(FileStream stream) =>
        new(RandomAccess.GetLength(stream.SafeFileHandle), File.GetLastWriteTimeUtc(stream.SafeFileHandle), File.GetCreationTimeUtc(stream.SafeFileHandle));

    /// <summary>True for "no space left on device" (and Windows' disk-full errors).</summary>
    public static bool IsDiskFull(Exception exception) =>
        exception is IOException io && (OperatingSystem.IsWindows()
            ? io.HResult is unchecked((int)0x80070070) or unchecked((int)0x80070027)
            : io.HResult == NativeFiles.ENOSPC || (io is NativeFiles.NativeFileException native && native.Error == NativeFiles.ENOSPC));

    /// <summary>HTTP 507 naming the folder whose disk is full.</summary>
    public static ApiProblemException DiskFull(string folder) =>
        new(StatusCodes.Status507InsufficientStorage, "Insufficient storage",
            $"The disk under {folder} is full; nothing was saved and the previous file, if any, is unchanged.");

    /// <summary>Requires the open <paramref name="handle"/> to be <paramref name="expected"/> (a path the resolver returned,
    /// links already resolved).</summary>
    internal static void Verify(SafeFileHandle handle, string expected, string root, string field)
    {
        var real = NativeFiles.RealPathOf(handle)
            ?? throw ApiProblemException.Conflict($"'{field}' ({expected}) was deleted or replaced while it was being opened; try again.");
        if (ProjectPathResolver.PathComparer.Equals(real, expected))
        {
            return;
        }

        if (!ProjectPathResolver.IsInside(real, root))
        {
            throw new PathNotAllowedException(field,
                $"'{field}' ({expected}) changed while it was being opened and led outside the allowed roots (to {real}); nothing was read or written.");
        }

        throw ApiProblemException.Conflict($"'{field}' ({expected}) changed while it was being opened (it led to {real}); nothing was read or written, try again.");
    }
}

/// <summary>What one stat of an open file gives.</summary>
public readonly record struct FileFacts(long Length, DateTime LastWriteUtc, DateTime CreatedUtc);

/// <summary>
/// An open folder whose real location was verified (<see cref="ConfinedFile"/>). Names given to it are looked up in
/// that folder itself, never through a final link, so a folder swapped for a link after the check cannot redirect a
/// write. On Windows the folder is held open without delete sharing, which keeps it from being renamed or replaced
/// while the handle lives, and each new file is verified by its own handle as well.
/// </summary>
public sealed class ConfinedFolder : IDisposable
{
    private readonly SafeFileHandle _handle;

    private ConfinedFolder(SafeFileHandle handle, string fullPath, string root, string field)
    {
        _handle = handle;
        FullPath = fullPath;
        Root = root;
        Field = field;
    }

    /// <summary>The verified folder's path (real, links resolved).</summary>
    public string FullPath { get; }

    public string Root { get; }

    /// <summary>The request field the folder came from, for messages.</summary>
    public string Field { get; }

    public static ConfinedFolder Open(ConfinedPath folder, string field) => Open(folder.FullPath, folder.Root, field);

    /// <summary>Opens an existing folder and verifies it (404 missing, 409 not a folder or changed, 403 led out).</summary>
    public static ConfinedFolder Open(string fullPath, string root, string field)
    {
        SafeFileHandle handle;
        try
        {
            handle = NativeFiles.OpenFolder(fullPath);
        }
        catch (NativeFiles.NativeFileException ex)
        {
            throw Translate(ex, fullPath, field);
        }

        try
        {
            ConfinedFile.Verify(handle, fullPath, root, field);
            return new ConfinedFolder(handle, fullPath, root, field);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    public string PathOf(string name) => Path.Join(FullPath, name);

    /// <summary>Creates <paramref name="name"/> in this folder for writing; 409 when anything has that name already.</summary>
    public FileStream CreateNew(string name, int bufferSize = 81920)
    {
        var path = PathOf(name);
        SafeFileHandle handle;
        try
        {
            handle = OperatingSystem.IsWindows()
                ? File.OpenHandle(path, FileMode.CreateNew, FileAccess.Write, FileShare.None)
                : NativeFiles.CreateAt(_handle, name);
        }
        catch (NativeFiles.NativeFileException ex)
        {
            throw Translate(ex, path, Field);
        }
        catch (IOException ex) when (ConfinedFile.IsDiskFull(ex))
        {
            throw ConfinedFile.DiskFull(FullPath);
        }

        try
        {
            ConfinedFile.Verify(handle, path, Root, Field);
        }
        catch
        {
            handle.Dispose();
            // Made where it should not be (Windows only: elsewhere the name was looked up in this very folder).
            TryDelete(name);
            throw;
        }

        return new FileStream(handle, FileAccess.Write, bufferSize);
    }

    /// <summary>Opens <paramref name="name"/> of this folder for reading, refusing a final link (403).</summary>
    public FileStream OpenRead(string name, int bufferSize = 4096)
    {
        var path = PathOf(name);
        if (OperatingSystem.IsWindows())
        {
            return ConfinedFile.OpenRead(path, Root, Field, bufferSize);
        }

        SafeFileHandle handle;
        try
        {
            handle = NativeFiles.OpenAt(_handle, name, folderOnly: false);
        }
        catch (NativeFiles.NativeFileException ex)
        {
            throw Translate(ex, path, Field);
        }

        if (File.GetAttributes(handle).HasFlag(FileAttributes.Directory))
        {
            handle.Dispose();
            throw ApiProblemException.Conflict($"{path} is a folder, not a file.");
        }

        return new FileStream(handle, FileAccess.Read, bufferSize);
    }

    /// <summary>The subfolder <paramref name="name"/>, made first when <paramref name="create"/> (then
    /// <paramref name="created"/> says whether this call made it). A subfolder that is a link is refused.</summary>
    public ConfinedFolder Subfolder(string name, bool create, out bool created)
    {
        var path = PathOf(name);
        created = false;
        if (OperatingSystem.IsWindows())
        {
            created = create && !Directory.Exists(path);
            if (created)
            {
                Directory.CreateDirectory(path);
            }

            return Open(path, Root, Field);
        }

        try
        {
            if (create)
            {
                try
                {
                    NativeFiles.MakeFolderAt(_handle, name);
                    created = true;
                }
                catch (NativeFiles.NativeFileException ex) when (ex.Error == NativeFiles.EEXIST)
                {
                    // There already: opened below, where a file or link of that name is refused.
                }
            }

            var handle = NativeFiles.OpenAt(_handle, name, folderOnly: true);
            try
            {
                // A name is one segment; should one ever climb ('..'), the real location says so.
                ConfinedFile.Verify(handle, path, Root, Field);
                return new ConfinedFolder(handle, path, Root, Field);
            }
            catch
            {
                handle.Dispose();
                throw;
            }
        }
        catch (NativeFiles.NativeFileException ex)
        {
            throw Translate(ex, path, Field);
        }
    }

    /// <summary>Renames <paramref name="name"/> of this folder to <paramref name="targetName"/> of
    /// <paramref name="target"/>; unless <paramref name="replace"/>, an existing target is a 409. Both folders are
    /// verified again afterwards: if one was moved away meanwhile, the rename is undone.</summary>
    public void Rename(string name, ConfinedFolder target, string targetName, bool replace)
    {
        ArgumentNullException.ThrowIfNull(target);
        try
        {
            if (OperatingSystem.IsWindows())
            {
                File.Move(PathOf(name), target.PathOf(targetName), replace);
                return;
            }

            NativeFiles.RenameAt(_handle, name, target._handle, targetName, replace);
        }
        catch (NativeFiles.NativeFileException ex)
        {
            throw Translate(ex, target.PathOf(targetName), Field);
        }

        try
        {
            ConfinedFile.Verify(_handle, FullPath, Root, Field);
            ConfinedFile.Verify(target._handle, target.FullPath, target.Root, target.Field);
        }
        catch
        {
            try
            {
                NativeFiles.RenameAt(target._handle, targetName, _handle, name, replace: false);
            }
            catch (NativeFiles.NativeFileException)
            {
                // The folders moved; the file is where the rename put it, inside a folder that was verified.
            }

            throw;
        }
    }

    /// <summary>A second name for the file <paramref name="name"/> (on Windows a copy): how a backup is kept while
    /// the original name stays in place until the new content replaces it.</summary>
    public void LinkAs(string name, string newName)
    {
        try
        {
            if (OperatingSystem.IsWindows())
            {
                File.Copy(PathOf(name), PathOf(newName), overwrite: false);
                return;
            }

            NativeFiles.LinkAt(_handle, name, newName);
        }
        catch (NativeFiles.NativeFileException ex)
        {
            throw Translate(ex, PathOf(name), Field);
        }
    }

    /// <summary>Deletes the file (or empty folder) <paramref name="name"/> of this folder; a link is removed itself.</summary>
    public void Delete(string name, bool isFolder = false)
    {
        try
        {
            if (OperatingSystem.IsWindows())
            {
                if (isFolder)
                {
                    Directory.Delete(PathOf(name));
                }
                else
                {
                    File.Delete(PathOf(name));
                }

                return;
            }

            NativeFiles.UnlinkAt(_handle, name, isFolder);
        }
        catch (NativeFiles.NativeFileException ex)
        {
            throw Translate(ex, PathOf(name), Field);
        }
    }

    /// <summary><see cref="Delete"/> that never throws: for clean-up after a failure.</summary>
    public bool TryDelete(string name, bool isFolder = false)
    {
        try
        {
            Delete(name, isFolder);
            return true;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ApiProblemException or PathNotAllowedException)
        {
            return false;
        }
    }

    public void Dispose() => _handle.Dispose();

    /// <summary>An operating-system error as the answer the client gets.</summary>
    internal static Exception Translate(NativeFiles.NativeFileException ex, string path, string field) => ex.Error switch
    {
        NativeFiles.ENOENT => ApiProblemException.NotFound($"Not found: {path}"),
        NativeFiles.EEXIST => ApiProblemException.Conflict($"{Path.GetFileName(path)} already exists in {Path.GetDirectoryName(path)}."),
        NativeFiles.ENOTDIR or NativeFiles.EISDIR => ApiProblemException.Conflict($"{path} is not what was expected (a file where a folder should be, or a folder where a file should be); it may have changed meanwhile."),
        NativeFiles.ENOSPC => ConfinedFile.DiskFull(Path.GetDirectoryName(path) ?? path),
        NativeFiles.EXDEV => ApiProblemException.Conflict($"{path} is on another file system than its source; moves stay within one file system."),
        _ when ex.Error == NativeFiles.ELOOP => new PathNotAllowedException(field, $"'{field}': {path} is a symbolic link where a plain file or folder is required (it may have been swapped in meanwhile)."),
        _ when ex.Error == NativeFiles.ENOTEMPTY => ApiProblemException.Conflict($"{path} is a folder that is not empty."),
        _ => ex,
    };
}
