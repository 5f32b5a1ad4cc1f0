using System.Diagnostics;
using System.Text.Json.Nodes;
using DirectorsConsole.Comfy;
using DirectorsConsole.Contracts;
using Microsoft.Extensions.Options;
using static DirectorsConsole.RenderAgent.WorkerProtocol;

namespace DirectorsConsole.RenderAgent;

/// <summary>How a task ended on the node: the result to post and the files to upload before it.</summary>
public sealed record TaskOutcome(TaskResult Result, IReadOnlyList<RenderOutput> Files);

/// <summary>
/// Runs one held task: posts its prompt to the node under the task's id (after looking it up in <c>/queue</c> and
/// <c>/history</c>, so a task handed out twice or a post whose reply was lost never runs twice), waits for it to end
/// (woken by the node's socket, checked every <see cref="AgentOptions.ReconcileInterval"/> regardless), stops it by
/// queue delete and targeted interrupt when the orchestrator cancels it, uploads its output files and posts the
/// result, retrying with back-off until the orchestrator accepts or ignores it.
/// </summary>
public sealed class TaskRunner(
    IOptions<AgentOptions> options,
    ComfyNode node,
    ComfyPromptClient prompts,
    OrchestratorClient orchestrator,
    Registration registration,
    HeldTasks tasks,
    ILogger<TaskRunner> logger,
    TimeProvider time)
{
    public const string ActivitySourceName = "DirectorsConsole.RenderAgent";

    private static readonly ActivitySource Source = new(ActivitySourceName);

    /// <summary>Attempts at <c>POST /prompt</c> before the task fails as transient (each after looking the prompt up).</summary>
    private const int PostAttempts = 3;

    private static readonly TimeSpan EndedRecheck = TimeSpan.FromMilliseconds(100);
    private readonly AgentOptions _options = options.Value;

    /// <summary>Runs the task to a delivered result and releases it; returns early only when the agent stops.</summary>
    public async Task RunAsync(HeldTask held, CancellationToken stopping)
    {
        // One span per task in the job's trace (the task's tracing_context), around its ComfyUI calls and uploads.
        ActivityContext.TryParse((string?)held.Task.TracingContext?["traceparent"], null, out var parent);
        using var activity = Source.StartActivity("render task", ActivityKind.Consumer, parent);
        activity?.SetTag("dc.task_id", held.Id);
        activity?.SetTag("dc.job_id", held.Task.JobId);
        try
        {
            var outcome = await RenderAsync(held, stopping).ConfigureAwait(false);
            logger.LogInformation("Task {TaskId} of job {JobId} ended on the node: {Status}{Error}", held.Id, held.Task.JobId, outcome.Result.Status,
                outcome.Result.Error is { } error ? $" ({error.Code}: {error.Message})" : "");
            await DeliverAsync(held, outcome, stopping).ConfigureAwait(false);
        }
        finally
        {
            tasks.Release(held.Id);
        }
    }

    private async Task<TaskOutcome> RenderAsync(HeldTask held, CancellationToken stopping)
    {
        var id = held.Id;
        var backoff = new Backoff(_options, time);
        var posted = false;
        var attempts = 0;
        while (!posted)
        {
            if (held.Cancelled.IsCancellationRequested)
            {
                return Cancelled([]);
            }

            try
            {
                // The socket is open before the post, so none of the prompt's messages are missed.
                await node.WaitConnectedAsync(stopping).ConfigureAwait(false);
                var (queued, entry) = await LookUpAsync(id, stopping).ConfigureAwait(false);
                if (entry is not null)
                {
                    logger.LogInformation("Task {TaskId} already ran on the node; its result is sent again, the prompt is not", id);
                    return FromHistory(entry, cancelSent: false);
                }

                if (queued)
                {
                    logger.LogInformation("Task {TaskId} is already in the node's queue; it is followed, not posted again", id);
                    break;
                }

                if (attempts++ == PostAttempts)
                {
                    return Failure(ErrorCode.Transient, $"POST /prompt on {node.Address} failed {PostAttempts} times.");
                }

                var request = new ComfyPromptRequest(id, node.ClientId, held.Task.Params.Prompt,
                    held.Task.Params.ExtraData?["extra_pnginfo"]?["workflow"] as JsonObject, held.Task.Params.Number);
                switch (await prompts.PostPromptAsync(node.Address, request, stopping).ConfigureAwait(false))
                {
                    case ComfyPromptRejected rejected:
                        return Failure(ErrorCode.InvalidInput, rejected.Message);
                    case ComfyPromptAccepted accepted:
                        logger.LogInformation("Task {TaskId} of job {JobId} posted to {Node}{Dropped}", id, held.Task.JobId, node.Address,
                            accepted.DroppedOutputs is { } dropped ? $"; {dropped}" : "");
                        posted = true;
                        break;
                }
            }
            catch (ComfyUnreachableException ex)
            {
                // The post may have arrived: the next round looks the prompt up before posting again.
                logger.LogWarning("Task {TaskId}: the node {Node} did not answer: {Reason}", id, node.Address, ex.Message);
                await backoff.WaitAsync(stopping).ConfigureAwait(false);
            }
        }

        return await FollowAsync(held, stopping).ConfigureAwait(false);
    }

    /// <summary>Waits for the posted prompt to end, cancelling it on the node when the orchestrator asks.</summary>
    private async Task<TaskOutcome> FollowAsync(HeldTask held, CancellationToken stopping)
    {
        var id = held.Id;
        var cancelSent = false;
        while (true)
        {
            try
            {
                if (held.Cancelled.IsCancellationRequested && !cancelSent)
                {
                    // Deleted from the queue if it waits there, interrupted if it is the one running; nothing else.
                    await prompts.CancelPromptAsync(node.Address, id, stopping).ConfigureAwait(false);
                    cancelSent = true;
                    logger.LogInformation("Task {TaskId}: deleted from the node's queue and interrupted", id);
                }

                var (queued, entry) = await LookUpAsync(id, stopping).ConfigureAwait(false);
                if (entry is not null)
                {
                    return FromHistory(entry, cancelSent);
                }

                if (!queued)
                {
                    return cancelSent
                        ? Cancelled([])
                        : Failure(ErrorCode.Transient, $"The prompt is neither queued nor in the history of {node.Address} (the node restarted?).");
                }
            }
            catch (ComfyUnreachableException ex)
            {
                logger.LogWarning("Task {TaskId}: could not look the prompt up on {Node}: {Reason}", id, node.Address, ex.Message);
            }

            await held.WaitAsync(held.EndSeen ? EndedRecheck : _options.ReconcileInterval, stopping).ConfigureAwait(false);
        }
    }

    /// <summary>History first, then the queue, then history again: a prompt moves from the queue into the history, so
    /// one found in neither is gone.</summary>
    private async Task<(bool Queued, ComfyHistoryEntry? Entry)> LookUpAsync(string id, CancellationToken cancellationToken)
    {
        if (await prompts.GetHistoryAsync(node.Address, id, cancellationToken).ConfigureAwait(false) is { } entry)
        {
            return (false, entry);
        }

        if ((await prompts.GetQueueAsync(node.Address, cancellationToken).ConfigureAwait(false)).Contains(id))
        {
            return (true, null);
        }

        return (false, await prompts.GetHistoryAsync(node.Address, id, cancellationToken).ConfigureAwait(false));
    }

    private async Task DeliverAsync(HeldTask held, TaskOutcome outcome, CancellationToken stopping)
    {
        foreach (var file in outcome.Files)
        {
            await UploadAsync(held.Id, file, stopping).ConfigureAwait(false);
        }

        var post = new TaskResultPost(held.Task.JobId, held.Id, _options.WorkerId, outcome.Result);
        var backoff = new Backoff(_options, time);
        while (true)
        {
            await registration.WaitAsync(stopping).ConfigureAwait(false);
            try
            {
                var reply = await orchestrator.PostResultAsync(post, stopping).ConfigureAwait(false);
                logger.LogInformation("Result of task {TaskId} delivered: {Status}{Reason}", held.Id, reply.Status, reply.Reason is null ? "" : $" ({reply.Reason})");
                return;
            }
            catch (OrchestratorUnavailableException ex)
            {
                logger.LogWarning("Result of task {TaskId} not delivered, kept and sent again: {Reason}", held.Id, ex.Message);
            }
            catch (WorkerNotRegisteredException ex)
            {
                logger.LogWarning("Result of task {TaskId} not delivered, kept until the agent has registered again: {Reason}", held.Id, ex.Message);
                registration.Lost();
            }
            catch (OrchestratorRefusedException ex)
            {
                logger.LogError("Result of task {TaskId} refused and dropped: {Reason}", held.Id, ex.Message);
                return;
            }

            await backoff.WaitAsync(stopping).ConfigureAwait(false);
        }
    }

    /// <summary>Streams one output from the node's <c>/view</c> to the orchestrator, again after a failure on either side.</summary>
    private async Task UploadAsync(string taskId, RenderOutput file, CancellationToken stopping)
    {
        var backoff = new Backoff(_options, time);
        var (filename, subfolder, type) = (file.Filename!, file.Subfolder ?? "", file.Type ?? "output");
        while (true)
        {
            await registration.WaitAsync(stopping).ConfigureAwait(false);
            try
            {
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stopping);
                timeout.CancelAfter(_options.UploadTimeout);
                using var view = await prompts.GetViewAsync(node.Address, filename, subfolder, type, null, timeout.Token).ConfigureAwait(false);
                if (!view.IsSuccessStatusCode)
                {
                    logger.LogWarning("Output {Filename} of task {TaskId} not uploaded: the node answered {Status} for it", filename, taskId, (int)view.StatusCode);
                    return;
                }

                using var content = new StreamContent(await view.Content.ReadAsStreamAsync(timeout.Token).ConfigureAwait(false));
                content.Headers.ContentType = view.Content.Headers.ContentType;
                content.Headers.ContentLength = view.Content.Headers.ContentLength;
                await orchestrator.UploadOutputAsync(taskId, filename, subfolder, type, content, timeout.Token).ConfigureAwait(false);
                return;
            }
            catch (Exception ex) when (ex is OrchestratorRefusedException or WorkerNotRegisteredException)
            {
                logger.LogWarning("Output {Filename} of task {TaskId} refused by the orchestrator: {Reason}", filename, taskId, ex.Message);
                return;
            }
            catch (Exception ex) when (ex is OrchestratorUnavailableException or ComfyUnreachableException or HttpRequestException or IOException
                                           || ex is OperationCanceledException && !stopping.IsCancellationRequested)
            {
                logger.LogWarning("Output {Filename} of task {TaskId} not uploaded, sent again: {Reason}", filename, taskId, ex.Message);
            }

            await backoff.WaitAsync(stopping).ConfigureAwait(false);
        }
    }

    private TaskOutcome FromHistory(ComfyHistoryEntry entry, bool cancelSent)
    {
        var files = entry.Outputs.Where(output => output.Filename is not null).ToArray();
        var outputs = entry.OutputsJson?.DeepClone().AsObject() ?? [];
        return entry.Outcome switch
        {
            ComfyOutcome.Succeeded => new TaskOutcome(new TaskResult(ResultStatus.Success, new TaskResultData(outputs), null), files),
            ComfyOutcome.Interrupted when cancelSent => Cancelled(files, outputs),
            ComfyOutcome.Interrupted => new TaskOutcome(Error(ErrorCode.Transient, $"The prompt was interrupted on {node.Address}.", outputs), files),
            _ => new TaskOutcome(Error(ErrorCode.Permanent, Describe(entry), outputs), files),
        };
    }

    private static string Describe(ComfyHistoryEntry entry) =>
        entry.Node is null ? entry.Error ?? "The prompt failed on the node."
            : $"{entry.Error ?? "The prompt failed"} (node {entry.Node}{(entry.NodeClass is null ? "" : $" {entry.NodeClass}")}, {entry.ErrorType})";

    private static TaskOutcome Cancelled(IReadOnlyList<RenderOutput> files, JsonObject? outputs = null) =>
        new(new TaskResult(ResultStatus.Cancelled, new TaskResultData(outputs ?? []), null), files);

    private static TaskOutcome Failure(string code, string message) => new(Error(code, message, []), []);

    private static TaskResult Error(string code, string message, JsonObject outputs) =>
        new(ResultStatus.Failure, new TaskResultData(outputs), new TaskError(code, message));
}
