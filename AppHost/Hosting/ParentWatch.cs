using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;

namespace DirectorsConsole.AppHost.Hosting;

/// <summary>
/// Makes every .NET process the AppHost starts end when the AppHost is gone, even after a <c>kill -9</c> that gives
/// the AppHost no chance to stop them. The AppHost passes its own assembly in <c>DOTNET_STARTUP_HOOKS</c>, so the
/// runtime runs <see cref="StartupHook"/> inside the child before its <c>Main</c>: this works for programs that
/// cannot read <c>DIRECTORSCONSOLE_PARENT_PID</c> themselves (Garnet), on every OS, without a wrapper process
/// (the PID the AppHost shows stays the child's, and signals reach it directly).
/// </summary>
public static class ParentWatch
{
    public const string StartupHooksVariable = "DOTNET_STARTUP_HOOKS";

    /// <summary>How often the child looks for its parent.</summary>
    public static readonly TimeSpan PollInterval = TimeSpan.FromSeconds(1);

    /// <summary>How long the child may shut down gracefully (SIGTERM) before it kills itself.</summary>
    public static readonly TimeSpan GracefulExitTimeout = TimeSpan.FromSeconds(10);

    private const int SigTerm = 15;

    /// <summary>The value of <see cref="StartupHooksVariable"/> for a child: this assembly, after any hooks the
    /// AppHost's own environment already lists (a profiler's, say).</summary>
    public static string StartupHooks(string? inherited)
    {
        var hook = typeof(ParentWatch).Assembly.Location;
        return string.IsNullOrEmpty(inherited) ? hook : $"{inherited}{Path.PathSeparator}{hook}";
    }

    /// <summary>Starts watching the process named by <see cref="ResourceEnvironment.ParentPidVariable"/>.</summary>
    internal static void Start()
    {
        if (!int.TryParse(Environment.GetEnvironmentVariable(ResourceEnvironment.ParentPidVariable), NumberStyles.None, CultureInfo.InvariantCulture, out var parentPid))
        {
            return;
        }

        // The parent's start time tells it apart from a later process that gets the same PID.
        var parentStartedAt = StartTimeOf(parentPid);
        new Thread(() => Watch(parentPid, parentStartedAt)) { IsBackground = true, Name = "AppHost watch" }.Start();
    }

    private static void Watch(int parentPid, DateTime? parentStartedAt)
    {
        while (parentStartedAt is not null && StartTimeOf(parentPid) == parentStartedAt)
        {
            Thread.Sleep(PollInterval);
        }

        Console.Error.WriteLine($"The AppHost (PID {parentPid}) has exited; stopping this process ({Environment.ProcessId}).");
        if (!OperatingSystem.IsWindows())
        {
            // Graceful first: ASP.NET Core and Garnet stop cleanly on SIGTERM.
            _ = SendSignal(Environment.ProcessId, SigTerm);
            Thread.Sleep(GracefulExitTimeout);
        }

        using var self = Process.GetCurrentProcess();
        self.Kill();
    }

    private static DateTime? StartTimeOf(int pid)
    {
        try
        {
            // A parent killed but not yet reaped by its own parent is a zombie: gone, though its PID still answers.
            if (OperatingSystem.IsLinux() && IsZombie(pid))
            {
                return null;
            }

            using var process = Process.GetProcessById(pid);
            return process.HasExited ? null : process.StartTime;
        }
        catch (Exception ex) when (ex is ArgumentException or InvalidOperationException or System.ComponentModel.Win32Exception)
        {
            return null;
        }
    }

    private static bool IsZombie(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            return stat.AsSpan(stat.LastIndexOf(')') + 2).StartsWith("Z");
        }
        catch (IOException)
        {
            return true;
        }
    }

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int SendSignal(int pid, int signal);
}
