using System.Diagnostics;

namespace DirectorsConsole.Testing;

/// <summary>
/// A small tmpfs mounted on a fresh temporary folder, so a test can fill a real file system to the last byte without
/// touching the machine's disks. Needs root (or CAP_SYS_ADMIN); <see cref="TryMountAsync"/> says why when it cannot.
/// Unmounted and removed on dispose.
/// </summary>
public sealed class TmpfsMount : IAsyncDisposable
{
    private FileStream? _filler;

    private TmpfsMount(string path) => Path = path;

    public string Path { get; }

    public long FreeBytes => new DriveInfo(Path).AvailableFreeSpace;

    /// <summary>Mounts a tmpfs of <paramref name="megabytes"/>; returns null and the reason when mounting is not allowed here.</summary>
    public static async Task<(TmpfsMount? Mount, string? Failure)> TryMountAsync(int megabytes, CancellationToken cancellationToken)
    {
        var path = Directory.CreateTempSubdirectory("dc-tmpfs-").FullName;
        var (exitCode, output) = await RunAsync("mount", ["-t", "tmpfs", "-o", $"size={megabytes}m", "tmpfs", path], cancellationToken);
        if (exitCode == 0)
        {
            return (new TmpfsMount(path), null);
        }

        Directory.Delete(path);
        return (null, $"mount -t tmpfs failed ({exitCode}): {output.Trim()}");
    }

    /// <summary>Writes a filler file until at most <paramref name="leaveFreeBytes"/> are free (0: until the file system
    /// refuses another byte).</summary>
    public async Task FillAsync(long leaveFreeBytes, CancellationToken cancellationToken)
    {
        _filler ??= new FileStream(System.IO.Path.Combine(Path, "filler"), FileMode.Create, FileAccess.Write, FileShare.Read, 1, FileOptions.None);
        var block = new byte[64 * 1024];
        try
        {
            while (FreeBytes > leaveFreeBytes)
            {
                var size = (int)Math.Min(block.Length, Math.Max(4096, FreeBytes - leaveFreeBytes));
                await _filler.WriteAsync(block.AsMemory(0, size), cancellationToken);
                await _filler.FlushAsync(cancellationToken);
            }

            if (leaveFreeBytes == 0)
            {
                // The last pages: write single bytes until the file system is out of them.
                while (true)
                {
                    await _filler.WriteAsync(block.AsMemory(0, 1), cancellationToken);
                    await _filler.FlushAsync(cancellationToken);
                }
            }
        }
        catch (IOException) when (leaveFreeBytes == 0 || FreeBytes <= leaveFreeBytes)
        {
            // No space left on device: that was the point.
        }
    }

    /// <summary>Deletes the filler file, giving the space back.</summary>
    public async Task FreeAsync()
    {
        if (_filler is not null)
        {
            try
            {
                await _filler.DisposeAsync();
            }
            catch (IOException)
            {
                // The last buffered byte could not be written; the file goes anyway.
            }

            _filler = null;
        }

        File.Delete(System.IO.Path.Combine(Path, "filler"));
    }

    public async ValueTask DisposeAsync()
    {
        await FreeAsync();
        await RunAsync("umount", ["-l", Path], CancellationToken.None);
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
            // Still mounted (a process kept a file open); the lazy unmount finishes when it lets go.
        }
    }

    private static async Task<(int ExitCode, string Output)> RunAsync(string program, IReadOnlyList<string> arguments, CancellationToken cancellationToken)
    {
        var startInfo = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in arguments)
        {
            startInfo.ArgumentList.Add(argument);
        }

        try
        {
            using var process = Process.Start(startInfo)!;
            var output = await process.StandardError.ReadToEndAsync(cancellationToken) + await process.StandardOutput.ReadToEndAsync(cancellationToken);
            await process.WaitForExitAsync(cancellationToken);
            return (process.ExitCode, output);
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            return (-1, ex.Message);
        }
    }
}
