using System.Text.Json.Nodes;
using DirectorsConsole.Messaging;
using Microsoft.Extensions.Options;

namespace DirectorsConsole.BackendService.Agents;

/// <summary>Render agents (section <c>Agents</c>), validated at start.</summary>
public sealed class AgentOptions
{
    public const string SectionName = "Agents";

    /// <summary>An agent not heard from (registration, ping, report) for this long is offline; agents ping every third of it.</summary>
    public TimeSpan HeartbeatTtl { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>The longest a <c>tasks/next</c> poll is held before it answers 204 (also its default).</summary>
    public TimeSpan PollTimeout { get; set; } = TimeSpan.FromSeconds(25);

    /// <summary>How long a task handed out stays taken before it is offered again unless the agent has shown it holds
    /// it (a message of its prompt, a heartbeat naming it, its result): a reply lost on the way is not lost work.</summary>
    public TimeSpan HandOutTimeout { get; set; } = TimeSpan.FromSeconds(30);
}

public sealed class AgentOptionsValidator : IValidateOptions<AgentOptions>
{
    public ValidateOptionsResult Validate(string? name, AgentOptions options)
    {
        var failures = new OptionsFailures(AgentOptions.SectionName);
        if (options.HeartbeatTtl < TimeSpan.FromSeconds(1) || options.HeartbeatTtl > TimeSpan.FromMinutes(10))
        {
            failures.Add($"{AgentOptions.SectionName}:HeartbeatTtl must be between 1 s and 10 min, not {options.HeartbeatTtl}.");
        }

        if (options.PollTimeout < TimeSpan.FromSeconds(1) || options.PollTimeout > TimeSpan.FromMinutes(5))
        {
            failures.Add($"{AgentOptions.SectionName}:PollTimeout must be between 1 s and 5 min (below the Gateway's upstream timeout), not {options.PollTimeout}.");
        }

        if (options.HandOutTimeout < TimeSpan.FromSeconds(1) || options.HandOutTimeout < options.HeartbeatTtl / 3)
        {
            failures.Add($"{AgentOptions.SectionName}:HandOutTimeout ({options.HandOutTimeout}) must be at least 1 s and a third of HeartbeatTtl " +
                         "(an agent confirms a task at its next ping at the latest).");
        }

        return failures.ToResult();
    }
}

/// <summary><c>POST /_worker/workers/register</c>. Fields are optional in JSON so that a missing one is a 422 naming it.</summary>
public sealed record AgentRegistration(
    string? WorkerId,
    string? Name,
    int? MaxConcurrentJobs,
    int? Prefetch,
    AgentCapabilities? Capabilities,
    IReadOnlyList<string?>? Tags);

/// <summary>What the agent found its ComfyUI can do: these fill the backend's discovered capabilities as a probe of
/// <c>/object_info</c> fills a node's.</summary>
public sealed record AgentCapabilities(
    IReadOnlyList<string?>? Models,
    IReadOnlyList<string?>? NodeClasses,
    string? Gpu,
    long? VramBytes,
    string? ComfyuiVersion);

public sealed record AgentRegistered(string Status, string WorkerId, double HeartbeatTtlSeconds, double PollTimeoutSeconds);

/// <summary>The body of a heartbeat that reports (<c>PATCH /_worker/workers/{id}</c> with a body).</summary>
public sealed record AgentHeartbeat(
    string? Status,
    IReadOnlyList<string?>? RunningTaskIds,
    int? QueueRunning,
    int? QueuePending,
    long? GpuMemoryUsed)
{
    public DateTimeOffset? ReportedAt { get; init; }
}

public sealed record AgentPingReply(string Status);

public sealed record AgentHeartbeatReply(string Status, IReadOnlyList<string> CancelTasks);

/// <summary>A task as <c>tasks/next</c> hands it out.</summary>
public sealed record AgentTask(
    string TaskId,
    string? JobId,
    string Type,
    AgentTaskParams Params,
    double? Priority,
    IReadOnlyDictionary<string, string> TracingContext)
{
    public const string ComfyUiPrompt = "comfyui_prompt";
}

public sealed record AgentTaskParams(JsonObject Prompt, double? Number, JsonObject? ExtraData);

/// <summary><c>POST /_worker/tasks/result</c>.</summary>
public sealed record AgentTaskResult(string? JobId, string? TaskId, string? WorkerId, AgentResultBody? Result);

public sealed record AgentResultBody(string? Status, JsonObject? Data, AgentResultError? Error);

public sealed record AgentResultError(string? Code, string? Message);

/// <summary><c>result_accepted_success|failure|cancelled</c>, or <c>ignored</c> with a reason (<c>duplicate</c>,
/// <c>stale</c>, <c>not_found</c>) when the result changes nothing.</summary>
public sealed record AgentResultReply(string Status, string? Reason = null);

public sealed record AgentOutputStored(string Stored);

public static class AgentResultStatuses
{
    public const string Success = "success";
    public const string Failure = "failure";
    public const string Cancelled = "cancelled";

    public static readonly string[] All = [Success, Failure, Cancelled];
}

/// <summary>Reasons of an <c>ignored</c> result.</summary>
public static class AgentIgnoredReasons
{
    public const string Duplicate = "duplicate";
    public const string Stale = "stale";
    public const string NotFound = "not_found";
}

/// <summary>The JSON an agent's WebSocket receives from the server.</summary>
public sealed record AgentCommand(string Command, string TaskId, string? JobId)
{
    public const string CancelTask = "cancel_task";
}

/// <summary>Limits of what an agent may register, beyond a backend's own.</summary>
public static class AgentLimits
{
    /// <summary>A ComfyUI with many custom nodes has a few thousand node classes.</summary>
    public const int MaxCapabilityEntries = 20000;

    public const int MaxCapabilityLength = 512;
}
