using System.Globalization;
using System.Text.Json.Nodes;
using DirectorsConsole.JobService.Model;

namespace DirectorsConsole.JobService.Engine;

/// <summary>The kinds of history entry besides the stream events a change appends (whose kinds are <see cref="JobEventKinds"/>).</summary>
public static class JobHistoryEvents
{
    public const string Submitted = "submitted";
    public const string StatusChanged = "status_changed";
}

/// <summary>One entry of a job's or group's history: when, what, and the details of what (a stream event's payload
/// or a status change). Later kinds of entry (deliveries, approvals) add their own details under their own event name.</summary>
public sealed record JobHistoryEntry(DateTimeOffset At, string Event, string? JobId, JsonObject Details);

/// <summary>
/// A job's or group's history in Redis (<see cref="JobKeys.History"/>): every status change and every event but
/// progress, each with its time. Entries are written by <see cref="JobStateMachine"/> in the same script as the change
/// they record, so the history never shows a change that was refused, nor misses one that was made. Progress is left
/// out because a render reports it many times a second and the stream already carries it; it would crowd out the
/// changes that matter within the entry limit.
/// </summary>
public static class JobHistory
{
    /// <summary>Adds the entry to <paramref name="commit"/>: pushed, trimmed to the limit, expiry renewed.</summary>
    public static JobCommit AddHistory(this JobCommit commit, string jobOrGroupId, string @event, JsonObject details, DateTimeOffset at, JobEngineOptions options)
    {
        var entry = new JsonObject { ["at"] = JobEvents.Iso(at), ["event"] = @event };
        foreach (var (name, value) in details)
        {
            if (name is not ("at" or "event" or "type"))
            {
                entry[name] = value?.DeepClone();
            }
        }

        return commit.PushHistory(jobOrGroupId, entry.ToJsonString(), options.HistoryMaxEntries, options.HistoryRetention);
    }

    public static JsonObject StatusChange(JobRecord from, JobRecord to) => new()
    {
        ["job_id"] = to.JobId,
        ["from_status"] = from.Status,
        ["status"] = to.Status,
        ["backend_id"] = to.BackendId,
    };

    public static JsonObject Submitted(JobRecord job) => new()
    {
        ["job_id"] = job.JobId,
        ["status"] = job.Status,
        ["job_group_id"] = job.GroupId,
        ["workflow_id"] = job.WorkflowId,
        ["backend_id"] = job.BackendId,
        ["priority"] = job.Priority,
    };

    public static JobHistoryEntry Parse(string stored)
    {
        var entry = JsonNode.Parse(stored)!.AsObject();
        var at = DateTimeOffset.Parse((string)entry["at"]!, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal);
        var @event = (string)entry["event"]!;
        var details = new JsonObject();
        foreach (var (name, value) in entry)
        {
            if (name is not ("at" or "event"))
            {
                details[name] = value?.DeepClone();
            }
        }

        return new JobHistoryEntry(at, @event, (string?)details["job_id"], details);
    }
}
