using DirectorsConsole.Comfy;
using Microsoft.Extensions.Options;

namespace DirectorsConsole.RenderAgent;

/// <summary>
/// The agent's loops: the node's socket, the orchestrator's socket, registration and heartbeats (every third of the
/// heartbeat TTL, with the held task ids; the reply's <c>cancel_tasks</c> are stopped), and one long poll per slot,
/// each running the task it gets to a delivered result before it polls again.
/// </summary>
public sealed class RenderAgentWorker(
    IOptions<AgentOptions> options,
    ComfyNode node,
    ComfyHttpClient comfy,
    OrchestratorClient orchestrator,
    OrchestratorSocket socket,
    Registration registration,
    HeldTasks tasks,
    TaskRunner runner,
    ILogger<RenderAgentWorker> logger,
    TimeProvider time) : BackgroundService
{
    private readonly AgentOptions _options = options.Value;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        logger.LogInformation("Render agent {WorkerId}: ComfyUI {ComfyUi}, orchestrator {Orchestrator}, {Slots} slots",
            _options.WorkerId, _options.ComfyUiBase, _options.OrchestratorBase, _options.Slots);
        var loops = new List<Task>
        {
            Loop("ComfyUI socket", node.RunAsync, stoppingToken),
            Loop("orchestrator socket", socket.RunAsync, stoppingToken),
            Loop("heartbeat", HeartbeatAsync, stoppingToken),
        };
        for (var slot = 0; slot < _options.Slots; slot++)
        {
            loops.Add(Loop($"poll {slot}", PollAsync, stoppingToken));
        }

        await Task.WhenAll(loops).ConfigureAwait(false);
    }

    /// <summary>Runs a loop until the agent stops; a loop that fails unexpectedly is logged and started again.</summary>
    private async Task Loop(string name, Func<CancellationToken, Task> body, CancellationToken stoppingToken)
    {
        await Task.Yield();
        var backoff = new Backoff(_options, time);
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await body(stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                logger.LogError(ex, "The {Loop} loop failed; it starts again", name);
            }

            try
            {
                await backoff.WaitAsync(stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <summary>Registers (again after a 404 or an outage), then heartbeats every TTL/3.</summary>
    private async Task HeartbeatAsync(CancellationToken stoppingToken)
    {
        var backoff = new Backoff(_options, time);
        RegistrationReply? current = null;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                if (current is null)
                {
                    var capabilities = await node.DiscoverAsync(stoppingToken).ConfigureAwait(false);
                    current = await orchestrator.RegisterAsync(
                        new WorkerRegistration(_options.WorkerId, _options.Name ?? _options.WorkerId, _options.MaxConcurrentJobs, _options.Prefetch, capabilities),
                        stoppingToken).ConfigureAwait(false);
                    logger.LogInformation("Registered as {WorkerId} ({Classes} node classes, {Models} models, GPU {Gpu}); heartbeat TTL {Ttl} s",
                        current.WorkerId, capabilities.NodeClasses.Count, capabilities.Models.Count, capabilities.Gpu ?? "none", current.HeartbeatTtlSeconds);
                }

                var reply = await orchestrator.HeartbeatAsync(await ReadLoadAsync(stoppingToken).ConfigureAwait(false), stoppingToken).ConfigureAwait(false);
                // Registered only after the first heartbeat, so the orchestrator knows the held tasks before any result.
                registration.Registered(current);
                backoff.Reset();
                foreach (var taskId in reply.CancelTasks ?? [])
                {
                    tasks.Cancel(taskId, "listed in the heartbeat reply's cancel_tasks");
                }

                await Task.Delay(HeartbeatInterval(current), time, stoppingToken).ConfigureAwait(false);
                continue;
            }
            catch (WorkerNotRegisteredException ex)
            {
                logger.LogWarning("The orchestrator does not know this agent ({Reason}); registering again", ex.Message);
                current = null;
                registration.Lost();
                continue;
            }
            catch (OrchestratorUnavailableException ex)
            {
                logger.LogWarning("The orchestrator did not answer the {Call} (attempt {Attempt}): {Reason}",
                    current is null ? "registration" : "heartbeat", backoff.Failures + 1, ex.Message);
                // Once it answers again it hears a registration first: it may have restarted or timed this agent out.
                current = null;
                registration.Lost();
            }
            catch (OrchestratorRefusedException ex)
            {
                logger.LogError("The orchestrator refused the {Call}: {Reason}", current is null ? "registration" : "heartbeat", ex.Message);
                current = null;
                registration.Lost();
            }
            catch (Exception ex) when (ex is ComfyRequestException || ex is OperationCanceledException && !stoppingToken.IsCancellationRequested)
            {
                logger.LogWarning("Could not read the capabilities of the node {Node} before registering: {Reason}", node.Address, ex.Message);
            }

            await backoff.WaitAsync(stoppingToken).ConfigureAwait(false);
        }
    }

    private static TimeSpan HeartbeatInterval(RegistrationReply reply) =>
        TimeSpan.FromSeconds(Math.Clamp(reply.HeartbeatTtlSeconds / 3, 0.1, 60));

    private async Task<Heartbeat> ReadLoadAsync(CancellationToken stoppingToken)
    {
        var held = tasks.Ids;
        int? running = null, pending = null;
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
            timeout.CancelAfter(_options.RequestTimeout);
            var queue = await comfy.GetQueueAsync(node.Address, timeout.Token).ConfigureAwait(false);
            (running, pending) = (queue.Running, queue.Pending);
        }
        catch (Exception ex) when (ex is ComfyRequestException || ex is OperationCanceledException && !stoppingToken.IsCancellationRequested)
        {
            logger.LogDebug("The heartbeat goes without the node's queue: {Reason}", ex.Message);
        }

        return new Heartbeat(held.Count == 0 ? "idle" : "busy", held, running, pending);
    }

    /// <summary>One slot: long-polls for a task and runs it to a delivered result.</summary>
    private async Task PollAsync(CancellationToken stoppingToken)
    {
        var backoff = new Backoff(_options, time);
        while (!stoppingToken.IsCancellationRequested)
        {
            var registered = await registration.WaitAsync(stoppingToken).ConfigureAwait(false);
            AgentTask? task;
            try
            {
                task = await orchestrator.NextTaskAsync(TimeSpan.FromSeconds(Math.Max(1, registered.PollTimeoutSeconds)), stoppingToken).ConfigureAwait(false);
                backoff.Reset();
            }
            catch (WorkerNotRegisteredException ex)
            {
                logger.LogWarning("The orchestrator does not know this agent ({Reason}); polling again once registered", ex.Message);
                registration.Lost();
                continue;
            }
            catch (Exception ex) when (ex is OrchestratorUnavailableException or OrchestratorRefusedException)
            {
                logger.LogWarning("Polling for a task failed (attempt {Attempt}): {Reason}", backoff.Failures + 1, ex.Message);
                await backoff.WaitAsync(stoppingToken).ConfigureAwait(false);
                continue;
            }

            if (task is null)
            {
                continue;
            }

            if (tasks.TryHold(task) is not { } held)
            {
                logger.LogInformation("Task {TaskId} was handed out again while this agent holds it; it is not run twice", task.TaskId);
                continue;
            }

            await runner.RunAsync(held, stoppingToken).ConfigureAwait(false);
        }
    }
}
