using System.Globalization;

namespace DirectorsConsole.Testing;

/// <summary>Which process listens on a TCP port, read from Linux's <c>/proc</c>: a test that chose a port minutes before
/// its server bound it can tell its own server from another test's that took the port meanwhile.</summary>
public static class LoopbackListeners
{
    private const string Listening = "0A";

    /// <summary>The PID of the process holding a listening socket on <paramref name="port"/> (IPv4 or IPv6), or null when
    /// none is found (nothing listens, the process belongs to another user, or this is not Linux).</summary>
    public static int? FindPid(int port)
    {
        var inodes = new[] { "/proc/net/tcp", "/proc/net/tcp6" }
            .Where(File.Exists)
            .SelectMany(File.ReadLines)
            .Skip(1)
            .Select(line => line.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .Where(fields => fields.Length > 9 && fields[3] == Listening && fields[1].Split(':') is [.., var hexPort]
                && int.TryParse(hexPort, NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var listening) && listening == port)
            .Select(fields => $"socket:[{fields[9]}]")
            .ToHashSet(StringComparer.Ordinal);
        if (inodes.Count == 0)
        {
            return null;
        }

        foreach (var directory in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(directory), NumberStyles.None, CultureInfo.InvariantCulture, out var pid))
            {
                continue;
            }

            try
            {
                if (Directory.EnumerateFileSystemEntries(Path.Combine(directory, "fd")).Any(fd => new FileInfo(fd).LinkTarget is { } target && inodes.Contains(target)))
                {
                    return pid;
                }
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                // A process that ended while we looked, or another user's.
            }
        }

        return null;
    }
}
