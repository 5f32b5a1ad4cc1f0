using DirectorsConsole.BackendService.Comfy;
using DirectorsConsole.Comfy;
using DirectorsConsole.BackendService.Infrastructure;
using DirectorsConsole.BackendService.Model;
using DirectorsConsole.ServiceDefaults.Backends;
using DirectorsConsole.Messaging;
using Microsoft.Extensions.Options;

namespace DirectorsConsole.BackendService.Dispatch;

/// <summary>
/// Dispatch to one backend, run by the lease manager only on the replica holding that backend's lease, so exactly
/// one replica posts to each node and <c>max_concurrent_jobs</c> holds across replicas. Each run is a
/// <see cref="BackendDispatchSession"/>; one that fails unexpectedly (Redis down at start) is started again after a pause.
/// </summary>
public sealed class BackendDispatchWorker(
    IDurableQueue queue,
    IEventBus eventBus,
    DispatchStore store,
    RenderEventPublisher publisher,
    BackendStateStore states,
    ComfyPromptClient comfy,
    NodeMonitorReadings monitorReadings,
    IOptions<DispatchOptions> options,
    TimeProvider timeProvider,
    ILoggerFactory loggerFactory) : IBackendWorker
{
    private readonly ILogger _logger = loggerFactory.CreateLogger<BackendDispatchWorker>();

    public async Task RunAsync(BackendDefinition backend, CancellationToken leaseLost)
    {
        if (backend.IsAgent)
        {
            // The agent pulls its prompts (WorkerApi); its lease holder only watches it for loss and disabling.
            await new Agents.AgentSupervisor(queue, store, publisher, states, options.Value, timeProvider, loggerFactory.CreateLogger<Agents.AgentSupervisor>())
                .RunAsync(backend, leaseLost);
            return;
        }

        while (!leaseLost.IsCancellationRequested)
        {
            var session = new BackendDispatchSession(
                backend, queue, eventBus, store, publisher, states, comfy, monitorReadings, options.Value, timeProvider,
                loggerFactory.CreateLogger<BackendDispatchSession>());
            try
            {
                await session.RunAsync(leaseLost);
            }
            catch (OperationCanceledException) when (leaseLost.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                _logger.LogError(ex, "Dispatch to backend {BackendId} stopped unexpectedly; starting it again", backend.Id);
                try
                {
                    await Task.Delay(options.Value.SocketReconnectMaxDelay, timeProvider, leaseLost);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }
}
