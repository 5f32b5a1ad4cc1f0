using System.Net.Sockets;
using Aspire.Hosting.ApplicationModel;
using DirectorsConsole.AppHost.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace DirectorsConsole.AppHost.Hosting;

/// <summary>
/// Stops the suite in order when the AppHost stops (Ctrl+C, SIGTERM): the Gateway first so no new request comes
/// in, then the services and render nodes, then Redis once its append-only file is committed, and returns only when
/// their processes have ended. Left to itself, Aspire hands the processes to its orchestrator, which ends them
/// all at once after the AppHost has exited. Added after Aspire's own hosted services, so it stops before them.
/// </summary>
public sealed class OrderedShutdown(
    DistributedApplicationModel model,
    ResourceCommandService commands,
    ResourceNotificationService notifications,
    ILogger<OrderedShutdown> logger) : IHostedService
{
    /// <summary>How long each stage may take; a process still running then is killed by the orchestrator.</summary>
    public static readonly TimeSpan StageTimeout = TimeSpan.FromSeconds(4);

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        var started = model.Resources.Where(r => r is ProjectResource or ExecutableResource).ToList();
        await StopAllAsync(started.Where(r => r.Name == GatewayExtensions.Name), cancellationToken);
        await StopAllAsync(started.Where(r => r is ProjectResource && r.Name != GatewayExtensions.Name), cancellationToken);
        foreach (var store in started.OfType<LocalRedisResource>())
        {
            await PrepareToStopAsync(store, cancellationToken);
        }

        await StopAllAsync(started.Where(r => r is not ProjectResource), cancellationToken);
    }

    private async Task StopAllAsync(IEnumerable<IResource> resources, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(StageTimeout);
        await Task.WhenAll(resources.Select(async resource =>
        {
            try
            {
                if (!IsRunning(resource))
                {
                    return;
                }

                var result = await commands.ExecuteCommandAsync(resource, KnownResourceCommands.StopCommand, timeout.Token);
                if (!result.Success)
                {
                    logger.LogWarning("{Resource} did not stop: {Reason}", resource.Name, result.Message);
                    return;
                }

                await notifications.WaitForResourceAsync(resource.Name, KnownResourceStates.TerminalStates, timeout.Token);
            }
            catch (OperationCanceledException) when (timeout.IsCancellationRequested)
            {
                logger.LogWarning("{Resource} did not stop within {Timeout:0} s", resource.Name, StageTimeout.TotalSeconds);
            }
        }));
    }

    private bool IsRunning(IResource resource) =>
        notifications.TryGetCurrentState(resource.Name, out var state)
        && state.Snapshot.State?.Text is { } text && !KnownResourceStates.TerminalStates.Contains(text) && text != KnownResourceStates.NotStarted;

    private async Task PrepareToStopAsync(LocalRedisResource store, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(RedisPingHealthCheck.Timeout);
        try
        {
            await store.PrepareToStopAsync(timeout.Token);
        }
        catch (Exception ex) when (ex is SocketException or IOException or InvalidOperationException or OperationCanceledException)
        {
            logger.LogWarning("{Resource}'s append-only file could not be committed before stopping: {Reason}", store.Name, ex.Message);
        }
    }
}
