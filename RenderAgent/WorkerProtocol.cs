using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace DirectorsConsole.RenderAgent;

/// <summary>The bodies of the <c>/_worker</c> protocol (docs/render-agents.md), snake_case like the rest of the API.</summary>
public static class WorkerProtocol
{
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
    };

    public const string TokenHeader = "X-Worker-Token";

    /// <summary>The ComfyUI messages that end a prompt.</summary>
    public static readonly IReadOnlySet<string> EndMessages =
        new HashSet<string>(StringComparer.Ordinal) { "execution_success", "execution_error", "execution_interrupted" };

    public static class ResultStatus
    {
        public const string Success = "success";
        public const string Failure = "failure";
        public const string Cancelled = "cancelled";
    }

    public static class ErrorCode
    {
        public const string Transient = "TRANSIENT";
        public const string InvalidInput = "INVALID_INPUT";
        public const string Permanent = "PERMANENT";
    }
}

public sealed record WorkerRegistration(string WorkerId, string Name, int MaxConcurrentJobs, int Prefetch, WorkerCapabilities Capabilities);

public sealed record WorkerCapabilities(
    IReadOnlyList<string> Models, IReadOnlyList<string> NodeClasses, string? Gpu, long? VramBytes, string? ComfyuiVersion);

public sealed record RegistrationReply(string Status, string WorkerId, double HeartbeatTtlSeconds, double PollTimeoutSeconds);

public sealed record Heartbeat(
    string Status,
    IReadOnlyList<string> RunningTaskIds,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] int? QueueRunning,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] int? QueuePending);

public sealed record HeartbeatReply(string Status, IReadOnlyList<string>? CancelTasks);

/// <summary>A task handed out by <c>GET /_worker/workers/{id}/tasks/next</c>: <see cref="TaskId"/> is the prompt id
/// the suite chose, used as ComfyUI's own.</summary>
public sealed record AgentTask(string TaskId, string JobId, string Type, AgentTaskParams Params)
{
    public JsonObject? TracingContext { get; init; }
}

public sealed record AgentTaskParams(JsonObject Prompt, double? Number)
{
    public JsonObject? ExtraData { get; init; }
}

public sealed record TaskResultPost(string JobId, string TaskId, string WorkerId, TaskResult Result);

/// <summary><see cref="Data"/> carries ComfyUI's history <c>outputs</c> of the prompt unchanged.</summary>
public sealed record TaskResult(string Status, TaskResultData Data, TaskError? Error);

public sealed record TaskResultData(JsonObject Outputs);

public sealed record TaskError(string Code, string Message);

public sealed record ResultReply(string Status, string? Reason);

/// <summary>A command the orchestrator sends over the WebSocket: <c>{"command": "cancel_task", "task_id", "job_id"}</c>.</summary>
public sealed record WorkerCommand(string Command, string? TaskId, string? JobId)
{
    public const string CancelTask = "cancel_task";
}
