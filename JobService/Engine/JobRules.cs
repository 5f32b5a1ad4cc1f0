using DirectorsConsole.JobService.Model;
using DirectorsConsole.Contracts;

namespace DirectorsConsole.JobService.Engine;

/// <summary>A decided change of one job: its new record and engine state, and the events it appends. Whatever else
/// follows (indexes, queue, slots, the group) is derived from the difference with the stored job.</summary>
public sealed record JobChange(JobRecord Record, JobEngineState State)
{
    public IReadOnlyList<JobEventDraft> Events { get; init; } = [];

    /// <summary>When the change takes a slot of <see cref="JobRecord.BackendId"/>: the backend's max_concurrent_jobs.</summary>
    public int? SlotLimit { get; init; }

    /// <summary>A group child that ends leaves its group untouched; the caller settles the group once after a batch
    /// (<see cref="JobStateMachine.SettleGroupAsync"/>), instead of every child reading all its siblings.</summary>
    public bool DefersGroupOutcome { get; init; }
}

/// <summary>What a render event means for a job.</summary>
public sealed record RenderDecision(JobChange? Change, bool BackendLost)
{
    public static readonly RenderDecision Ignore = new(null, false);

    public static readonly RenderDecision Lost = new(null, true);
}

/// <summary>
/// The job state machine, without I/O: <c>queued → running → completed | failed | timeout | cancelled</c>, and
/// <c>queued|running → queued</c> on another backend when the backend was lost. A job that requires approval goes
/// <c>running → awaiting_approval → completed | rejected | cancelled</c> instead of completing. Only events of the job's current
/// attempt (its <see cref="JobRecord.PromptId"/>) count; final states are final.
/// </summary>
public static class JobRules
{
    public static RenderDecision OnRenderEvent(StoredJob job, RenderEvent renderEvent)
    {
        var record = job.Record;
        if (JobStatuses.IsPastRender(record.Status) || record.PromptId != renderEvent.PromptId)
        {
            return RenderDecision.Ignore;
        }

        var sent = job.State with { Dispatch = DispatchStates.Sent };
        var confirmOnly = job.State.Dispatch == DispatchStates.Sent ? RenderDecision.Ignore : new RenderDecision(new JobChange(record, sent), false);
        switch (renderEvent.Kind)
        {
            case RenderEventKinds.Accepted:
                return confirmOnly;
            case RenderEventKinds.Started:
                if (record.Status == JobStatuses.Running)
                {
                    return confirmOnly;
                }

                var running = record with { Status = JobStatuses.Running, StartedAt = renderEvent.At, Progress = 0 };
                return Changed(running, sent, JobEvents.Started(running));
            case RenderEventKinds.Progress:
                return OnProgress(record, sent, renderEvent);
            case RenderEventKinds.Completed:
                // A job that needs approval keeps its render's completion time; the decision only moves its status.
                var completed = record with
                {
                    Status = record.RequiresApproval ? JobStatuses.AwaitingApproval : JobStatuses.Completed,
                    Progress = 100,
                    Outputs = JobEvents.Outputs(renderEvent.Outputs, renderEvent.PromptId),
                    StartedAt = record.StartedAt ?? renderEvent.At,
                    CompletedAt = renderEvent.At,
                };
                // A completion whose "started" was lost (or is still on its way) starts the job too, so every
                // stream shows job_started before job_completed.
                var rendered = completed.RequiresApproval ? JobEvents.AwaitingApproval(completed) : JobEvents.Completed(completed);
                return record.Status == JobStatuses.Queued
                    ? Changed(completed, sent, JobEvents.Started(record with { Status = JobStatuses.Running, StartedAt = completed.StartedAt, Progress = 0 }), rendered)
                    : Changed(completed, sent, rendered);
            case RenderEventKinds.Failed when renderEvent.ErrorType is RenderErrorTypes.BackendLost or RenderErrorTypes.BackendUnreachable:
                return RenderDecision.Lost;
            case RenderEventKinds.Failed:
                var failed = record with
                {
                    Status = JobStatuses.Failed,
                    ErrorMessage = renderEvent.Error ?? "The prompt failed on the render node.",
                    ErrorType = renderEvent.ErrorType ?? "execution_error",
                    CurrentStep = renderEvent.NodeClass ?? record.CurrentStep,
                    CompletedAt = renderEvent.At,
                };
                return Changed(failed, sent, JobEvents.Failed(failed));
            case RenderEventKinds.Interrupted when job.State.CancelRequested || AskedForByUs(renderEvent):
                // A cancel or timeout asked for the interrupt and its own change has not landed yet.
                if (IsTimedOut(record, renderEvent.At))
                {
                    var timedOut = Timeout(job, renderEvent.At);
                    return Changed(timedOut.Record, sent, [.. timedOut.Events]);
                }

                var cancelled = Cancelled(record, renderEvent.At);
                return Changed(cancelled, sent with { CancelRequested = true }, JobEvents.Cancelled(cancelled));
            case RenderEventKinds.Interrupted:
                // Not asked for by us: someone interrupted it on the node itself.
                var interrupted = record with
                {
                    Status = JobStatuses.Failed,
                    ErrorMessage = renderEvent.Error ?? "Interrupted on the render node.",
                    ErrorType = "interrupted",
                    CompletedAt = renderEvent.At,
                };
                return Changed(interrupted, sent, JobEvents.Failed(interrupted));
            default:
                return RenderDecision.Ignore;
        }
    }

    /// <summary>BackendService reports an interrupt it did because of a cancel request (only JobService asks for
    /// those) as "cancelled" or "cancelled before it started".</summary>
    private static bool AskedForByUs(RenderEvent renderEvent) =>
        renderEvent.Error?.StartsWith("cancelled", StringComparison.Ordinal) == true;

