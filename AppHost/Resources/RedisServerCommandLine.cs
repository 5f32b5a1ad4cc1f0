namespace DirectorsConsole.Hosting;

/// <summary>
/// How a <c>redis-server</c> (Redis 7, e.g. Debian's <c>redis-server</c> package) is started when the AppHost is told to
/// run one instead of the embedded Garnet: on loopback, with its data under its own directory, every write in the
/// append-only file and synced to disk before the reply (<c>appendfsync always</c>, the same promise as Garnet's
/// commit wait), and no snapshots of its own (the append-only file is rewritten as it grows). The options are given on
/// the command line, so no system configuration file (<c>/etc/redis/redis.conf</c>) is read.
/// </summary>
public static class RedisServerCommandLine
{
    /// <summary>The value of <c>redis_server</c> that keeps the embedded Garnet.</summary>
    public const string Garnet = "garnet";

    /// <summary>The executable <paramref name="nameOrPath"/> names: a path (absolute, or relative to
    /// <paramref name="baseDirectory"/>) to an executable file, or a bare name looked up on <c>PATH</c> as a shell
    /// does; null when there is none.</summary>
    public static string? Locate(string nameOrPath, string baseDirectory, string? searchPath)
    {
        if (IsPath(nameOrPath))
        {
            var path = Path.GetFullPath(nameOrPath, baseDirectory);
            return IsExecutable(path) ? path : null;
        }

        return (searchPath ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(directory => Path.Combine(directory, nameOrPath))
            .FirstOrDefault(IsExecutable);
    }

    /// <summary>True when <paramref name="nameOrPath"/> is a path (it has a directory separator), not a name to look up
    /// on <c>PATH</c>.</summary>
    public static bool IsPath(string nameOrPath) =>
        nameOrPath.Contains('/', StringComparison.Ordinal) || nameOrPath.Contains(Path.DirectorySeparatorChar, StringComparison.Ordinal);

    private static bool IsExecutable(string path) =>
        File.Exists(path)
        && (OperatingSystem.IsWindows()
            || (File.GetUnixFileMode(path) & (UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute)) != 0);

    /// <summary>Arguments for <c>redis-server</c>. <paramref name="dataDirectory"/> holds its append-only file; pass
    /// null for a throw-away in-memory server (tests).</summary>
    public static IReadOnlyList<string> BuildArguments(int port, string? dataDirectory)
    {
        var args = new List<string>
        {
            "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--bind", "127.0.0.1",
            "--daemonize", "no",
            // No RDB snapshots: the append-only file is the one record (Redis rewrites it, with a snapshot at its head,
            // once it has doubled).
            "--save", "",
            "--loglevel", "warning",
        };
        if (dataDirectory is null)
        {
            args.AddRange(["--appendonly", "no"]);
        }
        else
        {
            args.AddRange(["--dir", dataDirectory, "--appendonly", "yes", "--appendfsync", "always"]);
        }

        return args;
    }
}
