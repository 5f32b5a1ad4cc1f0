using System.Text.Json.Nodes;
using DirectorsConsole.JobService.Model;
using DirectorsConsole.ServiceDefaults.Hosting;
using DirectorsConsole.Contracts;

namespace DirectorsConsole.JobService.Engine;

/// <summary>The kinds of stream event; a group's stream names them <c>child_{kind}</c>, a job's own stream <c>job_{kind}</c>.</summary>
public static class JobEventKinds
{
    public const string Started = "started";
    public const string Progress = "progress";
    public const string Completed = "completed";
    public const string Failed = "failed";
    public const string Timeout = "timeout";
    public const string Cancelled = "cancelled";
    public const string Reassigned = "reassigned";

    /// <summary>Rendered; waiting for a person's decision.</summary>
    public const string AwaitingApproval = "awaiting_approval";

    /// <summary>Turned down at approval (an approved job sends <see cref="Completed"/>).</summary>
    public const string Rejected = "rejected";

    /// <summary>The last event of a group's stream.</summary>
    public const string GroupComplete = "group_complete";

    /// <summary>A group that requires approval has every child rendered (or ended otherwise) and waits for a decision.</summary>
    public const string GroupAwaitingApproval = "group_awaiting_approval";

    public static string ForChild(string kind) => "child_" + kind;

    public static string ForJob(string kind) => "job_" + kind;
}

/// <summary>A stream event before it is named for its stream (see <see cref="JobEventKinds"/>).</summary>
public sealed record JobEventDraft(string Kind, JsonObject Payload);

/// <summary>The payloads of API doc 4's WebSocket events, built from job records.</summary>
public static class JobEvents
{
    public static string Iso(DateTimeOffset value) => ApiJson.FormatUtc(value);

    private static JsonNode? Iso(DateTimeOffset? value) => value is { } v ? Iso(v) : null;

    public static JobEventDraft Started(JobRecord job) => new(JobEventKinds.Started, new JsonObject
    {
        ["job_id"] = job.JobId,
        ["backend_id"] = job.BackendId,
        ["started_at"] = Iso(job.StartedAt),
    });

    public static JobEventDraft Progress(JobRecord job) => new(JobEventKinds.Progress, new JsonObject
    {
        ["job_id"] = job.JobId,
        ["backend_id"] = job.BackendId,
        ["progress"] = job.Progress,
        ["current_step"] = job.CurrentStep,
        ["steps_completed"] = job.StepsCompleted,
        ["steps_total"] = job.StepsTotal,
    });

    public static JobEventDraft Completed(JobRecord job) => new(JobEventKinds.Completed, new JsonObject
    {
        ["job_id"] = job.JobId,
        ["backend_id"] = job.BackendId,
        ["seed"] = job.Seed,
        ["outputs"] = job.Outputs?.DeepClone(),
        ["completed_at"] = Iso(job.CompletedAt),
    });

    public static JobEventDraft AwaitingApproval(JobRecord job) => new(JobEventKinds.AwaitingApproval, new JsonObject
    {
        ["job_id"] = job.JobId,
        ["backend_id"] = job.BackendId,
        ["seed"] = job.Seed,
        ["outputs"] = job.Outputs?.DeepClone(),
        ["rendered_at"] = Iso(job.CompletedAt),
    });

    /// <summary>The event of an approval decision: <c>completed</c> (with the outputs, as any completion) or <c>rejected</c>,
    /// each with the decision, its comment and who made it.</summary>
    public static JobEventDraft Decided(JobRecord job, ApprovalDecision decision, DateTimeOffset at)
    {
        var draft = job.Status == JobStatuses.Completed
            ? Completed(job)
            : new JobEventDraft(JobEventKinds.Rejected, new JsonObject { ["job_id"] = job.JobId, ["backend_id"] = job.BackendId, ["rejected_at"] = Iso(at) });
        draft.Payload["decision"] = decision.Decision;
        draft.Payload["comment"] = decision.Comment;
        draft.Payload["decided_by"] = decision.DecidedBy;
        draft.Payload["decided_at"] = Iso(at);
        return draft;
    }

    public static JobEventDraft Failed(JobRecord job) => new(JobEventKinds.Failed, new JsonObject
    {
        ["job_id"] = job.JobId,
        ["backend_id"] = job.BackendId,
        ["error"] = job.ErrorMessage,
        ["error_type"] = job.ErrorType,
        ["failed_at"] = Iso(job.CompletedAt),
    });

    public static JobEventDraft Timeout(JobRecord job) => new(JobEventKinds.Timeout, new JsonObject
    {
        ["job_id"] = job.JobId,
        ["backend_id"] = job.BackendId,
        ["timeout_seconds"] = job.TimeoutSeconds,
        ["timed_out_at"] = Iso(job.CompletedAt),
    });

    public static JobEventDraft Cancelled(JobRecord job) => new(JobEventKinds.Cancelled, new JsonObject
    {
        ["job_id"] = job.JobId,
        ["backend_id"] = job.BackendId,
        ["cancelled_at"] = Iso(job.CompletedAt),
    });

    public static JobEventDraft Reassigned(string jobId, string? fromBackendId, string backendId, int attempt, string reason) =>
        new(JobEventKinds.Reassigned, new JsonObject
        {
            ["job_id"] = jobId,
            ["from_backend_id"] = fromBackendId,
            ["backend_id"] = backendId,
            ["attempt"] = attempt,
            ["reason"] = reason,
        });

