using DirectorsConsole.BackendService.Dispatch;
using DirectorsConsole.BackendService.Infrastructure;
using DirectorsConsole.Contracts;
using DirectorsConsole.Messaging;
using DirectorsConsole.ServiceDefaults.Backends;

namespace DirectorsConsole.BackendService.Agents;

/// <summary>
/// What the replica holding a render agent backend's lease does for it, in place of a node's dispatch session (the
/// agent pulls its prompts itself): every <see cref="DispatchOptions.HealthCheckInterval"/> it reads the backend's state
/// (which the probe derives from the agent's heartbeats) and, once the agent has been offline for
/// <see cref="DispatchOptions.OfflineGrace"/>, fails its prompts in flight with <c>backend_lost</c>, exactly as a lost
/// node's (JobService moves their jobs). While the backend is disabled (or deleted) the commands left on its queue fail
/// as a disabled node's do. A result the agent posts later for such a prompt is <c>ignored</c> (stale).
/// </summary>
public sealed class AgentSupervisor(
    IDurableQueue queue,
    DispatchStore store,
    RenderEventPublisher publisher,
    BackendStateStore states,
    DispatchOptions options,
    TimeProvider timeProvider,
    ILogger logger)
{
    public async Task RunAsync(BackendDefinition agent, CancellationToken leaseLost)
    {
        // Offline from the start until a state says otherwise: prompts of an agent that never comes back are lost after the grace.
        DateTimeOffset? offlineSince = timeProvider.GetUtcNow();
        using var timer = new PeriodicTimer(options.HealthCheckInterval, timeProvider);
        do
        {
            try
            {
                var state = await states.GetAsync(agent.Id, leaseLost);
                var now = timeProvider.GetUtcNow();
                if (!agent.Enabled)
                {
                    await FailQueuedAsync(agent, leaseLost);
                }

                if (state is { Online: true })
                {
                    offlineSince = null;
                }
                else if ((offlineSince ??= now) is { } since && now - since >= options.OfflineGrace)
                {
                    await LoseInFlightAsync(agent, state, leaseLost);
                }
            }
            catch (OperationCanceledException) when (leaseLost.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                logger.LogError(ex, "Watching render agent {AgentId} failed; looking again at the next check", agent.Id);
            }
        }
        while (await WaitAsync(timer, leaseLost));
    }

    private static async Task<bool> WaitAsync(PeriodicTimer timer, CancellationToken cancellationToken)
    {
        try
        {
            return await timer.WaitForNextTickAsync(cancellationToken);
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    private async Task LoseInFlightAsync(BackendDefinition agent, BackendRuntimeState? state, CancellationToken cancellationToken)
    {
        var prompts = await store.ListInFlightAsync(agent.Id, cancellationToken);
        if (prompts.Count == 0)
        {
            return;
        }

        var reason = $"Render agent {agent.Name} went offline ({state?.LastError ?? "no heartbeat"}) for {options.OfflineGrace.TotalSeconds:0} s; retry the prompt elsewhere.";
        logger.LogWarning("Render agent {AgentId}: {Reason} ({Count} prompts lost)", agent.Id, reason, prompts.Count);
        foreach (var prompt in prompts)
        {
            await publisher.PublishAsync(
                new RenderEvent(RenderEventKinds.Failed, prompt.PromptId, prompt.JobId, agent.Id, timeProvider.GetUtcNow())
                {
                    Error = reason,
                    ErrorType = RenderErrorTypes.BackendLost,
                },
                cancellationToken);
        }
    }

    /// <summary>A disabled or deleted agent takes nothing new: what the scheduler sent it just before fails (or ends
    /// as cancelled), as on a disabled node.</summary>
    private async Task FailQueuedAsync(BackendDefinition agent, CancellationToken cancellationToken)
    {
        while (await queue.TryReceiveAsync<RunPromptCommand>(RenderChannels.BackendQueue(agent.Id), options.BackendVisibilityTimeout, cancellationToken) is { } delivery)
        {
            var command = delivery.Message;
            var cancelled = await store.IsCancelRequestedAsync(command.PromptId, cancellationToken);
            await publisher.PublishAsync(
                new RenderEvent(cancelled ? RenderEventKinds.Interrupted : RenderEventKinds.Failed, command.PromptId, command.JobId, agent.Id, timeProvider.GetUtcNow())
                {
                    Error = cancelled ? "cancelled before it started" : $"Backend '{agent.Id}' is disabled or deleted; it takes no new prompts.",
                    ErrorType = cancelled ? null : RenderErrorTypes.NoEligibleBackend,
                },
                cancellationToken);
            await queue.AckAsync(delivery, cancellationToken);
        }
    }
}
