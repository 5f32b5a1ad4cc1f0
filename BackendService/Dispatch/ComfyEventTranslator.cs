using System.Text.Json.Nodes;
using DirectorsConsole.BackendService.Comfy;
using DirectorsConsole.Comfy;
using DirectorsConsole.Contracts;

namespace DirectorsConsole.BackendService.Dispatch;

/// <summary>A prompt of ours on one backend whose ComfyUI messages are being turned into render events.</summary>
public sealed class TrackedPrompt(InFlightPrompt record, PromptProgress progress)
{
    public InFlightPrompt Record { get; } = record;

    public PromptProgress Progress { get; } = progress;

    public bool CancelRequested { get; set; }

    /// <summary>Its start was reported (a prompt adopted from an earlier session may have been reported by it).</summary>
    public bool Started { get; set; }

    public DateTimeOffset LastPreviewAt { get; set; } = DateTimeOffset.MinValue;
}

/// <summary>
/// Turns ComfyUI's WebSocket messages about our prompts into render events, the one place that does: a node's socket
/// (<see cref="BackendDispatchSession"/>) and a render agent's relay of its ComfyUI's messages (<c>WS /_worker/ws/{id}</c>)
/// both feed it, one message at a time and in order. It keeps the prompts it tracks (progress over the whole prompt,
/// the prompt running now, the preview rate). How a prompt's success is completed differs: a node's outputs are read
/// from its <c>/history</c>, an agent's come with its result, so the owner says what <c>execution_success</c> and the
/// end of execution (<c>executing</c> with no node) do.
/// </summary>
public sealed class ComfyEventTranslator(
    string backendId,
    RenderEventPublisher publisher,
    DispatchStore store,
    NodeMonitorReadings monitorReadings,
    DispatchOptions options,
    TimeProvider timeProvider)
{
    private readonly Dictionary<string, TrackedPrompt> _prompts = new(StringComparer.Ordinal);
    private List<(RenderEvent Event, InFlightPrompt? NowInFlight)>? _held;

    /// <summary>What <c>execution_success</c> of a tracked prompt does (a node: read its history once and finish it).</summary>
    public Func<TrackedPrompt, CancellationToken, Task> OnSucceeded { get; init; } = static (_, _) => Task.CompletedTask;

    /// <summary>What the end of a tracked prompt's execution does (a node: read its history, retrying, and finish it).</summary>
    public Func<TrackedPrompt, CancellationToken, Task> OnExecutionEnded { get; init; } = static (_, _) => Task.CompletedTask;

    /// <summary>The prompt running on the node's socket now, as its messages said.</summary>
    public string? RunningPromptId { get; private set; }

    public int Count => _prompts.Count;

    /// <summary>A copy of the tracked prompts, safe to iterate while handlers remove some.</summary>
    public IReadOnlyList<TrackedPrompt> Snapshot() => _prompts.Values.ToList();

    public bool Contains(string promptId) => _prompts.ContainsKey(promptId);

    public TrackedPrompt Track(InFlightPrompt record)
    {
        var tracked = new TrackedPrompt(record, new PromptProgress(record.Nodes));
        _prompts[record.PromptId] = tracked;
        return tracked;
    }

    public TrackedPrompt? Find(string? promptId) => promptId is not null && _prompts.TryGetValue(promptId, out var tracked) ? tracked : null;

    public bool TryGetValue(string promptId, out TrackedPrompt tracked) => _prompts.TryGetValue(promptId, out tracked!);

    public void Remove(string promptId) => _prompts.Remove(promptId);

    /// <summary>The prompt a message is about: its <c>prompt_id</c>, or for the frames that name none the running one.</summary>
    public string? PromptIdOf(string type, JsonObject data) =>
        (string?)data["prompt_id"] ?? (type is "executing" or "progress" ? RunningPromptId : null);

    /// <summary>True for a message that only moves a running prompt's progress (<c>progress</c>, or <c>executing</c>
    /// naming a node).</summary>
    public static bool IsProgress(string type, JsonObject data) =>
        type == "progress" || (type == "executing" && data["node"] is not null);

    /// <summary>True for a message about a prompt's execution (its progress, its end), which makes an earlier progress
    /// message of the same prompt out of date.</summary>
    private static bool IsAboutExecution(string type) =>
        type is "progress" or "executing" or "execution_cached" or "execution_success" or "execution_error" or "execution_interrupted";

    /// <summary>True for the messages <see cref="OnMessageAsync"/> acts on: a prompt's execution and its start, and the
    /// monitor extensions' readings. The others (<c>status</c>, <c>progress_state</c>, <c>executed</c>, …) change
    /// nothing here, so a socket need not queue them.</summary>
    public static bool Handles(string type) =>
        type is "execution_start" or NodeMonitorReading.CrystoolsMonitor or NodeMonitorReading.KaytoolResources || IsAboutExecution(type);

    /// <summary>True when the message <paramref name="nextType"/>, which already waits behind the progress message
    /// <paramref name="type"/>, is about the same prompt's execution: that progress is then out of date before it could
    /// be published.</summary>
    public bool IsSupersededBy(string type, JsonObject data, string nextType, JsonObject nextData) =>
        IsProgress(type, data) && IsAboutExecution(nextType)
        && PromptIdOf(type, data) is { } promptId && promptId == PromptIdOf(nextType, nextData);

    /// <summary>Handles one JSON message (<c>{"type", "data"}</c>) of ComfyUI's socket. With
    /// <paramref name="superseded"/> (a newer message about the same prompt's execution already waits,
    /// <see cref="IsSupersededBy"/>) a progress message moves the prompt's progress in memory without publishing it: a
    /// node that runs faster than the events can be written reports its newest progress, not every step of it, as a
    /// client that falls behind gets only the newest preview.</summary>
    public async Task OnMessageAsync(string type, JsonObject data, CancellationToken cancellationToken, bool superseded = false)
    {
        if (NodeMonitorReading.From(type, data, timeProvider.GetUtcNow()) is { } reading)
        {
            monitorReadings.Record(backendId, reading);
            return;
        }

        var promptId = (string?)data["prompt_id"];
        switch (type)
        {
            case "execution_start":
                RunningPromptId = promptId;
                if (Find(promptId) is { } started)
                {
                    await PublishStartedAsync(started, cancellationToken);
                }

                break;
            case "execution_cached":
                Find(promptId)?.Progress.OnCached((data["nodes"] as JsonArray ?? []).Select(n => n?.ToString()).OfType<string>());
                break;
            case "executing":
                // The frame sent to a socket that (re)connects mid-run names the node but not the prompt.
                promptId ??= RunningPromptId;
                var node = data["node"]?.ToString();
                if (node is null)
                {
                    if (promptId == RunningPromptId)
                    {
                        RunningPromptId = null;
                    }

                    if (Find(promptId) is { } finished)
                    {
                        await OnExecutionEnded(finished, cancellationToken);
                    }
                }
                else
                {
                    RunningPromptId = promptId;
                    if (Find(promptId) is { } executing)
                    {
                        var snapshot = executing.Progress.OnExecuting(node);
                        if (!superseded)
                        {
                            await PublishProgressAsync(executing, snapshot, cancellationToken);
                        }
                    }
                }

                break;
            case "progress":
                if (Find(promptId ?? RunningPromptId) is { } progressing
                    && data["value"] is JsonValue value && data["max"] is JsonValue max)
                {
                    var snapshot = progressing.Progress.OnProgress(data["node"]?.ToString(), (int)value.GetValue<double>(), (int)max.GetValue<double>());
                    if (!superseded)
                    {
                        await PublishProgressAsync(progressing, snapshot, cancellationToken);
                    }
                }

                break;
            case "execution_success":
                if (Find(promptId) is { } succeeded)
                {
                    await OnSucceeded(succeeded, cancellationToken);
                }

                break;
            case "execution_error":
                if (Find(promptId) is { } failed)
                {
                    _prompts.Remove(failed.Record.PromptId);
                    await PublishAsync(failed, RenderEventKinds.Failed, e => e with
                    {
                        Error = data["exception_message"]?.ToString().TrimEnd() ?? "The prompt failed on the backend.",
                        ErrorType = data["exception_type"]?.ToString() ?? "execution_error",
                        Node = data["node_id"]?.ToString(),
                        NodeClass = data["node_type"]?.ToString(),
                    }, cancellationToken);
                }

                break;
            case "execution_interrupted":
                if (Find(promptId) is { } interrupted)
                {
                    _prompts.Remove(interrupted.Record.PromptId);
                    var error = await InterruptionReasonAsync(interrupted.Record.PromptId, cancellationToken);
                    await PublishAsync(interrupted, RenderEventKinds.Interrupted, e => e with
                    {
                        Error = error,
                        Node = data["node_id"]?.ToString(),
                        NodeClass = data["node_type"]?.ToString(),
                    }, cancellationToken);
                }

                break;
        }
    }

    /// <summary>Handles one binary frame: a preview of a tracked prompt becomes a preview event (size and rate limited).</summary>
    public async Task OnBinaryAsync(ComfyBinaryFrame frame, CancellationToken cancellationToken)
    {
        // Type 4 names its prompt; type 1 belongs to the prompt running on this socket.
        if (frame.EventType == ComfyBinaryFrame.Text || frame.MimeType is null
            || Find(frame.PromptId ?? RunningPromptId) is not { } tracked
            || frame.Payload.Length > options.PreviewMaxBytes)
        {
            return;
        }

        var now = timeProvider.GetUtcNow();
        if (now - tracked.LastPreviewAt < options.PreviewMinInterval)
        {
            return;
        }

        tracked.LastPreviewAt = now;
        var dataUrl = $"data:{frame.MimeType};base64,{Convert.ToBase64String(frame.Payload.Span)}";
        await PublishAsync(tracked, RenderEventKinds.Preview, e => e with { Preview = dataUrl, Node = frame.NodeId ?? tracked.Progress.CurrentNode }, cancellationToken);
    }

    /// <summary>The node started the prompt (until then it waited in the node's queue): the job's start, and the time
    /// its timeout counts from.</summary>
    public Task PublishStartedAsync(TrackedPrompt tracked, CancellationToken cancellationToken)
    {
        tracked.Started = true;
        return PublishAsync(tracked, RenderEventKinds.Started, e => e with { Percent = 0 }, cancellationToken);
    }

    /// <summary>Progress, which also starts a job whose <c>started</c> was lost.</summary>
    private Task PublishProgressAsync(TrackedPrompt tracked, ProgressSnapshot snapshot, CancellationToken cancellationToken)
    {
        tracked.Started = true;
        return PublishAsync(tracked, RenderEventKinds.Progress, e => e with
        {
            Percent = snapshot.Percent,
            Node = snapshot.Node,
            NodeClass = snapshot.NodeClass,
            StepsDone = snapshot.StepsDone,
            StepsTotal = snapshot.StepsTotal,
        }, cancellationToken);
    }

    public async Task<string> InterruptionReasonAsync(string promptId, CancellationToken cancellationToken) =>
        await store.IsCancelRequestedAsync(promptId, cancellationToken) ? "cancelled" : "interrupted on the render node";

    public Task PublishAsync(TrackedPrompt tracked, string kind, Func<RenderEvent, RenderEvent> details, CancellationToken cancellationToken) =>
        PublishAsync(tracked.Record.PromptId, tracked.Record.JobId, kind, details, cancellationToken);

    /// <summary>Publishes the event (<see cref="RenderEventPublisher"/>), or, while events are held (<see cref="Hold"/>),
    /// adds it to those written and published together at the next <see cref="FlushAsync"/>.</summary>
    public Task PublishAsync(string promptId, string? jobId, string kind, Func<RenderEvent, RenderEvent> details, CancellationToken cancellationToken)
    {
        var renderEvent = details(new RenderEvent(kind, promptId, jobId, backendId, timeProvider.GetUtcNow()));
        if (_held is { } held)
        {
            held.Add((renderEvent, null));
            return Task.CompletedTask;
        }

        return publisher.PublishAsync(renderEvent, cancellationToken);
    }

    /// <summary>From now until <see cref="FlushAsync"/>, events are held, to be written with one script and published
    /// together: a node's session does so while more of the node's messages wait behind the one it handles (a burst),
    /// so each message no longer waits for two round trips of the one before it.</summary>
    public void Hold() => _held ??= [];

    /// <summary>How many events are held.</summary>
    public int HeldCount => _held?.Count ?? 0;

    /// <summary>Writes and publishes the events held, in their order, and stops holding (nothing when none are held).</summary>
    public async Task FlushAsync(CancellationToken cancellationToken)
    {
        if (_held is not { } held)
        {
            return;
        }

        // Taken first: a write that fails does not leave them to be written again with later ones.
        _held = null;
        if (held.Count > 0)
        {
            await publisher.PublishManyAsync(held, cancellationToken);
        }
    }

    /// <summary>The <c>accepted</c> of posts, which records each one's record in the backend's in-flight hash in the
    /// same write (one for all), and then tracks the prompts. Only then: a prompt tracked here but in no in-flight hash
    /// would be gone for good if its session ended or its final event could not be written, while one this write failed
    /// to record is not tracked, so its command is not acknowledged and comes back, to be found on the node and adopted.</summary>
    public async Task AcceptAsync(IReadOnlyList<(InFlightPrompt Record, string? DroppedOutputs)> posts, CancellationToken cancellationToken)
    {
        var now = timeProvider.GetUtcNow();
        await publisher.PublishManyAsync(
            posts.Select(post => (new RenderEvent(RenderEventKinds.Accepted, post.Record.PromptId, post.Record.JobId, backendId, now) { Error = post.DroppedOutputs }, (InFlightPrompt?)post.Record)).ToList(),
            cancellationToken);
        foreach (var (record, _) in posts)
        {
            Track(record);
        }
    }
}
