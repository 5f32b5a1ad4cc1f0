using System.Text.Json.Serialization;
using System.Text.Json.Nodes;
using DirectorsConsole.Contracts;

namespace DirectorsConsole.JobService.Model;

/// <summary>Statuses of a job, single or a child of a group (API doc 4 ChildJob, API doc 2 phase 2).</summary>
public static class JobStatuses
{
    public const string Queued = "queued";
    public const string Running = "running";
    public const string Completed = "completed";
    public const string Failed = "failed";
    public const string Cancelled = "cancelled";
    public const string Timeout = "timeout";

    /// <summary>Rendered, waiting for a person's decision (a job submitted with <c>requires_approval</c>); it holds no
    /// backend and ends <see cref="Completed"/> when approved, <see cref="Rejected"/> when not, or cancelled.</summary>
    public const string AwaitingApproval = "awaiting_approval";

    /// <summary>Rendered and turned down at approval.</summary>
    public const string Rejected = "rejected";

    /// <summary>Every status, in the order a job can pass through them.</summary>
    public static IReadOnlyList<string> All { get; } = [Queued, Running, AwaitingApproval, Completed, Rejected, Failed, Cancelled, Timeout];

    public static bool IsFinal(string status) => status is Completed or Failed or Cancelled or Timeout or Rejected;

    /// <summary>Its render is over: ended, or waiting for approval (no backend is held, render events are late).</summary>
    public static bool IsPastRender(string status) => IsFinal(status) || status == AwaitingApproval;
}

/// <summary>Statuses of a job group (API doc 4 JobGroupStatus).</summary>
public static class JobGroupStatuses
{
    public const string Pending = "pending";
    public const string Running = "running";
    public const string PartialComplete = "partial_complete";
    public const string Completed = "completed";
    public const string Failed = "failed";
    public const string Cancelled = "cancelled";

    /// <summary>A group submitted with <c>requires_approval</c> whose children have all rendered (or ended otherwise),
    /// with at least one of them waiting for a decision; it is decided as a whole, or child by child, and ends when no
    /// child waits any more.</summary>
    public const string AwaitingApproval = "awaiting_approval";

    /// <summary>Every child has ended, none was approved and at least one was rejected at approval.</summary>
    public const string Rejected = "rejected";
}

/// <summary>Job-level values of <see cref="JobRecord.ErrorType"/> beside BackendService's <see cref="RenderErrorTypes"/>
/// and ComfyUI's exception types.</summary>
public static class JobErrorTypes
{
    public const string Timeout = "timeout";
    public const string Cancelled = "cancelled";

    /// <summary>Turned down at approval.</summary>
    public const string Rejected = "rejected";

    /// <summary>Every eligible backend was tried (or none is left) after the backend running it was lost.</summary>
    public const string NoBackendLeft = "no_backend_left";

    /// <summary>Its prompt is no longer in the store (<see cref="JobPrompt"/>), so there is nothing to send.</summary>
    public const string PromptLost = "prompt_lost";
}

/// <summary>
/// One job as stored in Redis and shown by the API (snake_case): a single job (<see cref="GroupId"/> null) or a
/// child of a job group. Each attempt on a backend has its own ComfyUI prompt id (<see cref="PromptId"/>, our
/// lowercase UUID); a reassigned child gets a new one.
/// </summary>
public sealed record JobRecord(string JobId, string Status, DateTimeOffset SubmittedAt)
{
    public string? GroupId { get; init; }

    public string? WorkflowId { get; init; }

    public JsonObject Parameters { get; init; } = [];

    public IReadOnlyList<string> IgnoredParameters { get; init; } = [];

    public JsonObject Metadata { get; init; } = [];

    public string? BackendAffinity { get; init; }

    /// <summary>Where the job's outcome is to be posted (an absolute http or https URL), kept with the job. A group
    /// child carries its group's, for its approval request only (its end is posted once, for the whole group).</summary>
    public string? WebhookUrl { get; init; }

    /// <summary>When its render completes it waits in <see cref="JobStatuses.AwaitingApproval"/> for a decision.</summary>
    public bool RequiresApproval { get; init; }

    /// <summary>For a group child: the group's backend ids, in order, tried first when it must move.</summary>
    public IReadOnlyList<string> PreferredBackendIds { get; init; } = [];

