using DirectorsConsole.JobService.Model;
using DirectorsConsole.Contracts;
using Microsoft.Extensions.Options;

namespace DirectorsConsole.JobService.Engine;

/// <summary>
/// Applies BackendService's render events to jobs: from pub/sub as they happen, and from the prompt state hashes
/// (<see cref="PromptStateReader"/>) when reconciling, which repairs whatever pub/sub lost while a replica
/// was down or reconnecting. Every replica may apply the same event; the versioned change makes it count once. A
/// prompt lost with its backend (<c>backend_lost</c>, <c>backend_unreachable</c>) moves the job to another backend.
/// </summary>
public sealed class RenderEventApplier(
    JobStore store,
    JobStateMachine machine,
    JobScheduler scheduler,
    RenderCancellation cancellation,
    PromptStateReader promptStates,
    IOptions<JobEngineOptions> options,
    TimeProvider timeProvider,
    ILogger<RenderEventApplier> logger)
{
    /// <summary>The job a render event changes; null for one that changes none (a preview, or no job named).</summary>
    public static string? Applies(RenderEvent renderEvent) =>
        renderEvent.Kind == RenderEventKinds.Preview ? null : renderEvent.JobId;

    public Task ApplyAsync(RenderEvent renderEvent, CancellationToken cancellationToken) =>
        ApplyAsync([renderEvent], cancellationToken);

    /// <summary>Applies render events of one job in their order, with one script while nothing else changes the job
    /// meanwhile (<see cref="JobStateMachine.ChangeInTurnAsync"/>): a burst such as started, progress and completed
    /// costs one commit, and each event still counts once and only for the job's current prompt. Returns each applying
    /// event's result, with the job as it is after it (or as found).</summary>
    public async Task<IReadOnlyList<ChangeResult>> ApplyAsync(IReadOnlyList<RenderEvent> renderEvents, CancellationToken cancellationToken)
    {
        var applying = renderEvents.Where(e => Applies(e) is not null).ToList();
        if (applying.Count == 0)
        {
            return [];
        }

        var jobId = applying[0].JobId!;
        if (applying.Any(e => e.JobId != jobId))
        {
            throw new ArgumentException("Render events applied together must be of one job.", nameof(renderEvents));
        }

        var results = await machine.ChangeInTurnAsync(jobId, applying.Select(renderEvent => (Func<StoredJob, Task<JobChange?>>)(async job =>
        {
            var decision = JobRules.OnRenderEvent(job, renderEvent);
            if (!decision.BackendLost)
            {
                return decision.Change;
            }

            var backends = await scheduler.LoadBackendsAsync(cancellationToken);
            var next = SchedulingPolicy.ChooseFailover(job, backends, job.Record.BackendId);
            return JobRules.Move(job, next?.Id, renderEvent.ErrorType!, renderEvent.Error, options.Value.MaxReassignments, timeProvider.GetUtcNow());
        })).ToList(), cancellationToken);

        foreach (var (renderEvent, result) in applying.Zip(results))
        {
            if (result is { Outcome: ChangeOutcome.Applied, Job: { } changed } && changed.Record.PromptId is null && renderEvent.Kind == RenderEventKinds.Failed)
            {
                logger.LogWarning("Job {JobId} lost its backend {BackendId} ({ErrorType}); moved to {Target}",
                    jobId, renderEvent.BackendId, renderEvent.ErrorType, changed.State.Target);
            }
        }

        return results;
    }

    /// <summary>Applies the last known state of the prompt of every job that has not ended. A job sent to a backend
    /// that went offline before taking it (no state at all) and stayed offline past the grace, or that was removed
    /// since, is moved: its prompt is cancelled first, so the command still waiting in BackendService is dropped if
    /// that backend comes back.</summary>
    /// <remarks>
    /// Only a dispatched job has a prompt, and a dispatched job that has not ended holds a slot of its backend
    /// (<see cref="JobEngineState.HoldsSlot"/>, <see cref="JobKeys.Assigned"/>), so the jobs read are those slots, for
    /// every backend the registry or the queues know, and every running job. The jobs waiting in the queues, however
    /// many, are not read: a reconcile that read every queued job took longer than its interval once tens of
    /// thousands waited, and held the scheduler's loop, which runs it, for all that time. The one job this misses, one
    /// sent to a backend deleted from the registry before it took the job (a slot no known backend names), is found by
    /// the sweep of the queued jobs (<see cref="JobMaintenance.SweepQueuedAsync"/>), which hands it to
    /// <see cref="ReconcileJobAsync"/>.
    /// </remarks>
    public async Task ReconcileAsync(CancellationToken cancellationToken)
    {
        var backends = await scheduler.LoadBackendsAsync(cancellationToken);
        var backendIds = backends.Select(b => b.Id).Union(await store.QueuedBackendsAsync(cancellationToken), StringComparer.Ordinal).ToList();
        var jobIds = new HashSet<string>(StringComparer.Ordinal);
        foreach (var slots in await Task.WhenAll(backendIds.Select(id => store.AssignedJobIdsAsync(id, cancellationToken))))
        {
            jobIds.UnionWith(slots);
        }

        const int page = 200;
        for (var offset = 0; ; offset += page)
        {
            var running = await store.JobIdsAsync(JobStatuses.Running, offset, page, cancellationToken);
            jobIds.UnionWith(running);
            if (running.Count < page)
            {
                break;
            }
        }

        foreach (var chunk in jobIds.Chunk(page))
        {
            foreach (var job in await store.GetJobsAsync(chunk, cancellationToken))
            {
                await ReconcileJobAsync(job, backends, cancellationToken);
            }
        }
    }

    /// <summary>Reconciles one job as <see cref="ReconcileAsync"/> does; nothing for a job that is not dispatched.</summary>
    public async Task ReconcileJobAsync(StoredJob job, IReadOnlyList<BackendLoad> backends, CancellationToken cancellationToken)
    {
        if (job.Record.PromptId is not { } promptId || job.State.Dispatch == DispatchStates.None
            || job.Record.Status is not (JobStatuses.Queued or JobStatuses.Running))
        {
            return;
        }

        if (await promptStates.ReadAsync(promptId, cancellationToken) is { } last)
        {
            await ApplyAsync(last, cancellationToken);
        }
        else if (job.State.Dispatch == DispatchStates.Sent && job.Record.Status == JobStatuses.Queued)
        {
            await MoveIfNeverTakenAsync(job, backends, cancellationToken);
        }
    }

    private async Task MoveIfNeverTakenAsync(StoredJob job, IReadOnlyList<BackendLoad> backends, CancellationToken cancellationToken)
    {
        var now = timeProvider.GetUtcNow();
        var grace = options.Value.OfflineBackendGrace;
        var backend = backends.FirstOrDefault(b => b.Id == job.Record.BackendId);
        var offlineSince = backend?.Entry.State?.LastSeen is { } seen && seen > job.State.DispatchedAt ? seen : job.State.DispatchedAt ?? now;
        // A backend deleted after the scheduler chose it may have no worker left to read its queue: no grace for it.
        if (backend is { Entry.Online: true } || (backend is not null && now - offlineSince < grace))
        {
            return;
        }

        var promptId = job.Record.PromptId!;
        await cancellation.RequestAsync(promptId, job.Record.BackendId, cancellationToken);
        var next = SchedulingPolicy.ChooseFailover(job, backends, job.Record.BackendId);
        var (reason, why) = backend is null
            ? ("backend_removed", $"Backend {job.Record.BackendId} was removed before it took the job.")
            : ("backend_offline", $"Backend {job.Record.BackendId} went offline before it took the job.");
        var result = await machine.ChangeAsync(job.Record.JobId, j => j.Record.PromptId == promptId && j.Record.Status == JobStatuses.Queued
            ? JobRules.Move(j, next?.Id, reason, why, options.Value.MaxReassignments, now)
            : null, cancellationToken);
        if (result.Outcome == ChangeOutcome.Applied)
        {
            logger.LogWarning("Job {JobId} was sent to backend {BackendId}, which never took it ({Reason}); moved to {Target}",
                job.Record.JobId, job.Record.BackendId, reason, next?.Id ?? "nowhere (failed)");
        }
    }
}
