using Microsoft.Extensions.Logging;

namespace DirectorsConsole.AppHost.Hosting;

/// <summary>Checks one replica's health until cancelled: every 500 ms until healthy, then every 2 s.</summary>
internal static class HealthMonitor
{
    public static readonly TimeSpan ProbeTimeout = TimeSpan.FromSeconds(2);
    public static readonly TimeSpan PollWhileUnhealthy = TimeSpan.FromMilliseconds(500);
    public static readonly TimeSpan PollWhileHealthy = TimeSpan.FromSeconds(2);

    /// <param name="stateBeforeFirstSuccess">What a failing check means before the first success:
    /// <see cref="ResourceState.Starting"/> for a process just started, <see cref="ResourceState.Unhealthy"/>
    /// for something that should already be running.</param>
    public static async Task RunAsync(
        ReplicaStatus status, IHealthProbe probe, Uri endpoint, int? pid, ResourceState stateBeforeFirstSuccess,
        ILogger logger, TimeProvider time, CancellationToken cancellationToken)
    {
        var everHealthy = false;
        while (!cancellationToken.IsCancellationRequested)
        {
            var problem = await CheckAsync(probe, endpoint, cancellationToken);
            if (cancellationToken.IsCancellationRequested)
            {
                return;
            }

            if (problem is null)
            {
                everHealthy = true;
                status.Set(ResourceState.Healthy, pid);
            }
            else
            {
                if (status.State == ResourceState.Healthy)
                {
                    logger.LogWarning("{Replica} is unhealthy: {Problem}", status.Name, problem);
                }

                status.Set(everHealthy ? ResourceState.Unhealthy : stateBeforeFirstSuccess, pid, problem);
            }

            try
            {
                await Task.Delay(problem is null ? PollWhileHealthy : PollWhileUnhealthy, time, cancellationToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <returns>Null when healthy, otherwise why not. When <paramref name="cancellationToken"/> is cancelled
    /// while a probe is under way (the process exited, or the AppHost is stopping) the answer does not matter:
    /// the caller sees the token and ends. The cancellation must not escape as an exception, or the supervisor
    /// awaiting this monitor would end with it and never restart the process.</returns>
    internal static async Task<string?> CheckAsync(IHealthProbe probe, Uri endpoint, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(ProbeTimeout);
        try
        {
            return await probe.CheckAsync(endpoint, timeout.Token) ? null : $"the health check of {endpoint} answered unhealthy";
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return "the health check was cancelled";
        }
        catch (OperationCanceledException)
        {
            return $"no health answer from {endpoint} within {ProbeTimeout.TotalSeconds:0} s";
        }
        catch (Exception ex)
        {
            return $"health check of {endpoint} failed: {ex.Message}";
        }
    }
}
