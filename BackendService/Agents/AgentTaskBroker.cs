using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using DirectorsConsole.BackendService.Dispatch;
using DirectorsConsole.Comfy;
using DirectorsConsole.Contracts;
using DirectorsConsole.Messaging;
using DirectorsConsole.ServiceDefaults.Backends;
using Microsoft.Extensions.Options;

namespace DirectorsConsole.BackendService.Agents;

/// <summary>
/// The tasks of render agents: the hand-out of the commands JobService's scheduler put on an agent backend's queue
/// (<see cref="RenderChannels.BackendQueue"/>), their confirmation, and their results. A hand-out records the prompt
/// in <see cref="DispatchStore"/> as a post to a node does (claim, in-flight record, <c>accepted</c>), so the in-flight
/// count, the cancel flag, fail-over and the render events work as for a node. The queue delivery is acknowledged only
/// once the agent shows it holds the task; until then the queue's visibility timeout (<see cref="AgentOptions.HandOutTimeout"/>)
/// offers it again, so a reply lost on its way to the agent loses nothing, and the agent recognises a task it already
/// holds by its prompt id. A result ends the prompt through the same event record as a node's messages: once.
/// </summary>
public sealed class AgentTaskBroker(
    IDurableQueue queue,
    DispatchStore store,
    RenderEventPublisher publisher,
    IOptions<AgentOptions> options,
    TimeProvider timeProvider,
    ILogger<AgentTaskBroker> logger)
{
    /// <summary>The next task for <paramref name="agent"/>, waiting up to <paramref name="timeout"/>; null when none came.</summary>
    public async Task<AgentTask?> NextAsync(BackendDefinition agent, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var deadline = timeProvider.GetUtcNow() + timeout;
        var backendQueue = RenderChannels.BackendQueue(agent.Id);
        while (deadline - timeProvider.GetUtcNow() is { } remaining && remaining > TimeSpan.Zero)
        {
            var delivery = await queue.ReceiveAsync<RunPromptCommand>(backendQueue, options.Value.HandOutTimeout, remaining, cancellationToken);
            if (delivery is null)
            {
                return null;
            }

            using var activity = delivery.StartProcessingActivity();
            if (await HandOutAsync(agent, delivery, cancellationToken) is { } task)
            {
                return task;
            }
        }

        return null;
    }

    private async Task<AgentTask?> HandOutAsync(BackendDefinition agent, QueueDelivery<RunPromptCommand> delivery, CancellationToken cancellationToken)
    {
        var command = delivery.Message;
        var claim = await store.ClaimAsync(command.PromptId, agent.Id, command.JobId, cancellationToken);
        if (claim.CancelRequested)
        {
            await PublishAsync(agent.Id, command.PromptId, command.JobId, RenderEventKinds.Interrupted, e => e with { Error = "cancelled before it started" }, cancellationToken);
            await queue.AckAsync(delivery, cancellationToken);
            return null;
        }

        if (!claim.Mine || claim.IsFinal)
        {
            logger.LogInformation("Prompt {PromptId} is already {Status} on backend {Owner}; dropping the duplicate command", command.PromptId, claim.Status ?? "claimed", claim.Owner);
            await queue.AckAsync(delivery, cancellationToken);
            return null;
        }

        var prompt = command.Seed is { } seed ? PromptSeeds.Apply(command.Prompt, seed, command.SeedNodes) : command.Prompt;
        var record = new InFlightPrompt(command.PromptId, command.JobId, timeProvider.GetUtcNow(), InFlightPrompt.NodeClassesOf(prompt))
        {
            Pending = new HandOut(delivery.Queue, delivery.MessageId, delivery.LeaseToken, delivery.DeliveryCount),
        };
        await store.AddInFlightAsync(agent.Id, record, cancellationToken);
        if (claim.Status is null)
        {
            await PublishAsync(agent.Id, command.PromptId, command.JobId, RenderEventKinds.Accepted, e => e, cancellationToken);
        }

        logger.LogInformation("Handed prompt {PromptId} of job {JobId} to render agent {AgentId} (delivery {Count})",
            command.PromptId, command.JobId, agent.Id, delivery.DeliveryCount);
        var tracing = new Dictionary<string, string>(StringComparer.Ordinal);
        if (delivery.ProducerContext is { TraceId: var traceId, SpanId: var spanId } context && traceId != default)
        {
            tracing["traceparent"] = string.Create(CultureInfo.InvariantCulture,
                $"00-{traceId.ToHexString()}-{spanId.ToHexString()}-{((context.TraceFlags & ActivityTraceFlags.Recorded) != 0 ? "01" : "00")}");
        }

        var extraData = new JsonObject { ["extra_pnginfo"] = new JsonObject { ["workflow"] = command.Workflow?.DeepClone() ?? new JsonObject() } };
        return new AgentTask(command.PromptId, command.JobId, AgentTask.ComfyUiPrompt,
            new AgentTaskParams(prompt, command.Priority, extraData), command.Priority, tracing);
    }

    /// <summary>The agent showed it holds the task: its hand-out is acknowledged and not offered again.</summary>
    public async Task ConfirmAsync(string agentId, string promptId, CancellationToken cancellationToken)
    {
        if (await store.ConfirmHandOutAsync(agentId, promptId, cancellationToken) is { } handOut)
        {
            await queue.AckAsync(handOut.Delivery, cancellationToken);
        }
    }

    /// <summary>Confirms every task a heartbeat names and returns those that must stop (ended or cancelled in the suite).</summary>
    public async Task<IReadOnlyList<string>> ReconcileRunningAsync(string agentId, IReadOnlyList<string> running, CancellationToken cancellationToken)
    {
        var stop = new List<string>();
        foreach (var promptId in running)
        {
            if (await store.HasEndedAsync(promptId, cancellationToken) || await store.IsCancelRequestedAsync(promptId, cancellationToken))
            {
                stop.Add(promptId);
                continue;
            }

            await ConfirmAsync(agentId, promptId, cancellationToken);
        }

        return stop;
    }

    /// <summary>Applies a result once. <paramref name="state"/> is the prompt's state, already checked to be this agent's.</summary>
    public async Task<AgentResultReply> AcceptResultAsync(BackendDefinition agent, PromptState state, AgentTaskResult result, CancellationToken cancellationToken)
    {
        var promptId = result.TaskId!;
        if (state.IsFinal)
        {
            return Ignored(state.ErrorType == RenderErrorTypes.BackendLost ? AgentIgnoredReasons.Stale : AgentIgnoredReasons.Duplicate, promptId, agent.Id);
        }

        if (result.JobId is { } jobId && state.JobId is { } stateJob && jobId != stateJob)
        {
            return Ignored(AgentIgnoredReasons.Stale, promptId, agent.Id);
        }

        await ConfirmAsync(agent.Id, promptId, cancellationToken);
        var body = result.Result!;
        var (kind, reply) = body.Status switch
        {
            AgentResultStatuses.Success => (RenderEventKinds.Completed, "result_accepted_success"),
            AgentResultStatuses.Failure => (RenderEventKinds.Failed, "result_accepted_failure"),
            _ => (RenderEventKinds.Interrupted, "result_accepted_cancelled"),
        };
        var outputs = ComfyResponses.ParseOutputs(body.Data?["outputs"] as JsonObject, PlaceholderBase)
            .Select(output => output.Filename is null ? output : output with { Url = ViewPath(agent.Id, output) })
            .ToArray();
        var published = await PublishAsync(agent.Id, promptId, state.JobId, kind, e => kind switch
        {
            RenderEventKinds.Completed => e with { Percent = 100, Outputs = outputs },
            RenderEventKinds.Failed => e with
            {
                Error = body.Error?.Message ?? "The render agent reported a failure without a message.",
                ErrorType = ErrorTypeOf(body.Error?.Code),
                Outputs = outputs,
            },
            _ => e with { Error = body.Error?.Message ?? "cancelled", Outputs = outputs },
        }, cancellationToken);
        return published ? new AgentResultReply(reply) : Ignored(AgentIgnoredReasons.Duplicate, promptId, agent.Id);
    }

    /// <summary>The suite's own address of an agent's output (the agent backend's <c>/view</c>, through the Gateway).</summary>
    public static string ViewPath(string agentId, RenderOutput output) =>
        string.Create(CultureInfo.InvariantCulture,
            $"/api/backends/{Uri.EscapeDataString(agentId)}/view?filename={Uri.EscapeDataString(output.Filename!)}&subfolder={Uri.EscapeDataString(output.Subfolder ?? "")}&type={Uri.EscapeDataString(output.Type ?? "output")}");

    private static readonly Uri PlaceholderBase = new("http://agent.invalid/");

    /// <summary>The agent's error code as the render event's error type: a refused workflow is one; the others keep their code.</summary>
    private static string ErrorTypeOf(string? code) => code switch
    {
        "INVALID_INPUT" => RenderErrorTypes.InvalidWorkflow,
        null or "" => "execution_error",
        _ => code.ToLowerInvariant(),
    };

    private AgentResultReply Ignored(string reason, string promptId, string agentId)
    {
        logger.LogInformation("Ignored the result of prompt {PromptId} from render agent {AgentId}: {Reason}", promptId, agentId, reason);
        return new AgentResultReply("ignored", reason);
    }

    private Task<bool> PublishAsync(string agentId, string promptId, string? jobId, string kind, Func<RenderEvent, RenderEvent> details, CancellationToken cancellationToken) =>
        publisher.PublishAsync(details(new RenderEvent(kind, promptId, jobId, agentId, timeProvider.GetUtcNow())), cancellationToken);
}
