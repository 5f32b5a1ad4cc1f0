using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace DirectorsConsole.AppHost.Hosting;

/// <summary>
/// The processes the AppHost started, directly or through Aspire's orchestrator (DCP), found by walking parent ids
/// in <c>/proc</c>. When the AppHost stops, <see cref="OrderedShutdown"/> has already stopped every resource; what
/// remains is DCP winding itself down, which it does only after it sees the AppHost gone, seconds later. The
/// AppHost waits for its descendants up to a deadline and then kills whatever is left, so Ctrl+C or SIGTERM leaves
/// no process behind within the promised time. Only Linux exposes parent ids this way; elsewhere DCP cleans up
/// after the AppHost exits, as Aspire does by default.
/// </summary>
public static class LeftoverProcesses
{
    /// <summary>From the stop signal to the last process gone: within the 10 s a user is promised, with room to spare.</summary>
    public static readonly TimeSpan ShutdownDeadline = TimeSpan.FromSeconds(8.5);

    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(100);

    /// <summary>Runs the application until it is stopped, disposes it (which ends Aspire's orchestrator session),
    /// then ends whatever process is left <see cref="ShutdownDeadline"/> after the stop signal.</summary>
    public static async Task RunAsync(DistributedApplication app)
    {
        var timeProvider = TimeProvider.System;
        DateTimeOffset? stopRequested = null;
        using var stopping = app.Services.GetRequiredService<IHostApplicationLifetime>().ApplicationStopping
            .Register(() => stopRequested = timeProvider.GetUtcNow());
        try
        {
            await app.RunAsync();
        }
        finally
        {
            await app.DisposeAsync();
        }

        var killed = await EndAsync((stopRequested ?? timeProvider.GetUtcNow()) + ShutdownDeadline, timeProvider);
        if (killed > 0)
        {
            Console.Error.WriteLine($"Ended {killed} process(es) still running {ShutdownDeadline.TotalSeconds:0.#} s after the stop signal.");
        }
    }

    /// <summary>Waits until every descendant of this process has exited or <paramref name="deadline"/> passes, then
    /// kills the ones left; returns how many had to be killed.</summary>
    public static async Task<int> EndAsync(DateTimeOffset deadline, TimeProvider timeProvider)
    {
        if (!OperatingSystem.IsLinux())
        {
            return 0;
        }

        var self = Environment.ProcessId;
        while (timeProvider.GetUtcNow() < deadline)
        {
            if (FindDescendants(self).Count == 0)
            {
                return 0;
            }

            await Task.Delay(PollInterval, timeProvider);
        }

        var left = FindDescendants(self);
        foreach (var pid in left)
        {
            try
            {
                using var process = Process.GetProcessById(pid);
                process.Kill(entireProcessTree: true);
            }
            catch (Exception ex) when (ex is ArgumentException or InvalidOperationException or System.ComponentModel.Win32Exception)
            {
                // It ended meanwhile.
            }
        }

        return left.Count;
    }

    /// <summary>Every process whose chain of parents leads to <paramref name="ancestor"/>.</summary>
    public static IReadOnlyList<int> FindDescendants(int ancestor)
    {
        var parents = new Dictionary<int, int>();
        foreach (var directory in Directory.EnumerateDirectories("/proc"))
        {
            if (int.TryParse(Path.GetFileName(directory), NumberStyles.None, CultureInfo.InvariantCulture, out var pid)
                && ReadParent(directory) is { } parent)
            {
                parents[pid] = parent;
            }
        }

        var descendants = new List<int>();
        foreach (var pid in parents.Keys)
        {
            // Walk up at most 64 levels: a parent chain is short, and a pid reused mid-scan must not loop forever.
            var current = pid;
            for (var depth = 0; depth < 64 && parents.TryGetValue(current, out var parent) && parent > 1; depth++)
            {
                if (parent == ancestor)
                {
                    descendants.Add(pid);
                    break;
                }

                current = parent;
            }
        }

        return descendants;
    }

    /// <summary>The parent id from <c>/proc/{pid}/stat</c> (the field after the parenthesised command name, which
    /// may itself contain spaces and parentheses); null when the process has gone.</summary>
    private static int? ReadParent(string processDirectory)
    {
        try
        {
            var stat = File.ReadAllText(Path.Combine(processDirectory, "stat"));
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return int.Parse(fields[1], NumberStyles.None, CultureInfo.InvariantCulture);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException or ArgumentOutOfRangeException)
        {
            return null;
        }
    }
}
