using System.Text.Json.Nodes;
using DirectorsConsole.JobService.Engine;
using DirectorsConsole.JobService.Model;

namespace DirectorsConsole.JobService.Apis;

/// <summary>The body of <c>POST /api/job</c> (API docs 1–3). Every field is optional in JSON so that a
/// missing workflow is reported as FastAPI's 422 <c>missing</c> error rather than a binding failure.</summary>
public sealed record JobRequest(
    string? WorkflowId,
    JsonObject? WorkflowJson,
    JsonObject? Parameters,
    JsonObject? Metadata,
    string? BackendAffinity,
    IReadOnlyList<string>? RequiredCapabilities,
    int? Priority,
    int? TimeoutSeconds,
    long? Seed,
    IReadOnlyList<string>? SeedNodes,
    string? WebhookUrl = null,
    bool? RequiresApproval = null);

/// <summary>The 202 answer of <c>POST /api/job</c> (API doc 3), with the parameters nothing in the workflow took.</summary>
public sealed record JobAcceptedResponse(
    string JobId,
    string Status,
    string Message,
    DateTimeOffset SubmittedAt,
    IReadOnlyList<string> IgnoredParameters);

/// <summary>One job as <c>GET /api/jobs/{id}</c> shows it (API doc 2 phase 2); <c>created_at</c> is
/// when it was submitted.</summary>
public sealed record JobStatusResponse(
    string JobId,
    string Status,
    double Progress,
    string? CurrentStep,
    int? StepsCompleted,
    int? StepsTotal,
    DateTimeOffset CreatedAt,
    DateTimeOffset QueuedAt,
    DateTimeOffset? StartedAt,
    DateTimeOffset? CompletedAt,
    string? ErrorMessage,
    string? ErrorType,
    JsonObject? Outputs,
    string? BackendId,
    long? Seed,
    IReadOnlyList<string>? SeedNodes,
    string? WorkflowId,
    string? JobGroupId,
    int Priority,
    int TimeoutSeconds,
    string? BackendAffinity,
    IReadOnlyList<string> RequiredCapabilities,
    JsonObject Parameters,
    IReadOnlyList<string> IgnoredParameters,
    JsonObject Metadata,
    string? PromptId,
    IReadOnlyList<string> Attempts,
    string? WebhookUrl,
    bool RequiresApproval)
{
    public static JobStatusResponse From(JobRecord job) => new(
        job.JobId, job.Status, job.Progress, job.CurrentStep, job.StepsCompleted, job.StepsTotal,
        job.SubmittedAt, job.QueuedAt, job.StartedAt, job.CompletedAt, job.ErrorMessage, job.ErrorType, job.Outputs,
        job.BackendId, job.Seed, job.SeedNodes, job.WorkflowId, job.GroupId, job.Priority, job.TimeoutSeconds,
        job.BackendAffinity, job.RequiredCapabilities, job.Parameters, job.IgnoredParameters, job.Metadata,
        job.PromptId, job.Attempts, job.WebhookUrl, job.RequiresApproval);
}

/// <summary>One page of <c>GET /api/jobs</c>, newest first.</summary>
public sealed record JobListResponse(IReadOnlyList<JobStatusResponse> Jobs, long Total, int Offset, int Limit);

/// <summary><c>GET /api/job/{id}/outputs</c>: what the job produced so far (null until it completes).</summary>
public sealed record JobOutputsResponse(string JobId, string Status, JsonObject? Outputs);

/// <summary>The answer to a job cancel: the job's status after the request (<c>cancelled</c>).</summary>
public sealed record JobCancelResponse(string JobId, bool Cancelled, string Status, string Message);

/// <summary>The body of <c>POST /api/job-group(s)</c> (API doc 4 JobGroupRequest). <c>workflow_id</c> may stand in for
/// <c>workflow_json</c>, as for single jobs. <c>base_seed</c> is read as a number so that a negative or too large
/// value gets a 422 that says so.</summary>
public sealed record JobGroupRequest(
    string? WorkflowId,
    JsonObject? WorkflowJson,
    JsonObject? Parameters,
    IReadOnlyList<string>? BackendIds,
    string? SeedStrategy,
    decimal? BaseSeed,
    JsonObject? Metadata,
    int? TimeoutSeconds,
    IReadOnlyList<string>? RequiredCapabilities,
    IReadOnlyList<string>? SeedNodes,
    string? WebhookUrl = null,
    bool? RequiresApproval = null);