    /// <summary>The event that ends a job in <paramref name="job"/>'s final status.</summary>
    public static JobEventDraft Final(JobRecord job) => job.Status switch
    {
        JobStatuses.Completed => Completed(job),
        JobStatuses.Timeout => Timeout(job),
        JobStatuses.Cancelled => Cancelled(job),
        JobStatuses.Rejected => new JobEventDraft(JobEventKinds.Rejected, new JsonObject { ["job_id"] = job.JobId, ["backend_id"] = job.BackendId, ["error"] = job.ErrorMessage }),
        _ => Failed(job),
    };

    /// <summary>API doc 4 <c>group_complete</c>: totals and one result per child, in the group's order; with the
    /// decision when the group was decided as a whole.</summary>
    public static JsonObject GroupComplete(JobGroupRecord group, IReadOnlyList<JobRecord> children)
    {
        var outcome = new JsonObject
        {
            ["job_group_id"] = group.JobGroupId,
            ["status"] = group.Status,
            ["total"] = children.Count,
            ["succeeded"] = children.Count(c => c.Status == JobStatuses.Completed),
            ["failed"] = children.Count(c => c.Status is JobStatuses.Failed or JobStatuses.Timeout or JobStatuses.Rejected),
            ["results"] = new JsonArray(children.Select(c => (JsonNode)new JsonObject
            {
                ["job_id"] = c.JobId,
                ["status"] = c.Status,
                ["outputs"] = c.Status == JobStatuses.Completed ? c.Outputs?.DeepClone() : null,
                ["error"] = c.Status == JobStatuses.Completed ? null : c.ErrorMessage,
            }).ToArray()),
        };
        if (GroupApproval(group) is { } approval)
        {
            outcome["approval"] = approval;
        }

        return outcome;
    }

    /// <summary>The decision taken on a whole group, as its events and answers show it; null when none was.</summary>
    public static JsonObject? GroupApproval(JobGroupRecord group) => group.Approval is { } decision
        ? new JsonObject
        {
            ["decision"] = decision.Decision,
            ["comment"] = decision.Comment,
            ["decided_by"] = decision.DecidedBy,
            ["decided_at"] = Iso(group.DecidedAt),
        }
        : null;

    /// <summary><c>group_awaiting_approval</c>: every child has rendered or ended; which of them wait for a decision.</summary>
    public static JsonObject GroupAwaitingApproval(JobGroupRecord group, IReadOnlyList<JobRecord> children) => new()
    {
        ["job_group_id"] = group.JobGroupId,
        ["status"] = group.Status,
        ["total"] = children.Count,
        ["waiting"] = children.Count(c => c.Status == JobStatuses.AwaitingApproval),
        ["waiting_job_ids"] = new JsonArray(children.Where(c => c.Status == JobStatuses.AwaitingApproval).Select(c => (JsonNode)c.JobId).ToArray()),
        ["failed"] = children.Count(c => c.Status is JobStatuses.Failed or JobStatuses.Timeout or JobStatuses.Rejected),
    };

    /// <summary>API doc 4 JobGroupStatus from the children: running while any is still to render; awaiting_approval
    /// while every child has rendered or ended and some wait for a decision; then completed (all succeeded), rejected
    /// (none did and some were rejected at approval), failed (none did) or partial_complete. A cancelled group stays
    /// cancelled. Only the children's statuses decide it.</summary>
    public static string GroupStatus(string current, IReadOnlyList<string> childStatuses)
    {
        if (current == JobGroupStatuses.Cancelled)
        {
            return JobGroupStatuses.Cancelled;
        }

        if (childStatuses.Count == 0 || childStatuses.Any(s => !JobStatuses.IsPastRender(s)))
        {
            return JobGroupStatuses.Running;
        }

        if (childStatuses.Contains(JobStatuses.AwaitingApproval))
        {
            return JobGroupStatuses.AwaitingApproval;
        }

        var succeeded = childStatuses.Count(s => s == JobStatuses.Completed);
        return succeeded == childStatuses.Count ? JobGroupStatuses.Completed
            : succeeded == 0 && childStatuses.Contains(JobStatuses.Rejected) ? JobGroupStatuses.Rejected
            : succeeded == 0 ? JobGroupStatuses.Failed
            : JobGroupStatuses.PartialComplete;
    }

    /// <summary>The kinds of output every <c>outputs</c> object carries, empty when the prompt made none, so clients
    /// of the original (which read <c>outputs.images</c> without checking) never meet a missing key.</summary>
    public static IReadOnlyList<string> OutputKinds { get; } = ["images", "gifs", "videos", "audio", "text"];

    /// <summary>ComfyUI outputs grouped by kind, as API doc 4 shows them: files as <c>{filename, subfolder, type, url}</c>,
    /// text as <c>{text}</c>; every kind of <see cref="OutputKinds"/> present (other kinds a node reports are kept
    /// too), and the ComfyUI <c>prompt_id</c> that made them, as the original sent it.</summary>
    public static JsonObject Outputs(IReadOnlyList<RenderOutput>? outputs, string? promptId)
    {
        var byKind = new JsonObject();
        foreach (var kind in OutputKinds)
        {
            byKind[kind] = new JsonArray();
        }

        foreach (var output in outputs ?? [])
        {
            if (byKind[output.Kind] is not JsonArray list)
            {
                list = [];
                byKind[output.Kind] = list;
            }

            list.Add(output.Text is not null && output.Filename is null
                ? new JsonObject { ["text"] = output.Text }
                : new JsonObject
                {
                    ["filename"] = output.Filename,
                    ["subfolder"] = output.Subfolder ?? "",
                    ["type"] = output.Type,
                    ["url"] = output.Url,
                });
        }

        byKind["prompt_id"] = promptId;
        return byKind;
    }
}
