using System.Diagnostics;
using DirectorsConsole.JobService.Model;
using DirectorsConsole.ServiceDefaults.Backends;
using DirectorsConsole.Contracts;
using DirectorsConsole.Messaging;
using Microsoft.Extensions.Options;

namespace DirectorsConsole.JobService.Engine;

/// <summary>
/// Moves jobs from the orchestrator's queues to BackendService, in queue order (priority, then first-in first-out), only
/// while the chosen backend has a free slot by this suite's own count (<see cref="JobKeys.Assigned"/>): its
/// <c>max_concurrent_jobs</c> running prompts and its prefetch waiting in the node's own queue
/// (<see cref="BackendLoad.Limit"/>). Each prompt carries its place in the queue as ComfyUI's <c>number</c>, so a
/// higher-priority prompt posted later overtakes lower-priority ones waiting in the node's queue.
/// A dispatch is recorded (slot, new prompt id, state <c>pending</c>) before the command is enqueued and confirmed
/// after; a dispatch left pending by a replica that died is enqueued again with the same prompt id, which
/// BackendService recognises, so one attempt never runs twice.
/// </summary>
public sealed class JobScheduler(
    JobStore store,
    JobStateMachine machine,
    BackendDirectory directory,
    IDurableQueue queue,
    IOptions<JobEngineOptions> options,
    TimeProvider timeProvider,
    ILogger<JobScheduler> logger)
{
    // When the last pass found no backend able to take a job. Only the scheduler's loop runs passes, one at a time.
    private DateTimeOffset _lastPassWithoutBackends = DateTimeOffset.MinValue;

    public async Task<List<BackendLoad>> LoadBackendsAsync(CancellationToken cancellationToken)
    {
        var entries = await directory.ListAsync(cancellationToken);
        var counts = await Task.WhenAll(entries.Select(e => store.CountSlotsAsync(e.Definition.Id, cancellationToken)));
        return entries.Select((entry, i) => new BackendLoad(entry, counts[i], options.Value.DefaultPrefetch)).ToList();
    }

    /// <summary>
    /// One pass; returns how many jobs were dispatched. It looks at the head of the queue of every backend with a free
    /// slot, of every backend that cannot run jobs now (offline, disabled or removed: its jobs may move, fail or, with an
    /// affinity only, run elsewhere) and of the queue of jobs for any backend, up to
    /// <see cref="JobEngineOptions.SchedulerScanLimit"/> each, and decides them in queue order across all of them. A busy
    /// backend's queue is not read: none of its jobs can start. So a free node never waits behind jobs that cannot run on
    /// it, and a job that can run somewhere still never starts before an earlier one that could run there too.
    /// </summary>
    public async Task<int> RunPassAsync(CancellationToken cancellationToken)
    {
        var settings = options.Value;
        var backends = await LoadBackendsAsync(cancellationToken);
        if (!backends.Any(Usable))
        {
            // With no backend able to take a job, a pass can only fail jobs that waited out the offline grace (or move
            // them nowhere), and a wake-up (a submit, a slot freed) changes nothing about that: the queues are then read
            // at most once per SchedulerInterval, not at every submit (up to SchedulerScanLimit whole jobs each time).
            var now = timeProvider.GetUtcNow();
            if (now - _lastPassWithoutBackends < settings.SchedulerInterval)
            {
                return 0;
            }

            _lastPassWithoutBackends = now;
        }

        var queues = await QueuesToReadAsync(backends, cancellationToken);
        var found = await Task.WhenAll(queues.Select(async queue => (Queue: queue, Ids: await store.QueuedJobIdsAsync(queue, settings.SchedulerScanLimit, cancellationToken))));
        var queueOf = new Dictionary<string, JobQueue>(StringComparer.Ordinal);
        foreach (var (queue, ids) in found)
        {
            foreach (var id in ids)
            {
                queueOf.TryAdd(id, queue);
            }
        }

        if (queueOf.Count == 0)
        {
            return 0;
        }

        var candidates = new List<StoredJob>(queueOf.Count);
        var jobs = await Task.WhenAll(queueOf.Keys.Select(id => store.GetJobAsync(id, cancellationToken)));
        foreach (var (id, job) in queueOf.Keys.Zip(jobs))
        {
            if (job is null || JobStatuses.IsFinal(job.Record.Status))
            {
                // Left behind by a cleanup or a crash between writes; the job will not wait again.
                await store.RemoveFromQueueAsync(queueOf[id], id, cancellationToken);
            }
            else if (JobEngineState.InQueue(job.Record, job.State))
            {
                candidates.Add(job);
            }
        }

        var dispatched = 0;
        foreach (var job in candidates.OrderBy(j => j.State.QueueScore))
        {
            var jobId = job.Record.JobId;
            var now = timeProvider.GetUtcNow();
            switch (SchedulingPolicy.Decide(job, backends, now, settings.OfflineBackendGrace))
            {
                case DispatchTo to:
                    var index = backends.IndexOf(to.Backend);
                    var result = await DispatchAsync(jobId, to.Backend, cancellationToken);
                    backends[index] = to.Backend with
                    {
                        Assigned = result == ChangeOutcome.Applied ? to.Backend.Assigned + 1 : await store.CountSlotsAsync(to.Backend.Id, cancellationToken),
                    };
                    dispatched += result == ChangeOutcome.Applied ? 1 : 0;
                    break;
                case MoveTo move:
                    await machine.ChangeAsync(jobId, j => JobEngineState.InQueue(j.Record, j.State)
                        ? JobRules.Move(j, move.ToBackendId, move.Reason, null, settings.MaxReassignments, now)
                        : null, cancellationToken);
                    logger.LogInformation("Job {JobId} cannot run on {BackendId} ({Reason}); moved to {Target}",
                        jobId, job.State.Target, move.Reason, move.ToBackendId ?? "nowhere (failed)");
                    break;
                case FailWith fail:
                    await machine.ChangeAsync(jobId, j => JobEngineState.InQueue(j.Record, j.State)
                        ? JobRules.Fail(j, fail.ErrorType, fail.Message, now)
                        : null, cancellationToken);
                    logger.LogWarning("Job {JobId} failed before dispatch: {Message}", jobId, fail.Message);
                    break;
            }
        }

        return dispatched;
    }

    private static bool Usable(BackendLoad backend) => backend.Entry.Definition.Enabled && backend.Entry.Online;

    /// <summary>The queues whose heads a pass decides: every backend's that has a free slot or cannot run jobs now, and
    /// the queue for any backend while some backend has a free slot (or none can run jobs, so that jobs nothing can run
    /// fail after the grace).</summary>
    private async Task<List<JobQueue>> QueuesToReadAsync(IReadOnlyList<BackendLoad> backends, CancellationToken cancellationToken)
    {
        var queues = new List<JobQueue>();
        if (backends.Any(b => Usable(b) && b.HasFreeSlot) || !backends.Any(Usable))
        {
            queues.Add(JobQueue.AnyBackend);
        }

        var byId = backends.ToDictionary(b => b.Id, StringComparer.Ordinal);
        foreach (var backendId in backends.Select(b => b.Id).Union(await store.QueuedBackendsAsync(cancellationToken), StringComparer.Ordinal))
        {
            if (!byId.TryGetValue(backendId, out var backend) || !Usable(backend) || backend.HasFreeSlot)
            {
                queues.Add(JobQueue.ForBackend(backendId));
            }
        }

        return queues;
    }

    /// <summary>Enqueues again, with the same prompt id, every dispatch recorded longer ago than
    /// <paramref name="olderThan"/> and not confirmed: periodically <see cref="JobEngineOptions.DispatchRecoveryAfter"/>,
    /// and every one at once when this replica takes over from another scheduler.</summary>
    public async Task RecoverDispatchesAsync(TimeSpan olderThan, CancellationToken cancellationToken)
    {
        var before = timeProvider.GetUtcNow() - olderThan;
        foreach (var jobId in await store.StaleDispatchesAsync(before, 100, cancellationToken))
        {
            var job = await store.GetJobAsync(jobId, cancellationToken);
            if (job is null || JobStatuses.IsFinal(job.Record.Status) || job.State.Dispatch != DispatchStates.Pending)
            {
                await store.ForgetDispatchAsync(jobId, cancellationToken);
                continue;
            }

            logger.LogWarning("The dispatch of job {JobId} (prompt {PromptId} on {BackendId}) was never confirmed; enqueueing it again",
                jobId, job.Record.PromptId, job.Record.BackendId);
            await SendAsync(job, cancellationToken);
        }
    }

    private async Task<ChangeOutcome> DispatchAsync(string jobId, BackendLoad backend, CancellationToken cancellationToken)
    {
        var now = timeProvider.GetUtcNow();
        var promptId = Guid.NewGuid().ToString();
        var claimed = await machine.ChangeAsync(jobId, job => JobEngineState.InQueue(job.Record, job.State)
            ? new JobChange(
                job.Record with { BackendId = backend.Id, PromptId = promptId, Attempts = [.. job.Record.Attempts, backend.Id] },
                job.State with { Dispatch = DispatchStates.Pending, DispatchedAt = now })
            {
                SlotLimit = backend.Limit,
            }
            : null, cancellationToken);
        if (claimed.Outcome != ChangeOutcome.Applied)
        {
            return claimed.Outcome;
        }

        await SendAsync(claimed.Job!, cancellationToken);
        logger.LogInformation("Dispatched job {JobId} to backend {BackendId} as prompt {PromptId}", jobId, backend.Id, promptId);
        return ChangeOutcome.Applied;
    }

    private async Task SendAsync(StoredJob job, CancellationToken cancellationToken)
    {
        var record = job.Record;
        // The pass runs outside any request: without the submission's context the command would start a trace of its own.
        using var activity = JobTelemetry.Source.StartActivity(
            "dispatch job", ActivityKind.Internal, TraceContext.Parse(job.State.TraceParent, job.State.TraceState));
        activity?.SetTag("job.id", record.JobId);
        activity?.SetTag("job.group_id", record.GroupId);
        activity?.SetTag("job.backend_id", record.BackendId);
        activity?.SetTag("job.prompt_id", record.PromptId);
        var command = new RunPromptCommand(record.PromptId!, record.JobId, record.BackendId, record.Prompt, job.State.DispatchedAt ?? timeProvider.GetUtcNow())
        {
            Workflow = record.Workflow,
            Seed = record.Seed,
            SeedNodes = record.SeedNodes,
            RequiredCapabilities = record.RequiredCapabilities,
            // The node's queue is a heap on this number: the job's place in the suite's queue (priority, then order).
            Priority = job.State.QueueScore,
        };
        // Straight to the chosen backend's queue, which only the replica holding its lease reads. Keyed by the prompt
        // id, one per dispatch attempt: sent again after a lost reply, or by the recovery of an unconfirmed dispatch, it
        // adds no second command.
        await queue.EnqueueAsync(RenderChannels.BackendQueue(record.BackendId!), command, record.PromptId!, cancellationToken);
        await machine.ChangeAsync(record.JobId, j => j.State.Dispatch == DispatchStates.Pending && j.Record.PromptId == record.PromptId && !JobStatuses.IsFinal(j.Record.Status)
            ? new JobChange(j.Record, j.State with { Dispatch = DispatchStates.Sent })
            : null, cancellationToken);
    }
}