    private static RenderDecision OnProgress(JobRecord record, JobEngineState sent, RenderEvent renderEvent)
    {
        var starts = record.Status == JobStatuses.Queued;
        var percent = Math.Clamp(renderEvent.Percent ?? record.Progress, 0, 100);
        if (!starts && (percent < record.Progress
            || (percent == record.Progress && renderEvent.NodeClass == record.CurrentStep
                && renderEvent.StepsDone == record.StepsCompleted && renderEvent.StepsTotal == record.StepsTotal)))
        {
            return RenderDecision.Ignore;
        }

        // A progress event whose "started" was lost starts the job.
        var progressed = record with
        {
            Status = JobStatuses.Running,
            StartedAt = record.StartedAt ?? renderEvent.At,
            Progress = percent,
            CurrentStep = renderEvent.NodeClass ?? record.CurrentStep,
            StepsCompleted = renderEvent.StepsDone,
            StepsTotal = renderEvent.StepsTotal,
        };
        return starts
            ? Changed(progressed, sent, JobEvents.Started(progressed), JobEvents.Progress(progressed))
            : Changed(progressed, sent, JobEvents.Progress(progressed));
    }

    public static JobRecord Cancelled(JobRecord record, DateTimeOffset at) => record with
    {
        Status = JobStatuses.Cancelled,
        ErrorMessage = "Cancelled.",
        ErrorType = JobErrorTypes.Cancelled,
        CompletedAt = at,
    };

    public static JobChange Cancel(StoredJob job, DateTimeOffset now)
    {
        var cancelled = Cancelled(job.Record, now);
        return new JobChange(cancelled, job.State with { CancelRequested = true }) { Events = [JobEvents.Cancelled(cancelled)] };
    }

    /// <summary>A person's decision on a job awaiting approval: approved completes it (<c>job_completed</c>, as if it
    /// had needed none), rejected ends it <c>rejected</c>. Null when it is not awaiting approval (decided once).</summary>
    public static JobChange? Decide(StoredJob job, ApprovalDecision decision, DateTimeOffset now)
    {
        if (job.Record.Status != JobStatuses.AwaitingApproval)
        {
            return null;
        }

        var approved = decision.Decision == ApprovalDecisions.Approved;
        var decided = job.Record with
        {
            Status = approved ? JobStatuses.Completed : JobStatuses.Rejected,
            ErrorMessage = approved ? null : "Rejected at approval" + (decision.Comment is { Length: > 0 } comment ? ": " + comment : "."),
            ErrorType = approved ? null : JobErrorTypes.Rejected,
        };
        return new JobChange(decided, job.State) { Events = [JobEvents.Decided(decided, decision, now)] };
    }

    public static JobChange Timeout(StoredJob job, DateTimeOffset now)
    {
        var timedOut = job.Record with
        {
            Status = JobStatuses.Timeout,
            ErrorMessage = $"Timed out after {job.Record.TimeoutSeconds} s of running.",
            ErrorType = JobErrorTypes.Timeout,
            CompletedAt = now,
        };
        return new JobChange(timedOut, job.State) { Events = [JobEvents.Timeout(timedOut)] };
    }

    /// <summary>True when a running job has run longer than its <c>timeout_seconds</c> (time waiting in a queue does not count).</summary>
    public static bool IsTimedOut(JobRecord record, DateTimeOffset now) =>
        record is { Status: JobStatuses.Running, StartedAt: { } started } && now - started >= TimeSpan.FromSeconds(record.TimeoutSeconds);

    public static JobChange Fail(StoredJob job, string errorType, string message, DateTimeOffset now)
    {
        var failed = job.Record with { Status = JobStatuses.Failed, ErrorType = errorType, ErrorMessage = message, CompletedAt = now };
        return new JobChange(failed, job.State) { Events = [JobEvents.Failed(failed)] };
    }

    /// <summary>Moves a job whose backend is lost or unusable to <paramref name="toBackendId"/> (queued again, keeping
    /// its place in the queue, with a new prompt id at dispatch); fails it with <c>no_backend_left</c> when there is no
    /// backend to go to or it has moved <paramref name="maxReassignments"/> times already.</summary>
    public static JobChange Move(StoredJob job, string? toBackendId, string reason, string? lostError, int maxReassignments, DateTimeOffset now)
    {
        var record = job.Record;
        var from = record.BackendId ?? job.State.Target;
        if (toBackendId is null || job.State.Reassignments >= maxReassignments)
        {
            var tried = record.Attempts.Count == 0 ? from ?? "none" : string.Join(", ", record.Attempts);
            var why = lostError ?? $"Backend {from} cannot run it ({reason}).";
            return Fail(job, JobErrorTypes.NoBackendLeft, $"{why} No other backend is left to run it (tried: {tried}).", now);
        }

        var attempt = job.State.Reassignments + 2;
        var moved = record with
        {
            Status = JobStatuses.Queued,
            BackendId = toBackendId,
            PromptId = null,
            Progress = 0,
            CurrentStep = null,
            StepsCompleted = null,
            StepsTotal = null,
            StartedAt = null,
        };
        var state = job.State with
        {
            Target = toBackendId,
            Dispatch = DispatchStates.None,
            DispatchedAt = null,
            Reassignments = job.State.Reassignments + 1,
        };
        return new JobChange(moved, state) { Events = [JobEvents.Reassigned(record.JobId, from, toBackendId, attempt, reason)] };
    }

    private static RenderDecision Changed(JobRecord record, JobEngineState state, params JobEventDraft[] events) =>
        new(new JobChange(record, state) { Events = events }, false);
}
