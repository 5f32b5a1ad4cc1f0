using System.Collections.Concurrent;
using Aspire.Hosting.ApplicationModel;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace DirectorsConsole.AppHost.Hosting;

/// <summary>
/// Aspire does not restart a process that exits by itself; this does, with <see cref="RestartBackoff"/>. It follows
/// every resource's state through <see cref="ResourceNotificationService"/> and, when one of <paramref name="supervised"/>
/// ends without having been asked to stop (its state was not <c>Stopping</c>), runs the resource's start command,
/// as the dashboard's button would. While it is down the Gateway's <c>/health</c> reports it: the Gateway probes
/// every replica itself.
/// </summary>
public sealed class CrashedResourceRestarter(
    IReadOnlySet<string> supervised,
    ResourceNotificationService notifications,
    ResourceCommandService commands,
    IHostApplicationLifetime lifetime,
    TimeProvider time,
    ILogger<CrashedResourceRestarter> logger) : BackgroundService
{
    /// <summary>How long one start command may take before it counts as failed (and is tried again).</summary>
    public static readonly TimeSpan StartCommandTimeout = TimeSpan.FromSeconds(60);

    private static readonly string[] EndedStates = [KnownResourceStates.Exited, KnownResourceStates.Finished, KnownResourceStates.FailedToStart];

    private readonly ConcurrentDictionary<string, ResourceRun> _runs = new(StringComparer.Ordinal);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            await foreach (var update in notifications.WatchAsync(stoppingToken))
            {
                if (supervised.Contains(update.Resource.Name))
                {
                    Observe(update.ResourceId, update.Resource.Name, update.Snapshot.State?.Text);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // The AppHost is stopping; so is every resource.
        }
    }

    private void Observe(string resourceId, string name, string? state)
    {
        var run = _runs.GetOrAdd(resourceId, _ => new ResourceRun());
        lock (run)
        {
            var previous = run.State;
            run.State = state;
            if (state == KnownResourceStates.Running && previous != KnownResourceStates.Running)
            {
                run.RunningSince = time.GetUtcNow();
            }

            if (state is null || !EndedStates.Contains(state) || previous is null || EndedStates.Contains(previous)
                || previous == KnownResourceStates.Stopping || run.RestartPending || lifetime.ApplicationStopping.IsCancellationRequested)
            {
                return;
            }

            run.RestartPending = true;
            var healthyFor = run.RunningSince is { } since ? time.GetUtcNow() - since : TimeSpan.Zero;
            run.RunningSince = null;
            var delay = run.Backoff.NextDelay(healthyFor);
            logger.LogWarning("{Resource} ended ({State}); restarting it in {Delay:0.#} s", name, state, delay.TotalSeconds);
            _ = RestartAsync(resourceId, name, run, delay);
        }
    }

    private async Task RestartAsync(string resourceId, string name, ResourceRun run, TimeSpan delay)
    {
        var stopping = lifetime.ApplicationStopping;
        try
        {
            await Task.Delay(delay, time, stopping);
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stopping);
            timeout.CancelAfter(StartCommandTimeout);
            var result = await commands.ExecuteCommandAsync(resourceId, KnownResourceCommands.StartCommand, timeout.Token);
            if (!result.Success)
            {
                logger.LogError("{Resource} could not be restarted: {Reason}", name, result.Message);
            }
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
            // No restarts while the AppHost stops.
        }
        catch (Exception ex)
        {
            logger.LogError(ex, "{Resource} could not be restarted", name);
        }
        finally
        {
            lock (run)
            {
                run.RestartPending = false;
            }
        }
    }

    private sealed class ResourceRun
    {
        public string? State { get; set; }

        public DateTimeOffset? RunningSince { get; set; }

        public bool RestartPending { get; set; }

        public RestartBackoff Backoff { get; } = new();
    }
}
