using System.Security.Cryptography;
using DirectorsConsole.JobService.Model;
using DirectorsConsole.Messaging;
using Microsoft.Extensions.Options;

namespace DirectorsConsole.JobService.Engine;

/// <summary>
/// <see cref="IJobEngine"/> over Redis: submits store the job (or the group and its children) and queue it in one
/// script; reads go to Redis; cancels ask BackendService to stop the prompt (queue delete + targeted interrupt) and
/// end the job <c>cancelled</c> at once. Scheduling, render events and timeouts are the <see cref="JobEngineWorker"/>'s.
/// </summary>
public sealed class JobEngine(
    JobStore store,
    JobStateMachine machine,
    RenderCancellation cancellation,
    IOptions<JobEngineOptions> options,
    TimeProvider timeProvider,
    ILogger<JobEngine> logger) : IJobEngine
{
    /// <summary>Children of a group that one script cancels (and prompts asked to stop at once).</summary>
    private const int CancelBatchSize = 64;

    public async Task<JobRecord> SubmitJobAsync(JobSubmission submission, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(submission);
        ArgumentOutOfRangeException.ThrowIfLessThan(submission.TimeoutSeconds, 1);
        var now = timeProvider.GetUtcNow();
        var record = new JobRecord(Guid.NewGuid().ToString(), JobStatuses.Queued, now)
        {
            WorkflowId = submission.WorkflowId,
            Parameters = submission.Parameters,
            IgnoredParameters = submission.IgnoredParameters,
            Metadata = submission.Metadata,
            BackendAffinity = submission.BackendAffinity,
            WebhookUrl = submission.WebhookUrl,
            RequiresApproval = submission.RequiresApproval,
            RequiredCapabilities = submission.RequiredCapabilities,
            Priority = submission.Priority,
            TimeoutSeconds = submission.TimeoutSeconds,
            Seed = submission.Seed,
            SeedNodes = submission.SeedNodes,
            QueuedAt = now,
        };
        var (traceParent, traceState) = TraceContext.Capture(null);
        // Its place in the queue is taken with the batch it is stored in.
        var state = new JobEngineState { TraceParent = traceParent, TraceState = traceState };
        await machine.CreateJobAsync(record, new JobPrompt(submission.Prompt, submission.Workflow), state, cancellationToken);
        // Debug: one line per submit would cost more than the submit itself at a few thousand a second.
        logger.LogDebug("Queued job {JobId} (priority {Priority})", record.JobId, record.Priority);
        return record;
    }

    public async Task<JobGroupView> SubmitGroupAsync(JobGroupSubmission submission, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(submission);
        ArgumentOutOfRangeException.ThrowIfZero(submission.BackendIds.Count);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(submission.BackendIds.Count, options.Value.MaxGroupChildren);
        ArgumentOutOfRangeException.ThrowIfLessThan(submission.TimeoutSeconds, 1);
        if (submission.Seeds.Count != submission.BackendIds.Count)
        {
            throw new ArgumentException($"A group needs one seed per backend ({submission.BackendIds.Count}), not {submission.Seeds.Count}.", nameof(submission));
        }

        var now = timeProvider.GetUtcNow();
        var groupId = NewId("jg_");
        var preferred = submission.BackendIds.Distinct(StringComparer.Ordinal).ToList();
        var children = new List<(JobRecord Record, JobEngineState State)>(submission.BackendIds.Count);
        var (traceParent, traceState) = TraceContext.Capture(null);
        for (var i = 0; i < submission.BackendIds.Count; i++)
        {
            var backendId = submission.BackendIds[i];
            var record = new JobRecord(NewId("j_"), JobStatuses.Queued, now)
            {
                GroupId = groupId,
                WorkflowId = submission.WorkflowId,
                Parameters = submission.Parameters,
                IgnoredParameters = submission.IgnoredParameters,
                Metadata = submission.Metadata,
                BackendId = backendId,
                WebhookUrl = submission.WebhookUrl,
                RequiresApproval = submission.RequiresApproval,
                PreferredBackendIds = preferred,
                RequiredCapabilities = submission.RequiredCapabilities,
                TimeoutSeconds = submission.TimeoutSeconds,
                Seed = submission.Seeds[i],
                SeedNodes = submission.SeedNodes,
                QueuedAt = now,
            };
            // Their places in the queue are taken with the batch the group is stored in.
            children.Add((record, new JobEngineState { Target = backendId, TraceParent = traceParent, TraceState = traceState }));
        }

        var group = new JobGroupRecord(groupId, JobGroupStatuses.Running, now)
        {
            ChildJobIds = children.Select(c => c.Record.JobId).ToList(),
            BackendIds = submission.BackendIds,
            SeedStrategy = submission.SeedStrategy,
            BaseSeed = submission.BaseSeed,
            Metadata = submission.Metadata,
            TimeoutSeconds = submission.TimeoutSeconds,
            RequiredCapabilities = submission.RequiredCapabilities,
            WebhookUrl = submission.WebhookUrl,
            RequiresApproval = submission.RequiresApproval,
        };
        await machine.CreateGroupAsync(group, new JobPrompt(submission.Prompt, submission.Workflow), children, cancellationToken);
        logger.LogInformation("Queued job group {GroupId} with {Count} children on {Backends}", groupId, children.Count, string.Join(", ", submission.BackendIds));
        return new JobGroupView(group, children.Select(c => c.Record).ToList());
    }

    public async Task<JobRecord?> GetJobAsync(string jobId, CancellationToken cancellationToken) =>
        (await store.GetJobAsync(jobId, cancellationToken))?.Record;

    public async Task<JobPage> ListJobsAsync(string? status, int offset, int limit, CancellationToken cancellationToken)
    {
        var ids = await store.JobIdsNewestFirstAsync(status, Math.Max(0, offset), limit, cancellationToken);
        var jobs = await store.GetJobsAsync(ids, cancellationToken);
        return new JobPage(jobs.Select(j => j.Record).ToList(), await store.CountJobsAsync(status, cancellationToken), offset, limit);
    }

    public async Task<JobGroupView?> GetGroupAsync(string groupId, CancellationToken cancellationToken)
    {
        var group = await store.GetGroupAsync(groupId, cancellationToken);
        return group is null ? null : await ViewAsync(group, cancellationToken);
    }

    public async Task<IReadOnlyList<JobGroupView>> ListGroupsAsync(int offset, int limit, CancellationToken cancellationToken)
    {
        var ids = await store.GroupIdsNewestFirstAsync(Math.Max(0, offset), limit, cancellationToken);
        var groups = await Task.WhenAll(ids.Select(id => GetGroupAsync(id, cancellationToken)));
        return groups.OfType<JobGroupView>().ToList();
    }

    public Task<JobRecord?> CancelJobAsync(string jobId, CancellationToken cancellationToken) =>
        CancelJobAsync(jobId, defersGroupOutcome: false, cancellationToken);

    /// <summary>Cancels every child that has not ended in batches of one script each: children that were dispatched
    /// get a targeted cancel on their node first, then each batch's children end (and leave their queue) together.
    /// The children's changes leave the group alone, and the group is settled once at the end (one
    /// <c>group_complete</c>); a cancel left half-done by a replica that died is finished by the scheduler's replica
    /// (<see cref="JobMaintenance.FinishCancelledGroupsAsync"/>).</summary>
    public async Task<JobGroupCancelResult?> CancelGroupAsync(string groupId, CancellationToken cancellationToken)
    {
        var group = await machine.MarkGroupCancelledAsync(groupId, cancellationToken);
        if (group is null)
        {
            return null;
        }

        var cancelling = group.Record.Status == JobGroupStatuses.Cancelled;
        var children = await store.GetJobsAsync(group.Record.ChildJobIds, cancellationToken);
        var outcomes = children.Select(c => (Before: c.Record.Status, After: c.Record.Status)).ToArray();
        if (cancelling)
        {
            // Prompts asked to stop before their jobs are marked cancelled: a child dispatched after this read has a
            // prompt id not asked for, and is cancelled on its own below.
            var requested = children.Where(c => !JobStatuses.IsFinal(c.Record.Status) && c.Record.PromptId is not null).ToList();
            foreach (var batch in requested.Chunk(CancelBatchSize))
            {
                await Task.WhenAll(batch.Select(c => cancellation.RequestAsync(c.Record.PromptId!, c.Record.BackendId, cancellationToken)));
            }

            var asked = requested.Select(c => c.Record.PromptId!).ToHashSet(StringComparer.Ordinal);
            var now = timeProvider.GetUtcNow();
            var open = children.Select((child, index) => (child, index)).Where(c => !JobStatuses.IsFinal(c.child.Record.Status)).ToList();
            foreach (var batch in open.Chunk(CancelBatchSize))
            {
                var results = await machine.ChangeManyAsync(batch.Select(c => c.child).ToList(), j =>
                    JobStatuses.IsFinal(j.Record.Status) || (j.Record.PromptId is { } current && !asked.Contains(current))
                        ? null
                        : JobRules.Cancel(j, now) with { DefersGroupOutcome = true }, cancellationToken);
                for (var i = 0; i < batch.Length; i++)
                {
                    var after = results[i].Job?.Record.Status;
                    if (after is null || !JobStatuses.IsFinal(after))
                    {
                        after = (await CancelJobAsync(batch[i].child.Record.JobId, defersGroupOutcome: true, cancellationToken))?.Status;
                    }

                    outcomes[batch[i].index].After = after ?? outcomes[batch[i].index].Before;
                }
            }

            await machine.SettleGroupAsync(groupId, cancellationToken);
        }

        var interrupted = 0;
        var alreadyComplete = 0;
        var alreadyFailed = 0;
        foreach (var (before, after) in outcomes)
        {
            if (!JobStatuses.IsFinal(before) && after == JobStatuses.Cancelled)
            {
                interrupted++;
            }
            else if (after == JobStatuses.Completed)
            {
                alreadyComplete++;
            }
            else if (JobStatuses.IsFinal(after))
            {
                alreadyFailed++;
            }
        }

        logger.LogInformation("Cancel of job group {GroupId}: {Interrupted} stopped, {Complete} had completed, {Failed} had failed",
            groupId, interrupted, alreadyComplete, alreadyFailed);
        return new JobGroupCancelResult(cancelling, interrupted, alreadyComplete, alreadyFailed);
    }

    private async Task<JobRecord?> CancelJobAsync(string jobId, bool defersGroupOutcome, CancellationToken cancellationToken)
    {
        // Every prompt id the job has had while this runs is asked to stop before the job is marked cancelled, so a
        // dispatch that lands in between is stopped too.
        var requested = new HashSet<string>(StringComparer.Ordinal);
        while (true)
        {
            var job = await store.GetJobAsync(jobId, cancellationToken);
            if (job is null || JobStatuses.IsFinal(job.Record.Status))
            {
                return job?.Record;
            }

            if (job.Record.PromptId is { } promptId && requested.Add(promptId))
            {
                await cancellation.RequestAsync(promptId, job.Record.BackendId, cancellationToken);
            }

            var now = timeProvider.GetUtcNow();
            var result = await machine.ChangeAsync(jobId, j =>
                JobStatuses.IsFinal(j.Record.Status) || (j.Record.PromptId is { } current && !requested.Contains(current))
                    ? null
                    : JobRules.Cancel(j, now) with { DefersGroupOutcome = defersGroupOutcome }, cancellationToken);
            switch (result.Outcome)
            {
                case ChangeOutcome.Applied:
                    // A group's cancel logs once for all its children.
                    logger.Log(defersGroupOutcome ? LogLevel.Debug : LogLevel.Information, "Cancelled job {JobId} (prompt {PromptId})", jobId, job.Record.PromptId);
                    return result.Job!.Record;
                case ChangeOutcome.NotFound:
                    return null;
                default:
                    if (JobStatuses.IsFinal(result.Job!.Record.Status))
                    {
                        return result.Job.Record;
                    }

                    break;
            }
        }
    }

    private async Task<JobGroupView> ViewAsync(StoredGroup group, CancellationToken cancellationToken)
    {
        var children = await store.GetJobsAsync(group.Record.ChildJobIds, cancellationToken);
        return new JobGroupView(group.Record, children.Select(c => c.Record).ToList());
    }

    private static string NewId(string prefix) => prefix + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6));
}