    public IReadOnlyList<string> RequiredCapabilities { get; init; } = [];

    /// <summary>Lower runs first (ComfyUI's convention); equal priorities run first-in first-out.</summary>
    public int Priority { get; init; }

    public int TimeoutSeconds { get; init; } = 300;

    public long? Seed { get; init; }

    public IReadOnlyList<string>? SeedNodes { get; init; }

    /// <summary>The backend of the current (or last) attempt; null while waiting for one.</summary>
    public string? BackendId { get; init; }

    public string? PromptId { get; init; }

    /// <summary>Backends tried so far, in order; a job moves at most twice after a lost backend.</summary>
    public IReadOnlyList<string> Attempts { get; init; } = [];

    /// <summary>0–100.</summary>
    public double Progress { get; init; }

    /// <summary>The class of the node running now (API doc 4 <c>current_step</c>, e.g. <c>KSampler</c>).</summary>
    public string? CurrentStep { get; init; }

    public int? StepsCompleted { get; init; }

    public int? StepsTotal { get; init; }

    /// <summary>ComfyUI outputs by kind, as API doc 4: <c>{"images": [{filename, subfolder, type, url}], …}</c>.</summary>
    public JsonObject? Outputs { get; init; }

    public string? ErrorMessage { get; init; }

    public string? ErrorType { get; init; }

    public DateTimeOffset QueuedAt { get; init; }

    public DateTimeOffset? StartedAt { get; init; }

    public DateTimeOffset? CompletedAt { get; init; }

