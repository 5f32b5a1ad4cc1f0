using System.Runtime.InteropServices;
using System.Text;
using Microsoft.Win32.SafeHandles;

namespace DirectorsConsole.GalleryService.Paths;

/// <summary>
/// The operating-system calls <see cref="ConfinedFile"/> needs and .NET does not offer: file operations relative to
/// an open folder handle (<c>openat</c>, <c>renameat</c>… on Linux and macOS), so that a name is looked up in the
/// folder that was verified and not in whatever a path names a moment later, and the real location of an open
/// handle (<c>/proc/self/fd</c> on Linux, <c>F_GETPATH</c> on macOS, <c>GetFinalPathNameByHandle</c> on Windows).
/// </summary>
internal static partial class NativeFiles
{
    private const string LibC = "libc";

    // Linux and macOS differ in these values.
    private static int ODirectory => OperatingSystem.IsMacOS() ? 0x100000 : 0x10000;
    private static int ONoFollow => OperatingSystem.IsMacOS() ? 0x100 : 0x20000;
    private static int OCloexec => OperatingSystem.IsMacOS() ? 0x1000000 : 0x80000;
    private static int OCreat => OperatingSystem.IsMacOS() ? 0x200 : 0x40;
    private static int OExcl => OperatingSystem.IsMacOS() ? 0x800 : 0x80;
    private static int AtRemoveDir => OperatingSystem.IsMacOS() ? 0x80 : 0x200;
    private const int ORdOnly = 0;
    private const int OWrOnly = 1;

    /// <summary>errno values that mean the same on Linux and macOS.</summary>
    public const int ENOENT = 2;
    public const int EEXIST = 17;
    public const int EXDEV = 18;
    public const int ENOTDIR = 20;
    public const int EISDIR = 21;
    public const int ENOSPC = 28;

    /// <summary>A final symbolic link refused by <c>O_NOFOLLOW</c>.</summary>
    public static int ELOOP => OperatingSystem.IsMacOS() ? 62 : 40;

    public static int ENOTEMPTY => OperatingSystem.IsMacOS() ? 66 : 39;

    /// <summary>An error of one of these calls, with the errno (or Windows error) it came with.</summary>
    public sealed class NativeFileException(int error, string operation, string path)
        : IOException($"{operation} {path}: {Marshal.GetPInvokeErrorMessage(error)}", error)
    {
        public int Error { get; } = error;
    }

    public static SafeFileHandle OpenFolder(string path)
    {
        if (OperatingSystem.IsWindows())
        {
            // No FILE_SHARE_DELETE: while the handle is open the folder cannot be renamed, moved or replaced by a link.
            var handle = CreateFileW(path, 0x80000000 /* GENERIC_READ */, 0x1 | 0x2 /* read, write */, 0, 3 /* OPEN_EXISTING */,
                0x02000000 /* FILE_FLAG_BACKUP_SEMANTICS */, 0);
            return handle.IsInvalid ? throw new NativeFileException(Marshal.GetLastPInvokeError(), "open folder", path) : handle;
        }

        return Checked(open(path, ORdOnly | ODirectory | OCloexec, 0), "open folder", path);
    }

    /// <summary>Opens <paramref name="name"/> inside the open folder, never through a final symbolic link.</summary>
    public static SafeFileHandle OpenAt(SafeFileHandle folder, string name, bool folderOnly) =>
        Checked(openat(Fd(folder), name, ORdOnly | ONoFollow | OCloexec | (folderOnly ? ODirectory : 0), 0), "open", name);

    /// <summary>Creates <paramref name="name"/> inside the open folder; fails when anything (a link too) has that name.</summary>
    public static SafeFileHandle CreateAt(SafeFileHandle folder, string name) =>
        Checked(openat(Fd(folder), name, OWrOnly | OCreat | OExcl | ONoFollow | OCloexec, Convert.ToInt32("644", 8)), "create", name);

    public static void MakeFolderAt(SafeFileHandle folder, string name) =>
        Check(mkdirat(Fd(folder), name, Convert.ToInt32("755", 8)), "create folder", name);

    public static void UnlinkAt(SafeFileHandle folder, string name, bool isFolder) =>
        Check(unlinkat(Fd(folder), name, isFolder ? AtRemoveDir : 0), "delete", name);

    /// <summary>Hard link of a name (not what a link points to) under a new name in the same folder.</summary>
    public static void LinkAt(SafeFileHandle folder, string name, string newName) =>
        Check(linkat(Fd(folder), name, Fd(folder), newName, 0), "link", name);