/// <summary>A child job as API doc 4's creation answer lists it.</summary>
public sealed record ChildJobSummary(string JobId, string? BackendId, long? Seed, string Status);

/// <summary>The 201 answer of <c>POST /api/job-group(s)</c> (API doc 4 JobGroupResponse).</summary>
public sealed record JobGroupResponse(string JobGroupId, IReadOnlyList<ChildJobSummary> ChildJobs, string Status, DateTimeOffset CreatedAt)
{
    public static JobGroupResponse From(JobGroupView view) => new(
        view.Group.JobGroupId,
        view.Children.Select(c => new ChildJobSummary(c.JobId, c.BackendId ?? c.PreferredBackendIds.FirstOrDefault(), c.Seed, c.Status)).ToArray(),
        view.Group.Status,
        view.Group.CreatedAt);
}

/// <summary>A child job with every field of API doc 4's ChildJob (plus the step counts of <c>child_progress</c>).
/// <c>outputs</c> is never null: before the child completes it holds every kind with no files and the prompt id of
/// the current attempt (null while it waits for a backend), so a client can read <c>outputs.images</c> at once.</summary>
public sealed record ChildJob(
    string JobId,
    string? BackendId,
    long? Seed,
    string Status,
    double Progress,
    string? CurrentStep,
    int? StepsCompleted,
    int? StepsTotal,
    JsonObject Outputs,
    string? ErrorMessage,
    string? ErrorType,
    DateTimeOffset QueuedAt,
    DateTimeOffset? StartedAt,
    DateTimeOffset? CompletedAt)
{
    public static ChildJob From(JobRecord job) => new(
        job.JobId, job.BackendId ?? job.PreferredBackendIds.FirstOrDefault(), job.Seed, job.Status, job.Progress, job.CurrentStep,
        job.StepsCompleted, job.StepsTotal, job.Outputs ?? JobEvents.Outputs(null, job.PromptId), job.ErrorMessage, job.ErrorType,
        job.QueuedAt, job.StartedAt, job.CompletedAt);
}

/// <summary><c>GET /api/job-groups/{id}</c> (API doc 4 JobGroupStatusResponse). <c>failed_count</c> includes timed-out
/// children, as the original counted them, and children rejected at approval; cancelled children are counted apart.
/// <c>approval</c> is the decision taken on the whole group (null until then, and when its children were decided one by one).</summary>
public sealed record JobGroupStatusResponse(
    string JobGroupId,
    string Status,
    IReadOnlyList<ChildJob> ChildJobs,
    int CompletedCount,
    int FailedCount,
    int CancelledCount,
    int TotalCount,
    DateTimeOffset CreatedAt,
    DateTimeOffset? CompletedAt,
    IReadOnlyList<string> BackendIds,
    string SeedStrategy,
    ulong? BaseSeed,
    int TimeoutSeconds,
    IReadOnlyList<string> RequiredCapabilities,
    JsonObject Metadata,
    string? WebhookUrl,
    bool RequiresApproval,
    JsonObject? Approval)
{
    public static JobGroupStatusResponse From(JobGroupView view)
    {
        var group = view.Group;
        var children = view.Children;
        return new JobGroupStatusResponse(
            group.JobGroupId,
            group.Status,
            children.Select(ChildJob.From).ToArray(),
            children.Count(c => c.Status == JobStatuses.Completed),
            children.Count(c => c.Status is JobStatuses.Failed or JobStatuses.Timeout or JobStatuses.Rejected),
            children.Count(c => c.Status == JobStatuses.Cancelled),
            children.Count,
            group.CreatedAt,
            group.CompletedAt,
            group.BackendIds,
            group.SeedStrategy,
            group.BaseSeed,
            group.TimeoutSeconds,
            group.RequiredCapabilities,
            group.Metadata,
            group.WebhookUrl,
            group.RequiresApproval,
            JobEvents.GroupApproval(group));
    }
}

/// <summary>One page of <c>GET /api/job-groups</c>, newest first.</summary>
public sealed record JobGroupListResponse(IReadOnlyList<JobGroupStatusResponse> JobGroups, int Offset, int Limit);

/// <summary>The answer to <c>DELETE /api/job-groups/{id}</c> (API doc 4).</summary>
public sealed record JobGroupCancelResponse(bool Cancelled, int Interrupted, int AlreadyComplete, int AlreadyFailed)
{
    public static JobGroupCancelResponse From(JobGroupCancelResult result) =>
        new(result.Cancelled, result.Interrupted, result.AlreadyComplete, result.AlreadyFailed);
}
