using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using DirectorsConsole.JobService.Model;
using DirectorsConsole.ServiceDefaults.Hosting;

namespace DirectorsConsole.JobService.Engine;

/// <summary>Where a job's current attempt is between the scheduler and BackendService.</summary>
public static class DispatchStates
{
    /// <summary>Waiting in the orchestrator's queue; no prompt id yet.</summary>
    public const string None = "none";

    /// <summary>A slot and a prompt id are taken and recorded; the command may or may not be enqueued yet.</summary>
    public const string Pending = "pending";

    /// <summary>The command is in BackendService's durable queue (or BackendService has reported on the prompt).</summary>
    public const string Sent = "sent";
}

/// <summary>What the engine keeps about a job beside the <see cref="JobRecord"/> the API shows (field <c>engine</c> of
/// the job's hash).</summary>
public sealed record JobEngineState
{
    /// <summary>The backend the job must run on: a group child's own backend, or where a lost job was moved.
    /// Null: the scheduler chooses.</summary>
    public string? Target { get; init; }

    public string Dispatch { get; init; } = DispatchStates.None;

    public DateTimeOffset? DispatchedAt { get; init; }

    /// <summary>The job's place in the queue (<c>priority * 2^40 + sequence</c>), kept so that a job moved to
    /// another backend keeps its place.</summary>
    public double QueueScore { get; init; }

    /// <summary>How many times the job has moved to another backend.</summary>
    public int Reassignments { get; init; }

    public bool CancelRequested { get; init; }

    /// <summary>The W3C <c>traceparent</c> of the request that submitted the job. The scheduler dispatches the job
    /// later from a loop of its own, where no request is current; it continues this trace, so one submission and
    /// every attempt to run it are one trace.</summary>
    public string? TraceParent { get; init; }

    /// <summary>The W3C <c>tracestate</c> that came with <see cref="TraceParent"/>.</summary>
    public string? TraceState { get; init; }

    /// <summary>In the orchestrator's queue: not ended and not dispatched.</summary>
    public static bool InQueue(JobRecord record, JobEngineState state) =>
        record.Status == JobStatuses.Queued && state.Dispatch == DispatchStates.None;

    /// <summary>Holding a slot of <see cref="JobRecord.BackendId"/>: dispatched and not ended.</summary>
    public static bool HoldsSlot(JobRecord record, JobEngineState state) =>
        !JobStatuses.IsPastRender(record.Status) && state.Dispatch != DispatchStates.None && record.BackendId is not null;
}

/// <summary>A job as read from Redis, with the version its next change must name.</summary>
public sealed record StoredJob(JobRecord Record, JobEngineState State, long Version);

/// <summary>A group as read from Redis, with its version and whether <c>group_complete</c> was appended.</summary>
public sealed record StoredGroup(JobGroupRecord Record, long Version, bool Completed);

/// <summary>The JSON of records kept in Redis: snake_case like the API, dates in UTC.</summary>
public static class JobJson
{
    public static JsonSerializerOptions Options { get; } = Create();

    private static JsonSerializerOptions Create()
    {
        var options = new JsonSerializerOptions(JsonSerializerDefaults.Web) { TypeInfoResolver = new DefaultJsonTypeInfoResolver() };
        ApiJson.Apply(options, JsonNamingPolicy.SnakeCaseLower);
        options.MakeReadOnly();
        return options;
    }
}
