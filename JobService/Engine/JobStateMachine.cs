using System.Text.Json.Nodes;
using DirectorsConsole.JobService.Model;
using DirectorsConsole.JobService.Webhooks;
using DirectorsConsole.Messaging;
using Microsoft.Extensions.Options;

namespace DirectorsConsole.JobService.Engine;

public enum ChangeOutcome
{
    Applied,

    /// <summary>The decision was to change nothing.</summary>
    Unchanged,

    NotFound,

    /// <summary>The change needed a slot of a backend that is full.</summary>
    SlotFull,
}

public sealed record ChangeResult(ChangeOutcome Outcome, StoredJob? Job);

/// <summary>The outcome of a decision on a whole group: whether it was applied, and the group as it is after it (or,
/// when not applied, as it was found).</summary>
public sealed record GroupDecisionResult(bool Applied, JobGroupRecord Group);

/// <summary>What a decision on a whole group changes: the group as read, as decided, the commits to apply together (none
/// when it is not awaiting approval) and each decided child before and after.</summary>
public sealed record GroupDecisionPlan(
    StoredGroup Group, JobGroupRecord Decided, IReadOnlyList<JobCommit> Commits, IReadOnlyList<(JobRecord Before, JobRecord After)> Children);

/// <summary>
/// Applies decided changes to jobs and groups: read, decide, commit with the versions read, and on a conflict (another
/// replica or request changed it first) read and decide again. Everything a change implies is derived here from the
/// old and new state: status indexes, the queue, backend slots, the dispatching set, the finished index, stream events
/// (<c>child_*</c> on the group's stream and <c>job_*</c> on the job's own), and for a child that ends, the group's
/// status and its one <c>group_complete</c>. This class decides what a change moves; <see cref="JobCommit"/>'s typed
/// moves (<see cref="JobCommit.MoveQueue"/>, <see cref="JobCommit.MoveSlot"/>, …) decide which keys that touches.
/// </summary>
public sealed class JobStateMachine(
    JobStore store, SchedulerWake wake, JobCreationBatcher creations, JobMetrics metrics, WebhookOutbox webhooks, IOptions<JobEngineOptions> options, TimeProvider timeProvider,
    ILogger<JobStateMachine> logger)
{
    // The changes of a job group's children are committed in batches per group in this replica: those that come while
    // the group's batch before them commits wait for it, then commit together with one script, each checked on its own,
    // and those that settle the group (a child ending, or starting to wait for approval) on the group's version as the
    // one before in the batch leaves it. Settled side by side, all but one conflicted on the group's version and were
    // read, decided and committed again; settled one at a time, a burst of completions paid two reads and a commit per
    // child, one after another; and a commit per child meant a notification per child, each sent to every watcher of
    // the group alone. Other replicas' changes still meet the version checks. A batch takes at most 64 children's
    // changes, so that no script grows with the group (a group may have hundreds of children).
    private readonly KeyedBatches<IReadOnlyList<ChangeStep>, IReadOnlyList<CommitResult>> _groupCommits = new(maxItems: 64);

    public Task<ChangeResult> ChangeAsync(string jobId, Func<StoredJob, JobChange?> decide, CancellationToken cancellationToken) =>
        ChangeAsync(jobId, job => Task.FromResult(decide(job)), cancellationToken);

    public async Task<ChangeResult> ChangeAsync(string jobId, Func<StoredJob, Task<JobChange?>> decide, CancellationToken cancellationToken)
    {
        for (var attempt = 1; attempt <= options.Value.CommitAttempts; attempt++)
        {
            var stored = await store.GetJobAsync(jobId, cancellationToken);
            if (stored is null)
            {
                return new ChangeResult(ChangeOutcome.NotFound, null);
            }

            var change = await decide(stored);
            if (change is null)
            {
                return new ChangeResult(ChangeOutcome.Unchanged, stored);
            }

            var step = new ChangeStep(stored, change, BuildJobCommit(stored, change));
            var result = stored.Record.GroupId is { } groupId
                ? (await CommitInGroupBatchAsync(groupId, [step], cancellationToken))[0]
                : await store.CommitAsync(step.Commit, cancellationToken);

            switch (result.Status)
            {
                case CommitStatus.Committed:
                    metrics.RecordChange(stored.Record, change.Record);
                    if (FreesOrQueues(stored, change))
                    {
                        await WakeSchedulerAsync(cancellationToken);
                    }

                    return new ChangeResult(ChangeOutcome.Applied, new StoredJob(change.Record, change.State, stored.Version + 1));
                case CommitStatus.SlotFull:
                    return new ChangeResult(ChangeOutcome.SlotFull, stored);
                default:
                    logger.LogDebug("Job {JobId} changed while a change was decided ({Status}); deciding again", jobId, result.Status);
                    continue;
            }
        }

        throw new InvalidOperationException($"Job {jobId} kept changing; {options.Value.CommitAttempts} attempts to change it conflicted.");
    }

    /// <summary>Decides and applies several changes of one job, one after the other (each decided on the job as the
    /// one before leaves it), with one script: each is checked on its own against the version the one before makes,
    /// and keeps everything a change of its own would have (its history, events, group outcome, metrics). From the first
    /// that is not committed (the job changed meanwhile, or a change was refused), each is read and decided again on its
    /// own (<see cref="ChangeAsync(string, Func{StoredJob, Task{JobChange?}}, CancellationToken)"/>). Results in the
    /// order of <paramref name="decisions"/>.</summary>
    public async Task<IReadOnlyList<ChangeResult>> ChangeInTurnAsync(
        string jobId, IReadOnlyList<Func<StoredJob, Task<JobChange?>>> decisions, CancellationToken cancellationToken)
    {
        var results = new ChangeResult[decisions.Count];
        var current = await store.GetJobAsync(jobId, cancellationToken);
        if (current is null)
        {
            Array.Fill(results, new ChangeResult(ChangeOutcome.NotFound, null));
            return results;
        }

        var steps = new List<(int Index, ChangeStep Step)>();
        for (var i = 0; i < decisions.Count; i++)
        {
            if (await decisions[i](current) is not { } change)
            {
                results[i] = new ChangeResult(ChangeOutcome.Unchanged, current);
                continue;
            }

            steps.Add((i, new ChangeStep(current, change, BuildJobCommit(current, change))));
            current = new StoredJob(change.Record, change.State, current.Version + 1);
        }

        IReadOnlyList<CommitResult> committed = [];
        if (steps.Count > 0)
        {
            // One job has one group: a child's burst is one item of its group's batch.
            var changeSteps = steps.Select(s => s.Step).ToList();
            if (current.Record.GroupId is { } groupId)
            {
                committed = await CommitInGroupBatchAsync(groupId, changeSteps, cancellationToken);
            }
            else
            {
                // Each step was decided on the job as the one before leaves it.
                for (var s = 1; s < changeSteps.Count; s++)
                {
                    changeSteps[s].Commit.After = [s - 1];
                }

                committed = await store.CommitManyAsync(changeSteps.Select(s => s.Commit).ToList(), cancellationToken);
            }
        }

        var alone = decisions.Count;
        if (steps.Count > 0)
        {
            var wake = false;
            for (var s = 0; s < steps.Count; s++)
            {
                var (index, (before, change, _)) = steps[s];
                if (committed[s].Status != CommitStatus.Committed)
                {
                    alone = index;
                    break;
                }

                metrics.RecordChange(before.Record, change.Record);
                wake |= FreesOrQueues(before, change);
                results[index] = new ChangeResult(ChangeOutcome.Applied, new StoredJob(change.Record, change.State, before.Version + 1));
            }

            if (wake)
            {
                await WakeSchedulerAsync(cancellationToken);
            }
        }

        for (var i = alone; i < decisions.Count; i++)
        {
            results[i] = await ChangeAsync(jobId, decisions[i], cancellationToken);
        }

        return results;
    }

    /// <summary>Decides and applies a change of each of <paramref name="jobs"/> (as just read) with one script; a job that
    /// changed since it was read is read and decided again on its own (<see cref="ChangeAsync(string, Func{StoredJob, JobChange?}, CancellationToken)"/>).
    /// Results in the order of <paramref name="jobs"/>.</summary>
    public async Task<IReadOnlyList<ChangeResult>> ChangeManyAsync(IReadOnlyList<StoredJob> jobs, Func<StoredJob, JobChange?> decide, CancellationToken cancellationToken)
    {
        var results = new ChangeResult[jobs.Count];
        var pending = new List<(int Index, StoredJob Job, JobChange Change, JobCommit Commit)>();
        for (var i = 0; i < jobs.Count; i++)
        {
            if (decide(jobs[i]) is { } change)
            {
                pending.Add((i, jobs[i], change, await BuildAsync(jobs[i], change, cancellationToken)));
            }
            else
            {
                results[i] = new ChangeResult(ChangeOutcome.Unchanged, jobs[i]);
            }
        }

        if (pending.Count == 0)
        {
            return results;
        }

        var committed = await store.CommitManyAsync(pending.Select(p => p.Commit).ToList(), cancellationToken);
        var wake = false;
        for (var p = 0; p < pending.Count; p++)
        {
            var (index, job, change, _) = pending[p];
            switch (committed[p].Status)
            {
                case CommitStatus.Committed:
                    metrics.RecordChange(job.Record, change.Record);
                    wake |= FreesOrQueues(job, change);
                    results[index] = new ChangeResult(ChangeOutcome.Applied, new StoredJob(change.Record, change.State, job.Version + 1));
                    break;
                case CommitStatus.SlotFull:
                    results[index] = new ChangeResult(ChangeOutcome.SlotFull, job);
                    break;
                default:
                    results[index] = await ChangeAsync(job.Record.JobId, decide, cancellationToken);
                    break;
            }
        }

        if (wake)
        {
            await WakeSchedulerAsync(cancellationToken);
        }

        return results;
    }

    /// <summary>Marks a running group <c>cancelled</c> (it stays so) and records it as being cancelled until its
    /// <c>group_complete</c>; null when there is no such group, the group as it is when it had ended.</summary>
    public async Task<StoredGroup?> MarkGroupCancelledAsync(string groupId, CancellationToken cancellationToken)
    {
        for (var attempt = 1; attempt <= options.Value.CommitAttempts; attempt++)
        {
            var stored = await store.GetGroupAsync(groupId, cancellationToken);
            if (stored is null || stored.Record.Status is not (JobGroupStatuses.Running or JobGroupStatuses.Pending or JobGroupStatuses.AwaitingApproval))
            {
                return stored;
            }

            var record = stored.Record with { Status = JobGroupStatuses.Cancelled };
            var commit = new JobCommit().WriteGroup(record, stored.Version, completes: false).MarkGroupCancelling(groupId);
            commit.AddHistory(groupId, JobHistoryEvents.StatusChanged,
                new JsonObject { ["job_group_id"] = groupId, ["from_status"] = stored.Record.Status, ["status"] = record.Status },
                timeProvider.GetUtcNow(), options.Value);
            if ((await store.CommitAsync(commit, cancellationToken)).Status == CommitStatus.Committed)
            {
                return stored with { Record = record, Version = stored.Version + 1 };
            }
        }

        throw new InvalidOperationException($"Job group {groupId} kept changing; {options.Value.CommitAttempts} attempts to change it conflicted.");
    }

    /// <summary>Brings the group's status up to date with its children and appends <c>group_complete</c> when every
    /// child has ended and nobody has yet: the end of changes made with <see cref="JobChange.DefersGroupOutcome"/>.</summary>
    public async Task SettleGroupAsync(string groupId, CancellationToken cancellationToken)
    {
        for (var attempt = 1; attempt <= options.Value.CommitAttempts; attempt++)
        {
            var group = await store.GetGroupAsync(groupId, cancellationToken);
            if (group is null || group.Completed)
            {
                await store.ForgetCancellingGroupAsync(groupId, cancellationToken);
                return;
            }

            var children = (await store.GetJobsAsync(group.Record.ChildJobIds, cancellationToken)).Select(c => c.Record).ToList();
            if (children.Count < group.Record.ChildJobIds.Count || children.Any(c => !JobStatuses.IsFinal(c.Status)))
            {
                // A child is still ending (or being cancelled); the last one to end completes the group.
                return;
            }

            var commit = new JobCommit();
            AddGroupOutcome(commit, group, children, timeProvider.GetUtcNow());
            if ((await store.CommitAsync(commit, cancellationToken)).Status == CommitStatus.Committed)
            {
                return;
            }
        }

        throw new InvalidOperationException($"Job group {groupId} kept changing; {options.Value.CommitAttempts} attempts to settle it conflicted.");
    }

    /// <summary>
    /// A person's decision on a whole group awaiting approval: every child still waiting is approved (completed) or
    /// rejected, and the group ends with them (<c>group_complete</c> carrying the decision), all in one script that
    /// applies every change or none (<see cref="JobStore.CommitAllAsync"/>): a reader never sees half a decision, and a
    /// decision whose reply was lost is sent again and recognised. Children decided one by one before are left as they
    /// were. Null when there is no such group; <see cref="GroupDecisionResult.Applied"/> false (with the group as it is)
    /// when it is not awaiting approval, which also answers a second decision.
    /// </summary>
    public async Task<GroupDecisionResult?> DecideGroupAsync(string groupId, ApprovalDecision decision, CancellationToken cancellationToken)
    {
        for (var attempt = 1; attempt <= options.Value.CommitAttempts; attempt++)
        {
            var plan = await PlanGroupDecisionAsync(groupId, decision, cancellationToken);
            if (plan is null)
            {
                return null;
            }

            if (plan.Commits.Count == 0)
            {
                return new GroupDecisionResult(false, plan.Group.Record);
            }

            if ((await store.CommitAllAsync(plan.Commits, cancellationToken)).Status == CommitStatus.Committed)
            {
                foreach (var (before, after) in plan.Children)
                {
                    metrics.RecordChange(before, after);
                }

                return new GroupDecisionResult(true, plan.Decided);
            }

            logger.LogDebug("Job group {GroupId} changed while its decision was made; deciding again", groupId);
        }

        throw new InvalidOperationException($"Job group {groupId} kept changing; {options.Value.CommitAttempts} attempts to decide it conflicted.");
    }

    /// <summary>Reads a group and decides what a decision on it as a whole changes: one commit per waiting child, then
    /// the group's, to be applied together. No commits when the group is not awaiting approval; null when it does not exist.</summary>
    public async Task<GroupDecisionPlan?> PlanGroupDecisionAsync(string groupId, ApprovalDecision decision, CancellationToken cancellationToken)
    {
        // The group first, then its children: any child that changes after this read bumps the group's version.
        var group = await store.GetGroupAsync(groupId, cancellationToken);
        if (group is null)
        {
            return null;
        }

        if (group.Record.Status != JobGroupStatuses.AwaitingApproval)
        {
            return new GroupDecisionPlan(group, group.Record, [], []);
        }

        var now = timeProvider.GetUtcNow();
        var stored = await store.GetJobsAsync(group.Record.ChildJobIds, cancellationToken);
        var commits = new List<JobCommit>();
        var decidedChildren = new List<(JobRecord Before, JobRecord After)>();
        var children = new List<JobRecord>(stored.Count);
        foreach (var child in stored)
        {
            if (JobRules.Decide(child, decision, now) is { } change)
            {
                commits.Add(await BuildAsync(child, change with { DefersGroupOutcome = true }, cancellationToken));
                decidedChildren.Add((child.Record, change.Record));
                children.Add(change.Record);
            }
            else
            {
                children.Add(child.Record);
            }
        }

        if (commits.Count == 0)
        {
            return new GroupDecisionPlan(group, group.Record, [], []);
        }

        var groupCommit = new JobCommit();
        var decided = AddGroupOutcome(groupCommit, group, children, now, group.Record with { Approval = decision, DecidedAt = now });
        commits.Add(groupCommit);
        return new GroupDecisionPlan(group, decided, commits, decidedChildren);
    }

    /// <summary>Stores a new job and queues it at the next place of its priority (<see cref="JobEngineState.QueueScore"/>
    /// of <paramref name="state"/> is replaced), with the other creations of its batch (<see cref="JobCreationBatcher"/>).</summary>
    public async Task CreateJobAsync(JobRecord record, JobPrompt prompt, JobEngineState state, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var created = await creations.CreateAsync(record.Priority, 1, scores =>
        {
            var stored = state with { QueueScore = scores[0] };
            var commit = new JobCommit().WriteJob(record, stored, expectedVersion: null).StorePrompt(record, prompt).IndexNewJob(record, stored);
            commit.AddHistory(record.JobId, JobHistoryEvents.Submitted, JobHistory.Submitted(record), record.SubmittedAt, options.Value);
            return commit;
        });
        if (!created)
        {
            throw new InvalidOperationException($"Job {record.JobId} already exists.");
        }
    }

    /// <summary>Stores a new group, the prompt its children send, and its children, queued at the next places (each child's
    /// <see cref="JobEngineState.QueueScore"/> is replaced), in one commit of a batch (<see cref="JobCreationBatcher"/>).</summary>
    public async Task CreateGroupAsync(
        JobGroupRecord group, JobPrompt prompt, IReadOnlyList<(JobRecord Record, JobEngineState State)> children, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var created = await creations.CreateAsync(0, children.Count, scores =>
        {
            var commit = new JobCommit().WriteGroup(group, expectedVersion: null, completes: false);
            commit.IndexNewGroup(group).StorePrompt(children[0].Record, prompt);
            commit.AddHistory(group.JobGroupId, JobHistoryEvents.Submitted, new JsonObject
            {
                ["job_group_id"] = group.JobGroupId,
                ["status"] = group.Status,
                ["child_job_ids"] = new JsonArray(group.ChildJobIds.Select(id => (JsonNode)id).ToArray()),
            }, group.CreatedAt, options.Value);
            for (var i = 0; i < children.Count; i++)
            {
                var (record, state) = children[i];
                commit.CreateChild(record, state with { QueueScore = scores[i] });
                commit.AddHistory(record.JobId, JobHistoryEvents.Submitted, JobHistory.Submitted(record), record.SubmittedAt, options.Value);
            }

            return commit;
        });
        if (!created)
        {
            throw new InvalidOperationException($"Job group {group.JobGroupId} already exists.");
        }
    }

    /// <summary>Tells the scheduler (on whichever replica runs it) to look at its queue now.</summary>
    public Task WakeSchedulerAsync(CancellationToken cancellationToken) => wake.WakeAsync(cancellationToken);

    private static bool FreesOrQueues(StoredJob old, JobChange change) =>
        (JobEngineState.HoldsSlot(old.Record, old.State) && !JobEngineState.HoldsSlot(change.Record, change.State))
        || (!JobEngineState.InQueue(old.Record, old.State) && JobEngineState.InQueue(change.Record, change.State));

    /// <summary>The group whose outcome <paramref name="change"/> decides with it: a child that ends, or starts waiting
    /// for approval, may move its group on (to awaiting_approval, or to its end). Null for any other change, and for one
    /// that leaves its group to be settled afterwards (<see cref="JobChange.DefersGroupOutcome"/>).</summary>
    private static string? GroupSettledBy(StoredJob old, JobChange change)
    {
        var record = change.Record;
        var ends = JobStatuses.IsFinal(record.Status) && !JobStatuses.IsFinal(old.Record.Status);
        var settles = ends || (record.Status == JobStatuses.AwaitingApproval && old.Record.Status != JobStatuses.AwaitingApproval);
        return settles && !change.DefersGroupOutcome ? record.GroupId : null;
    }

    /// <summary>The commit of a change: the job's part (<see cref="BuildJobCommit"/>) and, for a change that settles its
    /// group, the group's, decided on the group as read now. Changes that settle a group one after another go through
    /// <see cref="CommitInGroupBatchAsync"/> instead.</summary>
    private async Task<JobCommit> BuildAsync(StoredJob old, JobChange change, CancellationToken cancellationToken)
    {
        var commit = BuildJobCommit(old, change);
        if (GroupSettledBy(old, change) is { } groupId)
        {
            var group = await SettlingGroup.ReadAsync(store, groupId, cancellationToken);
            if (group is null)
            {
                logger.LogWarning("Child {JobId} ended but its group {GroupId} is gone", change.Record.JobId, groupId);
            }
            else
            {
                await AddGroupOutcomeAsync(commit, group, change.Record, timeProvider.GetUtcNow(), cancellationToken);
            }
        }

        return commit;
    }

    /// <summary>Commits the steps of one child of <paramref name="groupId"/> (each decided on the job as the one before
    /// leaves it) in the group's next batch (<see cref="_groupCommits"/>). Results in the order of <paramref name="steps"/>.</summary>
    private Task<IReadOnlyList<CommitResult>> CommitInGroupBatchAsync(string groupId, IReadOnlyList<ChangeStep> steps, CancellationToken cancellationToken) =>
        _groupCommits.SubmitAsync(groupId, steps, batch => CommitGroupBatchAsync(groupId, batch), cancellationToken);

    /// <summary>One batch of <see cref="CommitInGroupBatchAsync"/>: when a step settles the group, the group is read once
    /// and each such step decided on it as the steps before it in the batch leave it (its version counted on from the
    /// one read); then every step is committed with one script, each checked on its own. A step whose job changed
    /// meanwhile is not committed, and neither is any later step of its caller nor any later one that settles the group
    /// (<see cref="JobCommit.After"/>: each was decided on what the one before it would have written); their callers
    /// decide them again.</summary>
    private async Task<IReadOnlyList<IReadOnlyList<CommitResult>>> CommitGroupBatchAsync(string groupId, IReadOnlyList<IReadOnlyList<ChangeStep>> batch)
    {
        // The batch carries changes of several callers: no single caller's cancellation may stop it (KeyedBatches).
        var cancellationToken = CancellationToken.None;
        var steps = batch.SelectMany(item => item).ToList();
        var group = steps.Any(step => GroupSettledBy(step.Before, step.Change) is not null)
            ? await SettlingGroup.ReadAsync(store, groupId, cancellationToken)
            : null;
        var now = timeProvider.GetUtcNow();
        var place = 0;
        int? lastSettling = null;
        foreach (var item in batch)
        {
            for (var i = 0; i < item.Count; i++, place++)
            {
                var (old, change, commit) = item[i];
                // A caller's steps were each decided on the job as the one before leaves it; a step that settles the group,
                // on the group as the one that settled it before leaves it. Each is committed only if those were.
                List<int> after = i > 0 ? [place - 1] : [];
                if (GroupSettledBy(old, change) is null)
                {
                    group?.Changed[change.Record.JobId] = change.Record;
                }
                else if (group is null)
                {
                    logger.LogWarning("Child {JobId} ended but its group {GroupId} is gone", change.Record.JobId, groupId);
                }
                else
                {
                    await AddGroupOutcomeAsync(commit, group, change.Record, now, cancellationToken);
                    if (lastSettling is { } settling && !after.Contains(settling))
                    {
                        after.Add(settling);
                    }

                    lastSettling = place;
                }

                commit.After = after;
            }
        }

        var committed = await store.CommitManyAsync(steps.Select(step => step.Commit).ToList(), cancellationToken);
        var results = new List<IReadOnlyList<CommitResult>>(batch.Count);
        var next = 0;
        foreach (var item in batch)
        {
            results.Add(committed.Skip(next).Take(item.Count).ToList());
            next += item.Count;
        }

        return results;
    }

    /// <summary>The job's part of the commit of a change: its record, indexes, queue, slot, history, webhooks and the
    /// events it appends; nothing of its group's outcome.</summary>
    private JobCommit BuildJobCommit(StoredJob old, JobChange change)
    {
        var now = timeProvider.GetUtcNow();
        var record = change.Record;
        var state = change.State;
        var id = record.JobId;
        var commit = new JobCommit().WriteJob(record, state, old.Version);

        if (old.Record.Status != record.Status)
        {
            commit.MoveStatus(id, old.Record.Status, record.Status, record.SubmittedAt);
        }

        var oldQueue = JobEngineState.InQueue(old.Record, old.State) ? JobQueue.Of(old.Record, old.State) : null;
        var newQueue = JobEngineState.InQueue(record, state) ? JobQueue.Of(record, state) : null;
        if (oldQueue != newQueue)
        {
            commit.MoveQueue(id, oldQueue, newQueue, state.QueueScore);
        }

        var oldSlot = JobEngineState.HoldsSlot(old.Record, old.State) ? old.Record.BackendId : null;
        var newSlot = JobEngineState.HoldsSlot(record, state) ? record.BackendId : null;
        if (oldSlot != newSlot)
        {
            commit.MoveSlot(id, oldSlot, newSlot, change.SlotLimit);
        }

        var wasPending = !JobStatuses.IsFinal(old.Record.Status) && old.State.Dispatch == DispatchStates.Pending;
        var isPending = !JobStatuses.IsFinal(record.Status) && state.Dispatch == DispatchStates.Pending;
        if (wasPending && !isPending)
        {
            commit.MarkDispatched(id);
        }
        else if (!wasPending && isPending)
        {
            commit.MarkDispatching(id, now);
        }

        var ends = JobStatuses.IsFinal(record.Status) && !JobStatuses.IsFinal(old.Record.Status);
        if (ends)
        {
            commit.MarkEnded(id, single: record.GroupId is null, record.CompletedAt ?? now, now - options.Value.DashboardWindow);
        }

        if (old.Record.Status != record.Status)
        {
            commit.AddHistory(id, JobHistoryEvents.StatusChanged, JobHistory.StatusChange(old.Record, record), now, options.Value);
            webhooks.AddJobEvent(commit, old.Record, record, now);
        }

        foreach (var draft in change.Events)
        {
            if (record.GroupId is { } groupId)
            {
                commit.Append(JobStreamId.Group(groupId), JobEventKinds.ForChild(draft.Kind), draft.Payload, now);
            }

            commit.Append(JobStreamId.Job(id), JobEventKinds.ForJob(draft.Kind), draft.Payload, now);
            if (draft.Kind != JobEventKinds.Progress)
            {
                commit.AddHistory(id, draft.Kind, draft.Payload, now, options.Value);
            }
        }

        return commit;
    }

    /// <summary>A child ended or started waiting for approval (<paramref name="changed"/>): the group's status follows,
    /// the last child to render makes a group that requires approval wait (<c>group_awaiting_approval</c>), and the last
    /// child to end appends <c>group_complete</c>. The group's version is checked too, so two children changing at once
    /// on two replicas are decided one after the other. <paramref name="group"/> then holds the group as this commit
    /// leaves it, for the next step of a batch.</summary>
    private async Task AddGroupOutcomeAsync(JobCommit commit, SettlingGroup group, JobRecord changed, DateTimeOffset now, CancellationToken cancellationToken)
    {
        group.Changed[changed.JobId] = changed;
        // The children's statuses decide the group's (one field of each, no record parsed); their records are read only
        // when an event that lists them is due, the group starting to wait for approval or ending: once per group, where
        // reading them for every child that ends cost a group of N children N × N records, again at every conflict.
        var ids = group.Stored.Record.ChildJobIds;
        var statuses = ids.Select((id, i) => group.Changed.TryGetValue(id, out var record) ? record.Status : group.StoredStatuses[i]).ToList();
        JobGroupRecord written;
        if (statuses.Any(s => s is null) || ListsChildren(GroupOutcomeOf(group.Stored, statuses!)))
        {
            group.StoredChildren ??= await store.GetJobsAsync(ids, cancellationToken);
            var children = group.StoredChildren
                .Select(c => group.Changed.TryGetValue(c.Record.JobId, out var record) ? record : c.Record)
                .ToList();
            written = AddGroupOutcome(commit, group.Stored, children, now);
        }
        else
        {
            written = AddGroupOutcome(commit, group.Stored, statuses!, children: null, now);
        }

        group.Stored = new StoredGroup(written, group.Stored.Version + 1, group.Stored.Completed || commit.GroupCompletes);
    }

    /// <summary>What the children's statuses make of the group: its status, whether it ends now (every child has
    /// ended, and no <c>group_complete</c> was appended yet) and whether it starts waiting for approval.</summary>
    private static (string Status, bool Completes, bool StartsWaiting) GroupOutcomeOf(StoredGroup group, IReadOnlyList<string> childStatuses)
    {
        var before = group.Record;
        var status = JobEvents.GroupStatus(before.Status, childStatuses);
        var completes = !group.Completed && childStatuses.Count == before.ChildJobIds.Count && childStatuses.All(JobStatuses.IsFinal);
        return (status, completes, status == JobGroupStatuses.AwaitingApproval && before.Status != JobGroupStatuses.AwaitingApproval);
    }

    /// <summary>True when the outcome appends an event that lists the children (<c>group_awaiting_approval</c>,
    /// <c>group_complete</c>), which needs their records.</summary>
    private static bool ListsChildren((string Status, bool Completes, bool StartsWaiting) outcome) =>
        outcome.Completes || outcome.StartsWaiting;

    /// <summary>Writes the group's status as its children make it (<paramref name="decided"/>: the group's record with a
    /// decision taken on it as a whole), <c>group_awaiting_approval</c> when it starts waiting, and <c>group_complete</c>
    /// when every child has ended. Returns the group as written.</summary>
    private JobGroupRecord AddGroupOutcome(JobCommit commit, StoredGroup group, IReadOnlyList<JobRecord> children, DateTimeOffset now, JobGroupRecord? decided = null) =>
        AddGroupOutcome(commit, group, children.Select(c => c.Status).ToList(), children, now, decided);

    /// <summary>The same from the children's statuses; <paramref name="children"/> (their records) may be null when the
    /// outcome lists no child (<see cref="ListsChildren"/>).</summary>
    private JobGroupRecord AddGroupOutcome(
        JobCommit commit, StoredGroup group, IReadOnlyList<string> childStatuses, IReadOnlyList<JobRecord>? children, DateTimeOffset now, JobGroupRecord? decided = null)
    {
        var before = group.Record;
        var groupId = before.JobGroupId;
        var (status, completes, startsWaiting) = GroupOutcomeOf(group, childStatuses);
        if (children is null && (completes || startsWaiting))
        {
            throw new InvalidOperationException($"The outcome of job group {groupId} lists its children, whose records were not read.");
        }

        var record = (decided ?? before) with { Status = status, CompletedAt = completes ? now : before.CompletedAt };
        commit.WriteGroup(record, group.Version, completes);
        if (status != before.Status)
        {
            var change = new JsonObject { ["job_group_id"] = groupId, ["from_status"] = before.Status, ["status"] = status };
            if (decided is not null)
            {
                change["approval"] = JobEvents.GroupApproval(record);
            }

            commit.AddHistory(groupId, JobHistoryEvents.StatusChanged, change, now, options.Value);
        }

        if (startsWaiting)
        {
            var waiting = JobEvents.GroupAwaitingApproval(record, children!);
            commit.Append(JobStreamId.Group(groupId), JobEventKinds.GroupAwaitingApproval, waiting, now);
            commit.AddHistory(groupId, JobEventKinds.GroupAwaitingApproval, waiting, now, options.Value);
            webhooks.AddGroupAwaitingApproval(commit, record, children!, now);
        }

        if (completes)
        {
            var outcome = JobEvents.GroupComplete(record, children!);
            commit.Append(JobStreamId.Group(groupId), JobEventKinds.GroupComplete, outcome, now);
            commit.AddHistory(groupId, JobEventKinds.GroupComplete, outcome, now, options.Value);
            webhooks.AddGroupComplete(commit, record, outcome, now);
            commit.MarkGroupEnded(groupId, now);
        }

        return record;
    }

    /// <summary>A change of a job decided on <paramref name="Before"/>, with the job's part of its commit built
    /// (<see cref="BuildJobCommit"/>); the group's part is added when it is committed.</summary>
    private sealed record ChangeStep(StoredJob Before, JobChange Change, JobCommit Commit);

    /// <summary>A group as read for deciding the outcome of changes that settle it, and as those decided so far leave it.</summary>
    private sealed class SettlingGroup
    {
        private SettlingGroup(StoredGroup stored, IReadOnlyList<string?> storedStatuses)
        {
            Stored = stored;
            StoredStatuses = storedStatuses;
        }

        /// <summary>The group as read, then as the last change decided on it writes it.</summary>
        public StoredGroup Stored { get; set; }

        /// <summary>The children's statuses as read, in the order of the group's children.</summary>
        public IReadOnlyList<string?> StoredStatuses { get; }

        /// <summary>The children's records as read, once an outcome needed them.</summary>
        public IReadOnlyList<StoredJob>? StoredChildren { get; set; }

        /// <summary>The children changed by the changes decided so far, as they leave them.</summary>
        public Dictionary<string, JobRecord> Changed { get; } = new(StringComparer.Ordinal);

        /// <summary>Reads the group, then its children's statuses: a child that ends after the group was read bumps its
        /// version, so the statuses are never older than the version the commit checks. Null when the group is gone.</summary>
        public static async Task<SettlingGroup?> ReadAsync(JobStore store, string groupId, CancellationToken cancellationToken)
        {
            var group = await store.GetGroupAsync(groupId, cancellationToken);
            return group is null ? null : new SettlingGroup(group, await store.GetJobStatusesAsync(group.Record.ChildJobIds, cancellationToken));
        }
    }
}
