using System.Text.Json.Nodes;

namespace DirectorsConsole.Contracts;

/// <summary>
/// Where render work and its events travel between JobService and BackendService. Commands go through durable
/// queues (they must not be lost); events go through pub/sub, and the last state of every prompt is kept in
/// Redis (<see cref="PromptStateKey"/>) so a subscriber that missed events can re-read it.
/// </summary>
public static class RenderChannels
{
    /// <summary>The shared queue of <see cref="RunPromptCommand"/>s of earlier versions, which the scheduler no longer
    /// uses (it enqueues on <see cref="BackendQueue"/>); BackendService moves what is left there to its backend.</summary>
    public const string DispatchQueue = "render-dispatch";

    /// <summary>Pub/sub channel of every <see cref="RenderEvent"/>.</summary>
    public const string RenderEvents = "dc:events:render";

    /// <summary>Pub/sub channel of <see cref="BackendStatusChanged"/>.</summary>
    public const string BackendEvents = "dc:events:backends";

    /// <summary>Pub/sub channel of <see cref="CancelPromptRequested"/>; the request itself is also kept in
    /// <see cref="CancelKey"/>, so a replica that takes over a backend later still honours it.</summary>
    public const string CancelRequests = "dc:events:render-cancel";

    /// <summary>Durable queue of the <see cref="RunPromptCommand"/>s the scheduler sent to one backend; only the replica
    /// holding that backend's lease takes from it.</summary>
    public static string BackendQueue(string backendId) => $"render-dispatch:{backendId}";

    /// <summary>Hash with the last known state of one prompt (fields: <c>backend_id</c>, <c>job_id</c>,
    /// <c>status</c>, <c>event</c> = the last <see cref="RenderEvent"/> as JSON).</summary>
    public static string PromptStateKey(string promptId) => $"dc:render:prompt:{promptId}";

    /// <summary>Set while a cancel of the prompt has been asked for (expires after a day).</summary>
    public static string CancelKey(string promptId) => $"dc:render:cancel:{promptId}";
}

/// <summary>
/// "Run this prompt" on <see cref="BackendId"/>, the backend JobService's scheduler chose (it always names one; a
/// command without one, left by an earlier version, fails). <see cref="RequiredCapabilities"/> and
/// <see cref="PreferredBackendIds"/> are part of the stored shape but no longer read: the scheduler decides with them. <see cref="PromptId"/> is ours (a lowercase UUID) and is the
/// prompt_id sent to ComfyUI, so a redelivered command is recognised and never runs twice.
/// </summary>
public sealed record RunPromptCommand(
    string PromptId,
    string? JobId,
    string? BackendId,
    JsonObject Prompt,
    DateTimeOffset RequestedAt)
{
    /// <summary>The UI workflow, embedded in output PNGs as ComfyUI's <c>extra_pnginfo.workflow</c>.</summary>
    public JsonObject? Workflow { get; init; }

    /// <summary>Written to every literal <c>seed</c>/<c>noise_seed</c> input (or only those of <see cref="SeedNodes"/>).</summary>
    public long? Seed { get; init; }

    public IReadOnlyList<string>? SeedNodes { get; init; }

    /// <summary>Declared capabilities, node classes or model names the backend must have.</summary>
    public IReadOnlyList<string> RequiredCapabilities { get; init; } = [];

    public IReadOnlyList<string> PreferredBackendIds { get; init; } = [];

    /// <summary>ComfyUI queue priority (<c>number</c>); lower runs first. The scheduler sends the job's place in the
    /// suite's queue (priority, then order), so prompts waiting in a node's queue run in the suite's order. Null:
    /// ComfyUI's own counter.</summary>
    public double? Priority { get; init; }
}

/// <summary>Asks that a prompt be stopped: removed from its backend's queue and, if running, interrupted
/// (targeted at this prompt, never a global interrupt).</summary>
public sealed record CancelPromptRequested(string PromptId, string? BackendId, DateTimeOffset RequestedAt);

public static class RenderEventKinds
{
    /// <summary>ComfyUI accepted the prompt (POST /prompt answered 200).</summary>
    public const string Accepted = "accepted";
    public const string Started = "started";
    public const string Progress = "progress";
    public const string Preview = "preview";
    public const string Completed = "completed";
    public const string Failed = "failed";
    public const string Interrupted = "interrupted";

    public static bool IsFinal(string kind) => kind is Completed or Failed or Interrupted;
}

/// <summary>Values of <see cref="RenderEvent.ErrorType"/> for failures that are not ComfyUI exceptions (those
/// carry ComfyUI's own <c>exception_type</c>, such as <c>RuntimeError</c>).</summary>
public static class RenderErrorTypes
{
    /// <summary>ComfyUI refused the workflow (HTTP 400 or node_errors); <see cref="RenderEvent.Error"/> names the node and input.</summary>
    public const string InvalidWorkflow = "invalid_workflow";

    /// <summary>The backend went offline or restarted while the prompt was queued or running; retry elsewhere.</summary>
    public const string BackendLost = "backend_lost";

    /// <summary>The backend could not be reached to post the prompt.</summary>
    public const string BackendUnreachable = "backend_unreachable";

    /// <summary>No enabled backend has the required capabilities (or the named backend does not exist).</summary>
    public const string NoEligibleBackend = "no_eligible_backend";
}

/// <summary>One step in the life of a prompt on a backend. Which fields are set depends on <see cref="Kind"/>.</summary>
public sealed record RenderEvent(string Kind, string PromptId, string? JobId, string BackendId, DateTimeOffset At)
{
    /// <summary>0–100 over the whole prompt.</summary>
    public double? Percent { get; init; }

    /// <summary>The node running now (progress) or the node that failed or was interrupted.</summary>
    public string? Node { get; init; }

    public string? NodeClass { get; init; }

    public int? StepsDone { get; init; }

    public int? StepsTotal { get; init; }

    /// <summary>Every output of a completed prompt.</summary>
    public IReadOnlyList<RenderOutput>? Outputs { get; init; }

    public string? Error { get; init; }

    public string? ErrorType { get; init; }

    /// <summary>A preview image as a data URL (<c>data:image/png;base64,…</c>).</summary>
    public string? Preview { get; init; }
}

/// <summary>
/// One output of a prompt. <see cref="Kind"/> is ComfyUI's ui key (<c>images</c>, <c>gifs</c>, <c>videos</c>,
/// <c>audio</c>, <c>text</c>, …). Files have a <see cref="Filename"/>, a <see cref="Subfolder"/> with <c>/</c>
/// separators whatever the backend's OS, a <see cref="Type"/> (output, temp, input) and a <see cref="Url"/> on the
/// backend's <c>/view</c>; text outputs have <see cref="Text"/>.
/// </summary>
public sealed record RenderOutput(string Kind, string NodeId)
{
    public string? Filename { get; init; }

    public string? Subfolder { get; init; }

    public string? Type { get; init; }

    public string? Url { get; init; }

    public string? Text { get; init; }
}

/// <summary>A backend's status changed (<c>disabled|offline|idle|busy</c>).</summary>
public sealed record BackendStatusChanged(string BackendId, string Status, string? PreviousStatus, string? LastError, DateTimeOffset At);
