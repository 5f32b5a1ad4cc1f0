namespace DirectorsConsole.AppHost.Hosting;

/// <summary>
/// Starts children in a session of their own where the OS has util-linux's <c>setsid</c>, so terminal signals
/// (Ctrl+C goes to the whole foreground process group) reach only the AppHost, which stops everything in order,
/// Redis last. Where it is missing (macOS, Windows) children start directly and are still stopped in order,
/// though a terminal Ctrl+C then also reaches them at once.
/// </summary>
public static class ProcessSession
{
    public static string? Launcher { get; } = OperatingSystem.IsLinux()
        ? new[] { "/usr/bin/setsid", "/bin/setsid" }.FirstOrDefault(File.Exists)
        : null;

    /// <summary>The program and arguments to start <paramref name="command"/> with. Behind setsid the command
    /// is resolved first, so a missing program still fails at start instead of as an exit code 127.</summary>
    public static (string Program, IReadOnlyList<string> Arguments) Wrap(string command, IReadOnlyList<string> arguments)
    {
        if (Launcher is null)
        {
            return (command, arguments);
        }

        return (Launcher, [ResolveExecutable(command), .. arguments]);
    }

    private static string ResolveExecutable(string command)
    {
        if (Path.IsPathRooted(command) || command.Contains('/'))
        {
            return File.Exists(command) ? command : throw new FileNotFoundException($"'{command}' does not exist.");
        }

        var found = (Environment.GetEnvironmentVariable("PATH") ?? "")
            .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(directory => Path.Combine(directory, command))
            .FirstOrDefault(File.Exists);
        return found ?? throw new FileNotFoundException($"'{command}' was not found on the PATH.");
    }
}
