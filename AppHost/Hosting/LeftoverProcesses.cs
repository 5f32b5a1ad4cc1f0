using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace DirectorsConsole.AppHost.Hosting;

/// <summary>
/// The processes the AppHost started, directly or through Aspire's orchestrator (DCP). When the AppHost stops,
/// <see cref="OrderedShutdown"/> has already stopped every resource; what remains is DCP winding itself down, which
/// it does only after it sees the AppHost gone, seconds later. The AppHost waits for those processes up to a
/// deadline and then kills whatever is left, so Ctrl+C or SIGTERM leaves no process behind within the promised time.
/// They are found in <c>/proc</c> by a session variable the AppHost puts in its environment before DCP starts, which
/// DCP and so every process it starts inherit. That also catches DCP's controller process, which DCP detaches (its
/// parent becomes init), so no parent chain leads back to the AppHost. Only Linux exposes processes this way;
/// elsewhere DCP cleans up after the AppHost exits, as Aspire does by default.
/// All of this only when the AppHost owns its process. Aspire.Hosting.Testing runs the AppHost inside the test
/// process, beside other applications and the test's own child processes: there the environment is shared, so a
/// session variable would also mark whatever the test starts meanwhile (another suite, an AppHost of its own, a
/// browser), and the sweep would kill it. There the application simply runs and is disposed; DCP deletes its resources
/// on shutdown, and the test ends what it started.
/// </summary>
public static class LeftoverProcesses
{
    /// <summary>From the stop signal to the last process gone: within the 10 s a user is promised, with room to spare.</summary>
    public static readonly TimeSpan ShutdownDeadline = TimeSpan.FromSeconds(8.5);

    /// <summary>The environment variable that marks every process of one AppHost run.</summary>
    public const string SessionVariable = "DIRECTORSCONSOLE_APPHOST_SESSION";

    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(100);

    /// <summary>True when this process was started to run the AppHost (<c>dotnet run --project AppHost</c>), false
    /// when another program runs it (a test host).</summary>
    public static bool AppHostOwnsTheProcess => Assembly.GetEntryAssembly() == typeof(LeftoverProcesses).Assembly;

    /// <summary>Runs the application until it is stopped, disposes it (which ends Aspire's orchestrator session),
    /// then ends whatever process is left <see cref="ShutdownDeadline"/> after the stop signal.</summary>
    public static async Task RunAsync(DistributedApplication app)
    {
        if (!AppHostOwnsTheProcess)
        {
            try
            {
                await app.RunAsync();
            }
            finally
            {
                await app.DisposeAsync();
            }

            return;
        }

        // Set before DCP starts (in app.RunAsync), so DCP and everything it starts inherit it.
        var session = Guid.NewGuid().ToString("N");
        Environment.SetEnvironmentVariable(SessionVariable, session);
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

        var killed = await EndAsync(session, (stopRequested ?? timeProvider.GetUtcNow()) + ShutdownDeadline, timeProvider);
        if (killed > 0)
        {
            Console.Error.WriteLine($"Ended {killed} process(es) still running {ShutdownDeadline.TotalSeconds:0.#} s after the stop signal.");
        }
    }

    /// <summary>Waits until every process of the run <paramref name="session"/> has exited or <paramref name="deadline"/>
    /// passes, then kills the ones left; returns how many had to be killed.</summary>
    public static Task<int> EndAsync(string session, DateTimeOffset deadline, TimeProvider timeProvider)
    {
        if (!OperatingSystem.IsLinux())
        {
            return Task.FromResult(0);
        }

        var self = Environment.ProcessId;
        return EndAsync(() => FindOwnProcesses(self, session), deadline, timeProvider);
    }

    /// <summary>The wait and the kill over any way of finding the run's processes. The wait ends only after two scans in a
    /// row find none: a process caught while it execs has no environment in <c>/proc</c> for that moment, so a single
    /// empty scan can miss it.</summary>
    internal static async Task<int> EndAsync(Func<IReadOnlyList<int>> findOwnProcesses, DateTimeOffset deadline, TimeProvider timeProvider)
    {
        var emptyScansInARow = 0;
        while (timeProvider.GetUtcNow() < deadline)
        {
            emptyScansInARow = findOwnProcesses().Count == 0 ? emptyScansInARow + 1 : 0;
            if (emptyScansInARow == 2)
            {
                return 0;
            }

            await Task.Delay(PollInterval, timeProvider);
        }

        var left = findOwnProcesses();
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

    /// <summary>Every process but <paramref name="self"/> whose environment has <see cref="SessionVariable"/> set to
    /// <paramref name="session"/>.</summary>
    public static IReadOnlyList<int> FindOwnProcesses(int self, string session)
    {
        var found = new List<int>();
        var marker = $"{SessionVariable}={session}\0";
        foreach (var directory in Directory.EnumerateDirectories("/proc"))
        {
            if (int.TryParse(Path.GetFileName(directory), NumberStyles.None, CultureInfo.InvariantCulture, out var pid)
                && pid != self && HasMarker(directory, marker))
            {
                found.Add(pid);
            }
        }

        return found;
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
}
