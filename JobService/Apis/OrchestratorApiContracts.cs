using System.Text.Json.Nodes;
using DirectorsConsole.JobService.Engine;
using DirectorsConsole.JobService.Model;
using DirectorsConsole.ServiceDefaults.Backends;

namespace DirectorsConsole.JobService.Apis;

/// <summary>
/// Statuses as the worker orchestrator's clients know them, mapped from the suite's job and group statuses. The
/// suite's own status is shown beside it (<c>suite_status</c>) because the mapping folds some apart: a timeout is
/// <c>failed</c> (its <c>error_type</c> says <c>timeout</c>, as a job rejected at approval says <c>rejected</c>), and a group where some children failed is <c>failed</c>
/// so that a client waiting for <c>finished</c> never takes a partial set for a complete one.
/// </summary>
public static class OrchestratorStatuses
{
    public const string Pending = "pending";
    public const string Running = "running";
    public const string Finished = "finished";
    public const string Failed = "failed";
    public const string Cancelled = "cancelled";

    /// <summary>The original's name for a job (or group) waiting for a person's decision.</summary>
    public const string WaitingForHuman = "waiting_for_human";

    public static string OfJob(string status) => status switch
    {
        JobStatuses.Queued => Pending,
        JobStatuses.Running => Running,
        JobStatuses.Completed => Finished,
        JobStatuses.Cancelled => Cancelled,
        JobStatuses.AwaitingApproval => WaitingForHuman,
        _ => Failed,
    };

    public static string OfGroup(string status) => status switch
    {
        JobGroupStatuses.Pending => Pending,
        JobGroupStatuses.Running => Running,
        JobGroupStatuses.Completed => Finished,
        JobGroupStatuses.Cancelled => Cancelled,
        JobGroupStatuses.AwaitingApproval => WaitingForHuman,
        _ => Failed,
    };
}

/// <summary>
/// A job or a job group as <c>GET /api/v1/jobs/{id}</c> shows it: the orchestrator's names (<c>id</c>,
/// <c>blueprint_name</c>, <c>initial_data</c>, <c>assigned_worker_id</c>, <c>result</c> once it has ended) over the
/// suite's records. A group lists its children in the same shape.
/// </summary>
public sealed record OrchestratorJob(
    string Id,
    string Kind,
    string Status,
    string SuiteStatus,
    string? BlueprintName,
    JsonObject InitialData,
    string? WebhookUrl,
    double Progress,
    string? CurrentStep,
    string? AssignedWorkerId,
    IReadOnlyList<string> Attempts,
    JsonObject? Result,
    string? ErrorMessage,
    string? ErrorType,
    string? ParentJobId,
    JsonObject Metadata,
    DateTimeOffset CreatedAt,
    DateTimeOffset? StartedAt,
    DateTimeOffset? CompletedAt,
    IReadOnlyList<OrchestratorJob>? ChildJobs)
{
    public const string JobKind = "job";
    public const string GroupKind = "job_group";

    public static OrchestratorJob From(JobRecord job) => new(
        job.JobId, JobKind, OrchestratorStatuses.OfJob(job.Status), job.Status, job.WorkflowId, job.Parameters, job.WebhookUrl,
        job.Progress, job.CurrentStep, job.BackendId, job.Attempts, JobStatuses.IsFinal(job.Status) ? job.Outputs : null,
        job.ErrorMessage, job.ErrorType, job.GroupId, job.Metadata, job.SubmittedAt, job.StartedAt, job.CompletedAt, null);

    public static OrchestratorJob From(JobGroupView view)
    {
        var group = view.Group;
        var children = view.Children.Select(From).ToArray();
        var progress = view.Children.Count == 0 ? 0 : view.Children.Average(c => JobStatuses.IsFinal(c.Status) ? 100 : c.Progress);
        var started = view.Children.Select(c => c.StartedAt).Where(t => t is not null).Min();
        return new OrchestratorJob(
            group.JobGroupId, GroupKind, OrchestratorStatuses.OfGroup(group.Status), group.Status,
            view.Children.FirstOrDefault()?.WorkflowId, view.Children.FirstOrDefault()?.Parameters ?? [], null,
            Math.Round(progress, 2), null, null, group.BackendIds,
            group.CompletedAt is null ? null : JobEvents.GroupComplete(group, view.Children),
            null, null, null, group.Metadata, group.CreatedAt, started, group.CompletedAt, children);
    }
}

