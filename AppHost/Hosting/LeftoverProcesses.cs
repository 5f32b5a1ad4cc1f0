using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace DirectorsConsole.AppHost.Hosting;

/// <summary>
/// The processes the AppHost started, directly or through Aspire's orchestrator (DCP). When the AppHost stops,
/// <see cref="OrderedShutdown"/> has already stopped every resource; what remains is DCP winding itself down, which
/// it does only after it sees the AppHost gone, seconds later. The AppHost waits for those processes up to a
/// deadline and then kills whatever is left, so Ctrl+C or SIGTERM leaves no process behind within the promised time.
/// They are found in <c>/proc</c> two ways: by parent ids, and by a session variable the AppHost puts in its own
/// environment before DCP starts, which every process it starts inherits. The second catches DCP's controller
/// process, which DCP detaches (its parent becomes init), so no parent chain leads back to the AppHost. Only Linux
/// exposes processes this way; elsewhere DCP cleans up after the AppHost exits, as Aspire does by default.
/// </summary>
public static class LeftoverProcesses
{
    /// <summary>From the stop signal to the last process gone: within the 10 s a user is promised, with room to spare.</summary>
    public static readonly TimeSpan ShutdownDeadline = TimeSpan.FromSeconds(8.5);

    /// <summary>The environment variable that marks every process of one AppHost run.</summary>
    public const string SessionVariable = "DIRECTORSCONSOLE_APPHOST_SESSION";

    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(100);

    private static readonly string Session = Guid.NewGuid().ToString("N");

    /// <summary>Runs the application until it is stopped, disposes it (which ends Aspire's orchestrator session),
    /// then ends whatever process is left <see cref="ShutdownDeadline"/> after the stop signal.</summary>
    public static async Task RunAsync(DistributedApplication app)
    {
        // Set before DCP starts (in app.RunAsync), so DCP and everything it starts inherit it.
        Environment.SetEnvironmentVariable(SessionVariable, Session);
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

    /// <summary>Waits until every process of this run has exited or <paramref name="deadline"/> passes, then
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
            if (FindOwnProcesses(self, Session).Count == 0)
            {
                return 0;
            }

            await Task.Delay(PollInterval, timeProvider);
        }

        var left = FindOwnProcesses(self, Session);
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

    /// <summary>The descendants of <paramref name="self"/> and every other process whose environment has
    /// <see cref="SessionVariable"/> set to <paramref name="session"/>.</summary>
    public static IReadOnlyList<int> FindOwnProcesses(int self, string session)
    {
        var found = new HashSet<int>(FindDescendants(self));
        var marker = $"{SessionVariable}={session}\0";
        foreach (var directory in Directory.EnumerateDirectories("/proc"))
        {
            if (int.TryParse(Path.GetFileName(directory), NumberStyles.None, CultureInfo.InvariantCulture, out var pid)
                && pid != self && !found.Contains(pid) && HasMarker(directory, marker))
            {
                found.Add(pid);
            }
        }

        return [.. found];
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

    private static bool HasMarker(string processDirectory, string marker)
    {
        try
        {
            return File.ReadAllText(Path.Combine(processDirectory, "environ")).Contains(marker, StringComparison.Ordinal);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // Gone meanwhile, or another user's process: not ours either way.
            return false;
        }
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
