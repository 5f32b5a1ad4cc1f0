using System.Diagnostics;
using System.Runtime.InteropServices;

namespace DirectorsConsole.AppHost.Hosting;

/// <summary>
/// Stops a child gracefully: SIGTERM first (ASP.NET Core and Garnet shut down cleanly on it), then, after
/// the grace period, kills the whole process tree.
/// </summary>
internal static class ProcessTermination
{
    private const int SigTerm = 15;
    private static readonly TimeSpan KillWait = TimeSpan.FromSeconds(5);

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int SendSignal(int pid, int signal);

    /// <returns>True when the process stopped within <paramref name="grace"/>, false when it had to be killed.</returns>
    public static async Task<bool> StopAsync(Process process, TimeSpan grace)
    {
        if (HasExited(process))
        {
            return true;
        }

        if (!OperatingSystem.IsWindows())
        {
            SendSignal(process.Id, SigTerm);
            using var graceful = new CancellationTokenSource(grace);
            try
            {
                await process.WaitForExitAsync(graceful.Token);
                return true;
            }
            catch (OperationCanceledException)
            {
                // Still running after the grace period: kill it below.
            }
        }

        try
        {
            process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            return true;
        }

        using var killed = new CancellationTokenSource(KillWait);
        try
        {
            await process.WaitForExitAsync(killed.Token);
        }
        catch (OperationCanceledException)
        {
            // Killed, but something still holds its output pipes; the process itself is gone.
        }

        return false;
    }

    private static bool HasExited(Process process)
    {
        try
        {
            return process.HasExited;
        }
        catch (InvalidOperationException)
        {
            return true;
        }
    }
}