/// <summary>The 202 answer of a submit through a workflow's endpoint.</summary>
public sealed record OrchestratorAccepted(string Status, string JobId);

/// <summary>The answer to a cancel that was accepted.</summary>
public sealed record OrchestratorCancelResponse(string Status);

/// <summary>One render node as <c>GET /api/v1/workers</c> lists it: the registry's definition and runtime state, with
/// its active jobs (the jobs this suite has on it, running or posted ahead to wait in its queue) and its load: the
/// share of its <c>max_concurrent_jobs</c> in use, at most 1 (prompts waiting in the node's queue use no slot).</summary>
public sealed record OrchestratorWorker(
    string WorkerId,
    string Kind,
    string Name,
    string Status,
    bool Online,
    bool Enabled,
    int ActiveJobs,
    int MaxConcurrentJobs,
    double Load,
    int QueueRunning,
    int QueuePending,
    string? GpuName,
    double? GpuUtilization,
    long? GpuMemoryUsed,
    long? GpuMemoryTotal,
    IReadOnlyList<string> Capabilities,
    DateTimeOffset? LastSeen,
    string? LastError)
{
    public const string ComfyUiBackendKind = "comfyui_backend";

    /// <summary>A render agent that pulls its work (the backend's own kind, <see cref="BackendKinds.Agent"/>).</summary>
    public const string AgentKind = BackendKinds.Agent;

    public static OrchestratorWorker From(BackendEntry backend, long activeJobs)
    {
        var definition = backend.Definition;
        var state = backend.State;
        var active = (int)activeJobs;
        return new OrchestratorWorker(
            definition.Id, definition.IsAgent ? AgentKind : ComfyUiBackendKind, definition.Name,
            definition.Enabled ? state?.Status ?? BackendStatuses.Offline : BackendStatuses.Disabled,
            backend.Online, definition.Enabled, active, definition.MaxConcurrentJobs,
            definition.MaxConcurrentJobs > 0 ? Math.Round(Math.Min(1, (double)active / definition.MaxConcurrentJobs), 4) : 0,
            state?.QueueRunning ?? 0, state?.QueuePending ?? 0, state?.GpuName, state?.GpuUtilization,
            state?.GpuMemoryUsed, state?.GpuMemoryTotal, definition.Capabilities, state?.LastSeen, state?.LastError);
    }
}

/// <summary>Render times (start to completion) of the jobs that completed within the window, in seconds.</summary>
public sealed record RenderTimePercentiles(int Count, double? P50, double? P90, double? P99)
{
    /// <summary>Nearest-rank percentiles: the smallest value with at least p% of the values at or below it.</summary>
    public static RenderTimePercentiles From(IEnumerable<double> seconds)
    {
        var sorted = seconds.Order().ToArray();
        double? At(double percent) => sorted.Length == 0 ? null
            : Math.Round(sorted[Math.Clamp((int)Math.Ceiling(percent / 100 * sorted.Length) - 1, 0, sorted.Length - 1)], 3);
        return new RenderTimePercentiles(sorted.Length, At(50), At(90), At(99));
    }
}

/// <summary>One backend's share of the work now: the jobs this suite runs on it over its slots.</summary>
public sealed record BackendUtilization(string BackendId, bool Online, int ActiveJobs, int MaxConcurrentJobs, double Utilization);

/// <summary><c>GET /api/v1/dashboard</c>.</summary>
public sealed record OrchestratorDashboard(
    IReadOnlyDictionary<string, long> Jobs,
    long QueueDepth,
    int WindowSeconds,
    IReadOnlyDictionary<string, int> EndedInWindow,
    double JobsPerMinute,
    RenderTimePercentiles RenderSeconds,
    int WorkersTotal,
    int WorkersOnline,
    IReadOnlyList<BackendUtilization> Backends,
    DateTimeOffset GeneratedAt);

/// <summary>The answer to <c>POST /_public/debug/flush_db</c>: what was removed.</summary>
public sealed record FlushDbResponse(string Status, long DeletedKeys);

/// <summary>The answer of <c>POST /_public/webhooks/approval/{job_id}</c>.</summary>
public sealed record ApprovalReceived(string Status, string JobId);
