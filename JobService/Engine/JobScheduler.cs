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
/// A pass decides its dispatches in memory and makes them with three scripts, however many they are: one change script
/// records them all (slot, new prompt id, state <c>pending</c>; each checked on its own), one enqueue sends every
/// command, one change script confirms them. A dispatch left pending by a replica that died is enqueued again with the
/// same prompt id, which BackendService recognises, so one attempt never runs twice.
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
        return entries.Select((entry, i) => new BackendLoad(entry, counts[i], options.Value.DefaultPrefetch, options.Value.PinnedPrefetch)).ToList();
    }

    /// <summary>
    /// One pass; returns how many jobs were dispatched. It looks at the head of the queue of every backend with a free
    /// slot, of every backend that cannot run jobs now (offline, disabled or removed: its jobs may move, fail or, with an
    /// affinity only, run elsewhere) and of the queue of jobs for any backend, up to
    /// <see cref="JobEngineOptions.SchedulerScanLimit"/> each, and decides them in queue order across all of them. A busy
    /// backend's queue is not read: none of its jobs can start. So a free node never waits behind jobs that cannot run on
    /// it, and a job that can run somewhere still never starts before an earlier one that could run there too. Jobs are
    /// read in that order a chunk at a time, and only while one may still start or move: a pass that fills the free slots
    /// reads about as many jobs as it dispatches, however long the queues.
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
            var passStart = timeProvider.GetUtcNow();
            if (passStart - _lastPassWithoutBackends < settings.SchedulerInterval)
            {
                return 0;
            }

            _lastPassWithoutBackends = passStart;
        }

        var queues = await QueuesToReadAsync(backends, cancellationToken);
        var found = await Task.WhenAll(queues.Select(async queue => (Queue: queue, Jobs: await store.QueuedJobsAsync(queue, settings.SchedulerScanLimit, cancellationToken))));
        // Every job the pass may decide, in queue order across the queues (a queue's score is the job's QueueScore).
        var waiting = found
            .SelectMany(f => f.Jobs.Select(job => (JobId: job.Member, job.Score, f.Queue)))
            .DistinctBy(job => job.JobId, StringComparer.Ordinal)
            .OrderBy(job => job.Score)
            .ToList();
        if (waiting.Count == 0)
        {
            return 0;
        }

        // Decided in memory, in queue order, counting the slots each dispatch takes; then applied with one change
        // script in that order, each change checked on its own (a job that changed meanwhile, or a backend whose slots
        // ran out, refuses only its own). Jobs are read a chunk at a time, and only while they may be decided: once no
        // backend that can run jobs has a slot left, a job in such a backend's queue or in the queue for any backend can
        // only keep waiting, so those are not read (with a backlog, every pass used to read every job at the head of
        // every queue, to dispatch as many as slots had freed). The jobs of backends that cannot run jobs are read all
        // the same: they may move elsewhere, or fail after the grace.
        var now = timeProvider.GetUtcNow();
        var decided = new List<(StoredJob Job, SchedulingDecision Decision, string? PromptId)>();
        var next = 0;
        while (next < waiting.Count)
        {
            // About as many as the slots left (each dispatch takes one), so a pass that frees one slot reads a few jobs.
            var slotsLeft = backends.Where(Usable).Sum(b => Math.Max(0, b.LimitFor(pinned: true) - b.Assigned));
            var size = slotsLeft > 0 ? (int)Math.Clamp(slotsLeft, MinReadChunk, ReadChunk) : ReadChunk;
            var chunk = new List<(string JobId, JobQueue Queue)>(size);
            for (; next < waiting.Count && chunk.Count < size; next++)
            {
                if (slotsLeft > 0 || !WaitsForSlot(waiting[next].Queue, backends))
                {
                    chunk.Add((waiting[next].JobId, waiting[next].Queue));
                }
            }

            var jobs = await Task.WhenAll(chunk.Select(c => store.GetJobAsync(c.JobId, cancellationToken)));
            foreach (var ((jobId, queue), job) in chunk.Zip(jobs))
            {
                if (job is null || JobStatuses.IsFinal(job.Record.Status))
                {
                    // Left behind by a cleanup or a crash between writes; the job will not wait again.
                    await store.RemoveFromQueueAsync(queue, jobId, cancellationToken);
                    continue;
                }

                if (!JobEngineState.InQueue(job.Record, job.State))
                {
                    continue;
                }

                var decision = SchedulingPolicy.Decide(job, backends, now, settings.OfflineBackendGrace);
                if (decision is DispatchTo to)
                {
                    var index = backends.IndexOf(to.Backend);
                    backends[index] = to.Backend with { Assigned = to.Backend.Assigned + 1 };
                }

                if (decision is not KeepWaiting)
                {
                    decided.Add((job, decision, decision is DispatchTo ? Guid.NewGuid().ToString() : null));
                }
            }
        }

        if (decided.Count == 0)
        {
            return 0;
        }

        var byId = decided.ToDictionary(d => d.Job.Record.JobId, StringComparer.Ordinal);
        JobChange? Decide(StoredJob job)
        {
            if (!JobEngineState.InQueue(job.Record, job.State))
            {
                return null;
            }

            var (_, decision, promptId) = byId[job.Record.JobId];
            return decision switch
            {
                DispatchTo to => new JobChange(
                    job.Record with { BackendId = to.Backend.Id, PromptId = promptId, Attempts = [.. job.Record.Attempts, to.Backend.Id] },
                    job.State with { Dispatch = DispatchStates.Pending, DispatchedAt = now })
                {
                    SlotLimit = to.Limit,
                },
                MoveTo move => JobRules.Move(job, move.ToBackendId, move.Reason, null, settings.MaxReassignments, now),
                FailWith fail => JobRules.Fail(job, fail.ErrorType, fail.Message, now),
                _ => null,
            };
        }

        // The prompts of the jobs to dispatch are read while their claims are committed: they never change.
        var prompts = PromptsByJobAsync(decided.Where(d => d.Decision is DispatchTo).Select(d => d.Job).ToList(), cancellationToken);

        // Batches as large as the submits' (many moves or fails at once would otherwise make one long script).
        var results = new List<ChangeResult>(decided.Count);
        foreach (var batch in decided.Chunk(JobCreationBatcher.MaxCommits))
        {
            results.AddRange(await machine.ChangeManyAsync(batch.Select(d => d.Job).ToList(), Decide, cancellationToken));
        }

        var claimed = new List<StoredJob>();
        var full = false;
        for (var i = 0; i < decided.Count; i++)
        {
            var (job, decision, _) = decided[i];
            var jobId = job.Record.JobId;
            switch (decision)
            {
                case DispatchTo when results[i] is { Outcome: ChangeOutcome.Applied, Job: { } dispatched }:
                    claimed.Add(dispatched);
                    break;
                case DispatchTo to when results[i].Outcome == ChangeOutcome.SlotFull:
                    // The pass counted a slot that was not free: the next pass reads the counts again, at once.
                    logger.LogDebug("Job {JobId} stays queued: backend {BackendId} had no free slot left", jobId, to.Backend.Id);
                    full = true;
                    break;
                case MoveTo move:
                    logger.LogInformation("Job {JobId} cannot run on {BackendId} ({Reason}); moved to {Target}",
                        jobId, job.State.Target, move.Reason, move.ToBackendId ?? "nowhere (failed)");
                    break;
                case FailWith fail:
                    logger.LogWarning("Job {JobId} failed before dispatch: {Message}", jobId, fail.Message);
                    break;
            }
        }

        if (claimed.Count > 0)
        {
            foreach (var job in await SendAsync(claimed, await prompts, cancellationToken))
            {
                logger.LogInformation("Dispatched job {JobId} to backend {BackendId} as prompt {PromptId}", job.Record.JobId, job.Record.BackendId, job.Record.PromptId);
            }
        }

        if (full)
        {
            await machine.WakeSchedulerAsync(cancellationToken);
        }

        return claimed.Count;
    }

    private static bool Usable(BackendLoad backend) => backend.Entry.Definition.Enabled && backend.Entry.Online;

    /// <summary>The most and the fewest jobs read and decided at a time within a pass.</summary>
    private const int ReadChunk = 32, MinReadChunk = 4;

    /// <summary>True for the queue of a backend that can run jobs now, and for the queue for any backend while one can:
    /// a job there starts only where a slot is free (or waits).</summary>
    private static bool WaitsForSlot(JobQueue queue, IReadOnlyList<BackendLoad> backends) => queue.BackendId is { } backendId
        ? backends.FirstOrDefault(b => b.Id == backendId) is { } backend && Usable(backend)
        : backends.Any(Usable);

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
            // A backend's own queue holds the jobs pinned to it (targets, affinities).
            if (!byId.TryGetValue(backendId, out var backend) || !Usable(backend) || backend.HasFreeSlotFor(pinned: true))
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
        var stale = await store.StaleDispatchesAsync(before, 100, cancellationToken);
        var unconfirmed = new List<StoredJob>();
        var jobs = await Task.WhenAll(stale.Select(id => store.GetJobAsync(id, cancellationToken)));
        foreach (var (jobId, job) in stale.Zip(jobs))
        {
            if (job is null || JobStatuses.IsFinal(job.Record.Status) || job.State.Dispatch != DispatchStates.Pending)
            {
                await store.ForgetDispatchAsync(jobId, cancellationToken);
                continue;
            }

            logger.LogWarning("The dispatch of job {JobId} (prompt {PromptId} on {BackendId}) was never confirmed; enqueueing it again",
                jobId, job.Record.PromptId, job.Record.BackendId);
            unconfirmed.Add(job);
        }

        if (unconfirmed.Count > 0)
        {
            await SendAsync(unconfirmed, await PromptsByJobAsync(unconfirmed, cancellationToken), cancellationToken);
        }
    }

    /// <summary>What each of <paramref name="jobs"/> sends (null: not stored), by job id, read once per group.</summary>
    private async Task<IReadOnlyDictionary<string, JobPrompt?>> PromptsByJobAsync(IReadOnlyList<StoredJob> jobs, CancellationToken cancellationToken)
    {
        var prompts = await store.GetPromptsAsync(jobs.Select(j => j.Record).ToList(), cancellationToken);
        return jobs.Select((job, i) => (job.Record.JobId, Prompt: prompts[i])).ToDictionary(p => p.JobId, p => p.Prompt, StringComparer.Ordinal);
    }

    /// <summary>Sends the commands of dispatches recorded as pending (<paramref name="dispatched"/> as they were just read
    /// or changed) with their <paramref name="prompts"/>: one enqueue for all of them, then one change confirming them
    /// all (<c>Dispatch = Sent</c>). Each keeps its own <c>dispatch job</c> span in the trace of its submission. Returns
    /// the jobs sent: one whose prompt is not stored fails instead.</summary>
    private async Task<IReadOnlyList<StoredJob>> SendAsync(
        IReadOnlyList<StoredJob> dispatched, IReadOnlyDictionary<string, JobPrompt?> prompts, CancellationToken cancellationToken)
    {
        var jobs = dispatched.Where(j => prompts.GetValueOrDefault(j.Record.JobId) is not null).ToList();
        var withoutPrompt = dispatched.Where(j => prompts.GetValueOrDefault(j.Record.JobId) is null).ToList();
        if (withoutPrompt.Count > 0)
        {
            // Never an empty prompt sent in its place: the job fails and says why.
            var now = timeProvider.GetUtcNow();
            foreach (var job in withoutPrompt)
            {
                logger.LogError("Job {JobId} has no prompt stored (its hash or its group's lost the prompt field); it fails", job.Record.JobId);
            }

            await machine.ChangeManyAsync(withoutPrompt, j => JobStatuses.IsFinal(j.Record.Status) ? null : JobRules.Fail(j, JobErrorTypes.PromptLost,
                "The job's prompt is missing from the store, so it cannot be sent to a render node; submit it again.", now), cancellationToken);
        }

        if (jobs.Count == 0)
        {
            return jobs;
        }

        var activities = new Activity?[jobs.Count];
        var current = Activity.Current;
        try
        {
            var messages = new List<QueueMessage<RunPromptCommand>>(jobs.Count);
            for (var i = 0; i < jobs.Count; i++)
            {
                var (job, record, prompt) = (jobs[i], jobs[i].Record, prompts[jobs[i].Record.JobId]!);
                // The pass runs outside any request: without the submission's context the command would start a trace of its own.
                var activity = activities[i] = JobTelemetry.Source.StartActivity(
                    "dispatch job", ActivityKind.Internal, TraceContext.Parse(job.State.TraceParent, job.State.TraceState));
                // Each job's span is a child of its own submission's, not of the job's before it.
                Activity.Current = current;
                activity?.SetTag("job.id", record.JobId);
                activity?.SetTag("job.group_id", record.GroupId);
                activity?.SetTag("job.backend_id", record.BackendId);
                activity?.SetTag("job.prompt_id", record.PromptId);
                var command = new RunPromptCommand(record.PromptId!, record.JobId, record.BackendId, prompt.Prompt, job.State.DispatchedAt ?? timeProvider.GetUtcNow())
                {
                    Workflow = prompt.Workflow,
                    Seed = record.Seed,
                    SeedNodes = record.SeedNodes,
                    RequiredCapabilities = record.RequiredCapabilities,
                    // The node's queue is a heap on this number: the job's place in the suite's queue (priority, then order).
                    Priority = job.State.QueueScore,
                };
                // Straight to the chosen backend's queue, which only the replica holding its lease reads. Keyed by the
                // prompt id, one per dispatch attempt: sent again after a lost reply, or by the recovery of an
                // unconfirmed dispatch, it adds no second command.
                messages.Add(new QueueMessage<RunPromptCommand>(RenderChannels.BackendQueue(record.BackendId!), command, record.PromptId!)
                {
                    Parent = activity?.Context ?? TraceContext.Parse(job.State.TraceParent, job.State.TraceState),
                });
            }

            await queue.EnqueueManyAsync(messages, cancellationToken);
            var sent = jobs.ToDictionary(j => j.Record.JobId, j => j.Record.PromptId, StringComparer.Ordinal);
            await machine.ChangeManyAsync(jobs, j => j.State.Dispatch == DispatchStates.Pending && !JobStatuses.IsFinal(j.Record.Status)
                && sent[j.Record.JobId] == j.Record.PromptId
                ? new JobChange(j.Record, j.State with { Dispatch = DispatchStates.Sent })
                : null, cancellationToken);
        }
        finally
        {
            foreach (var activity in activities)
            {
                activity?.Dispose();
            }

            Activity.Current = current;
        }

        return jobs;
    }
}
