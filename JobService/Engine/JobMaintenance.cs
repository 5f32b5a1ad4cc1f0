using DirectorsConsole.JobService.Model;
using Microsoft.Extensions.Options;

namespace DirectorsConsole.JobService.Engine;

/// <summary>Timeouts of running jobs, group cancels left half-done, the sweep of the queued jobs and the retention
/// cleanup of ended jobs and groups.</summary>
public sealed class JobMaintenance(
    JobStore store,
    JobStateMachine machine,
    JobEngine engine,
    RenderCancellation cancellation,
    RenderEventApplier applier,
    JobScheduler scheduler,
    IOptions<JobEngineOptions> options,
    TimeProvider timeProvider,
    ILogger<JobMaintenance> logger)
{
    /// <summary>Ends every job that has run longer than its <c>timeout_seconds</c> (time in a queue does not count):
    /// its prompt is cancelled on the node (queue delete + targeted interrupt) and the job becomes <c>timeout</c>.</summary>
    public async Task CheckTimeoutsAsync(CancellationToken cancellationToken)
    {
        var running = await store.JobIdsAsync(JobStatuses.Running, 0, 10_000, cancellationToken);
        foreach (var job in await store.GetJobsAsync(running, cancellationToken))
        {
            var now = timeProvider.GetUtcNow();
            if (!JobRules.IsTimedOut(job.Record, now))
            {
                continue;
            }

            // Cancel first: the interrupt that follows is then recognised as ours, whichever lands first.
            if (job.Record.PromptId is { } promptId)
            {
                await cancellation.RequestAsync(promptId, job.Record.BackendId, cancellationToken);
            }

            var result = await machine.ChangeAsync(job.Record.JobId,
                j => JobRules.IsTimedOut(j.Record, now) ? JobRules.Timeout(j, now) : null, cancellationToken);
            if (result.Outcome == ChangeOutcome.Applied)
            {
                logger.LogInformation("Job {JobId} timed out after {Seconds} s on backend {BackendId}",
                    job.Record.JobId, job.Record.TimeoutSeconds, job.Record.BackendId);
            }
        }
    }

    /// <summary>Finishes the cancel of every group marked cancelled whose <c>group_complete</c> is missing (its replica
    /// died part-way, or a child was still ending): children left are cancelled and the group settled.</summary>
    public async Task FinishCancelledGroupsAsync(CancellationToken cancellationToken)
    {
        foreach (var groupId in await store.CancellingGroupsAsync(cancellationToken))
        {
            if (await engine.CancelGroupAsync(groupId, cancellationToken) is { } result)
            {
                logger.LogDebug("Finished the cancel of job group {GroupId} ({Interrupted} children stopped now)", groupId, result.Interrupted);
            }
        }
    }

    /// <summary>How many queued jobs one sweep looks at.</summary>
    public const int QueuedSweepPage = 500;

    private int _queuedSweepOffset;

    /// <summary>The safety net under the queues and the reconcile: each call looks at the next page of queued jobs
    /// (<see cref="QueuedSweepPage"/>, from the oldest, round and round). A queued job that sits in no queue would wait
    /// for ever: it is put back in its queue. That happens when Redis died before persisting the last writes of a
    /// change, or for jobs queued by an older version under another key. A job sent to a backend that never took it is
    /// reconciled (<see cref="RenderEventApplier.ReconcileJobAsync"/>): the reconcile finds such jobs by their
    /// backend's slots, but not when the backend was deleted from the registry before it took the job.</summary>
    public async Task SweepQueuedAsync(CancellationToken cancellationToken)
    {
        var page = await store.JobIdsAsync(JobStatuses.Queued, _queuedSweepOffset, QueuedSweepPage, cancellationToken);
        _queuedSweepOffset = page.Count < QueuedSweepPage ? 0 : _queuedSweepOffset + page.Count;
        IReadOnlyList<BackendLoad>? backends = null;
        foreach (var job in await store.GetJobsAsync(page, cancellationToken))
        {
            if (JobEngineState.InQueue(job.Record, job.State))
            {
                if (await store.RequeueIfStrandedAsync(job, cancellationToken))
                {
                    logger.LogWarning("Job {JobId} was queued but in no queue; it was put back in its queue", job.Record.JobId);
                }
            }
            else if (job.Record.PromptId is not null)
            {
                backends ??= await scheduler.LoadBackendsAsync(cancellationToken);
                await applier.ReconcileJobAsync(job, backends, cancellationToken);
            }
        }
    }

    /// <summary>Removes single jobs and groups that ended longer than <see cref="JobEngineOptions.Retention"/> ago.</summary>
    public async Task CleanupAsync(CancellationToken cancellationToken)
    {
        var before = timeProvider.GetUtcNow() - options.Value.Retention;
        var removed = 0;
        foreach (var jobId in await store.FinishedJobsBeforeAsync(before, 1000, cancellationToken))
        {
            if (await store.GetJobAsync(jobId, cancellationToken) is { } job)
            {
                await store.DeleteJobAsync(job, cancellationToken);
            }
            else
            {
                await store.ForgetFinishedJobAsync(jobId, cancellationToken);
            }

            removed++;
        }

        foreach (var groupId in await store.FinishedGroupsBeforeAsync(before, 200, cancellationToken))
        {
            if (await store.GetGroupAsync(groupId, cancellationToken) is { } group)
            {
                await store.DeleteGroupAsync(group, cancellationToken);
            }
            else
            {
                await store.ForgetFinishedGroupAsync(groupId, cancellationToken);
            }

            removed++;
        }

        if (removed > 0)
        {
            logger.LogInformation("Removed {Count} jobs and groups that ended more than {Retention} ago", removed, options.Value.Retention);
        }
    }
}