    /// <summary>Renames between two open folders; with <paramref name="replace"/> false an existing target is EEXIST.</summary>
    public static void RenameAt(SafeFileHandle from, string fromName, SafeFileHandle to, string toName, bool replace)
    {
        int result;
        if (replace)
        {
            result = renameat(Fd(from), fromName, Fd(to), toName);
        }
        else if (OperatingSystem.IsMacOS())
        {
            result = renameatx_np(Fd(from), fromName, Fd(to), toName, 0x4 /* RENAME_EXCL */);
        }
        else
        {
            result = renameat2(Fd(from), fromName, Fd(to), toName, 0x1 /* RENAME_NOREPLACE */);
        }

        Check(result, "rename", fromName);
    }

    /// <summary>Where the open handle really is now, links resolved; null when the system cannot say.</summary>
    public static string? RealPathOf(SafeFileHandle handle)
    {
        if (OperatingSystem.IsWindows())
        {
            var buffer = new ushort[32768];
            var length = GetFinalPathNameByHandleW(handle, ref buffer[0], (uint)buffer.Length, 0);
            if (length == 0 || length >= buffer.Length)
            {
                return null;
            }

            var path = new string(System.Runtime.InteropServices.MemoryMarshal.Cast<ushort, char>(buffer.AsSpan(0, (int)length)));
            return path.StartsWith(@"\\?\UNC\", StringComparison.Ordinal) ? @"\\" + path[8..]
                : path.StartsWith(@"\\?\", StringComparison.Ordinal) ? path[4..]
                : path;
        }

        if (OperatingSystem.IsMacOS())
        {
            var buffer = new byte[1024]; // MAXPATHLEN
            // fcntl is variadic: on Apple's arm64 variadic arguments go on the stack, after the eight register slots.
            var result = RuntimeInformation.ProcessArchitecture == Architecture.Arm64
                ? fcntl_arm64(Fd(handle), 50 /* F_GETPATH */, 0, 0, 0, 0, 0, 0, buffer)
                : fcntl(Fd(handle), 50 /* F_GETPATH */, buffer);
            return result == -1 ? null : Encoding.UTF8.GetString(buffer, 0, Array.IndexOf(buffer, (byte)0));
        }

        var target = new FileInfo($"/proc/self/fd/{Fd(handle)}").LinkTarget;
        // The kernel appends " (deleted)" to a file that no longer has a name.
        return target is null || target.EndsWith(" (deleted)", StringComparison.Ordinal) ? null : target;
    }

    private static int Fd(SafeFileHandle handle) => (int)handle.DangerousGetHandle();

    private static SafeFileHandle Checked(int fd, string operation, string path) =>
        fd < 0 ? throw new NativeFileException(Marshal.GetLastPInvokeError(), operation, path) : new SafeFileHandle(fd, ownsHandle: true);

    private static void Check(int result, string operation, string path)
    {
        if (result != 0)
        {
            throw new NativeFileException(Marshal.GetLastPInvokeError(), operation, path);
        }
    }

    [LibraryImport(LibC, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int open(string path, int flags, int mode);

    [LibraryImport(LibC, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int openat(int folder, string name, int flags, int mode);

    [LibraryImport(LibC, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int mkdirat(int folder, string name, int mode);

    [LibraryImport(LibC, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int unlinkat(int folder, string name, int flags);

    [LibraryImport(LibC, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int linkat(int fromFolder, string from, int toFolder, string to, int flags);

    [LibraryImport(LibC, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int renameat(int fromFolder, string from, int toFolder, string to);

    [LibraryImport(LibC, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int renameat2(int fromFolder, string from, int toFolder, string to, uint flags);

    [LibraryImport(LibC, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int renameatx_np(int fromFolder, string from, int toFolder, string to, uint flags);

    [LibraryImport(LibC, SetLastError = true)]
    private static partial int fcntl(int fd, int command, [Out] byte[] buffer);

    [LibraryImport(LibC, EntryPoint = "fcntl", SetLastError = true)]
    private static partial int fcntl_arm64(int fd, int command, nint r2, nint r3, nint r4, nint r5, nint r6, nint r7, [Out] byte[] buffer);

    [LibraryImport("kernel32", SetLastError = true, StringMarshalling = StringMarshalling.Utf16)]
    private static partial SafeFileHandle CreateFileW(string name, uint access, uint share, nint security, uint disposition, uint flags, nint template);

    [LibraryImport("kernel32", SetLastError = true)]
    private static partial uint GetFinalPathNameByHandleW(SafeFileHandle handle, ref ushort buffer, uint length, uint flags);
}