    /// <summary>The prompt of a record stored before prompts were kept apart (<see cref="JobPrompt"/>); null for any
    /// other. The next change of the job moves it to where prompts are kept.</summary>
    [JsonInclude]
    [JsonPropertyName("prompt")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    internal JsonObject? EmbeddedPrompt { get; init; }

    /// <summary>The workflow of such a record.</summary>
    [JsonInclude]
    [JsonPropertyName("workflow")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    internal JsonObject? EmbeddedWorkflow { get; init; }
}

/// <summary>
/// What a job sends to its node, fixed at submit: the prompt (parameters applied; the seed is written by
/// BackendService) and the UI workflow ComfyUI embeds in its outputs. A real one is tens of kilobytes, so it is kept
/// apart from the <see cref="JobRecord"/>, which every change writes and nearly every step reads: once per single job
/// and once per group (its children send the same one), read by the dispatch alone.
/// </summary>
public sealed record JobPrompt(JsonObject Prompt, JsonObject? Workflow);

/// <summary>The decisions of <c>POST /_public/webhooks/approval/{job_id}</c>.</summary>
public static class ApprovalDecisions
{
    public const string Approved = "approved";
    public const string Rejected = "rejected";
}

/// <summary>A person's decision on a job or a group awaiting approval; <see cref="DecidedBy"/> says how the caller was
/// trusted (<c>signed_link</c> or <c>operator:&lt;client&gt;</c>).</summary>
public sealed record ApprovalDecision(string Decision, string? Comment, string DecidedBy);

/// <summary>A job group as stored in Redis; its children are <see cref="JobRecord"/>s with <see cref="JobRecord.GroupId"/> set.</summary>
public sealed record JobGroupRecord(string JobGroupId, string Status, DateTimeOffset CreatedAt)
{
    public IReadOnlyList<string> ChildJobIds { get; init; } = [];

    public IReadOnlyList<string> BackendIds { get; init; } = [];

    public string SeedStrategy { get; init; } = "random";

    public ulong? BaseSeed { get; init; }

    public JsonObject Metadata { get; init; } = [];

    public int TimeoutSeconds { get; init; } = 300;

    public IReadOnlyList<string> RequiredCapabilities { get; init; } = [];

    /// <summary>Where <c>group_complete</c> (and each child's approval request) is posted.</summary>
    public string? WebhookUrl { get; init; }

    /// <summary>Every child waits for approval when rendered, and the group waits with them once all have rendered.</summary>
    public bool RequiresApproval { get; init; }

    /// <summary>The decision taken on the whole group (null while none was, and when its children were decided one by one).</summary>
    public ApprovalDecision? Approval { get; init; }

    /// <summary>When <see cref="Approval"/> was taken.</summary>
    public DateTimeOffset? DecidedAt { get; init; }

    public DateTimeOffset? CompletedAt { get; init; }
}

/// <summary>A group with its children, as the API and <c>initial_state</c> show it.</summary>
public sealed record JobGroupView(JobGroupRecord Group, IReadOnlyList<JobRecord> Children);

/// <summary>
/// One event of a job's or a group's stream (API doc 4 WebSocket events: <c>child_progress</c>, <c>child_completed</c>,
/// <c>child_failed</c>, <c>child_timeout</c>, <c>child_cancelled</c>, <c>child_reassigned</c>, <c>group_complete</c>;
/// a single job's stream uses <c>job_progress</c>, <c>job_completed</c>, … with the same payloads).
/// <see cref="Sequence"/> starts at 1 and has no gaps within a stream, so a client that reconnects with
/// <c>?since=N</c> gets exactly what it missed. <see cref="Message"/> is the message as a WebSocket client gets it.
/// </summary>
public sealed class JobStreamEvent(long sequence, string type, DateTimeOffset at, byte[] message)
{
    public long Sequence => sequence;

    public string Type => type;

    /// <summary>When JobService appended the event.</summary>
    public DateTimeOffset At => at;

    /// <summary>The message as sent to a WebSocket client: UTF-8 JSON with <c>type</c>, <c>sequence</c>, then the
    /// payload's fields. Built once per event in a replica and sent as is to every watcher of the stream, so it is
    /// shared and never written to.</summary>
    public ReadOnlyMemory<byte> Message => message;

    /// <summary>The message without <c>sequence</c> (<c>type</c> included), a new object on every call.</summary>
    public JsonObject Payload
    {
        get
        {
            var payload = JsonNode.Parse(message)!.AsObject();
            payload.Remove("sequence");
            return payload;
        }
    }
}

/// <summary>A job ready to be queued: the workflow resolved and the parameters applied by the API.</summary>
public sealed record JobSubmission(JsonObject Prompt)
{
    public JsonObject? Workflow { get; init; }

    public string? WorkflowId { get; init; }

    public JsonObject Parameters { get; init; } = [];

    public IReadOnlyList<string> IgnoredParameters { get; init; } = [];

    public JsonObject Metadata { get; init; } = [];

    public string? BackendAffinity { get; init; }

    /// <summary>An absolute http or https URL, checked by the API.</summary>
    public string? WebhookUrl { get; init; }

    public bool RequiresApproval { get; init; }

    public IReadOnlyList<string> RequiredCapabilities { get; init; } = [];

    public int Priority { get; init; }

    public int TimeoutSeconds { get; init; } = 300;

    /// <summary>Null: the prompt's own seeds are kept.</summary>
    public long? Seed { get; init; }

    public IReadOnlyList<string>? SeedNodes { get; init; }
}

/// <summary>A validated job group: one child per entry of <see cref="BackendIds"/> (duplicates give two children on
/// one node), with <see cref="Seeds"/>[i] for child i.</summary>
public sealed record JobGroupSubmission(JsonObject Prompt, IReadOnlyList<string> BackendIds, IReadOnlyList<long> Seeds)
{
    public JsonObject? Workflow { get; init; }

    public string? WorkflowId { get; init; }

    public JsonObject Parameters { get; init; } = [];

    public IReadOnlyList<string> IgnoredParameters { get; init; } = [];

    public string SeedStrategy { get; init; } = "random";

    public ulong? BaseSeed { get; init; }

    public IReadOnlyList<string>? SeedNodes { get; init; }

    public JsonObject Metadata { get; init; } = [];

    public int TimeoutSeconds { get; init; } = 300;

    public IReadOnlyList<string> RequiredCapabilities { get; init; } = [];

    /// <summary>An absolute http or https URL, checked by the API.</summary>
    public string? WebhookUrl { get; init; }

    public bool RequiresApproval { get; init; }
}

/// <summary>The answer to a group cancel (API doc 4): how many children were interrupted and how many had ended.</summary>
public sealed record JobGroupCancelResult(bool Cancelled, int Interrupted, int AlreadyComplete, int AlreadyFailed);

/// <summary>One page of <c>GET /api/jobs</c>.</summary>
public sealed record JobPage(IReadOnlyList<JobRecord> Jobs, long Total, int Offset, int Limit);
