using System.Diagnostics;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace DirectorsConsole.ServiceDefaults.Hosting;

/// <summary>
/// Stops this service when the AppHost that started it is gone (<c>DIRECTORSCONSOLE_PARENT_PID</c>), so a
/// hard-killed AppHost leaves no service running. Without the variable (a container, a real Aspire host)
/// it does nothing.
/// </summary>
public sealed class ParentProcessWatcher(
    IConfiguration configuration, IHostApplicationLifetime lifetime, ILogger<ParentProcessWatcher> logger, TimeProvider time)
    : BackgroundService
{
    public const string ParentPidVariable = "DIRECTORSCONSOLE_PARENT_PID";
    private static readonly TimeSpan PollInterval = TimeSpan.FromSeconds(1);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!int.TryParse(configuration[ParentPidVariable], out var parentPid))
        {
            return;
        }

        using var timer = new PeriodicTimer(PollInterval, time);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            if (!IsRunning(parentPid))
            {
                logger.LogWarning("Parent process {ParentPid} has exited; stopping this service", parentPid);
                lifetime.StopApplication();
                return;
            }
        }
    }

    private static bool IsRunning(int pid)
    {
        try
        {
            using var process = Process.GetProcessById(pid);
            return !process.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }
}
