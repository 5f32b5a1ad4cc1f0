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
    // Children of one group that end at once in this replica (a burst of completions) settle the group one after
    // another: each commit checks the group's version, so settled side by side all but one conflicted and were read,
    // decided and committed again, some several times. Other replicas' changes still meet the version check.
    private readonly GroupTurns _groupTurns = new();

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

            CommitResult result;
            using (await _groupTurns.EnterAsync(GroupSettledBy(stored, change), cancellationToken))
            {
                var commit = await BuildAsync(stored, change, cancellationToken);
                result = await store.CommitAsync(commit, cancellationToken);
            }

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

        var steps = new List<(int Index, StoredJob Before, JobChange Change, JobCommit Commit)>();
        // Taken before the step that settles the job's group reads the group, and held until the commit (one job has
        // one group); let go before any step is decided again alone, which takes it again itself.
        GroupTurns.Turn? groupTurn = null;
        IReadOnlyList<CommitResult> committed = [];
        try
        {
            for (var i = 0; i < decisions.Count; i++)
            {
                if (await decisions[i](current) is not { } change)
                {
                    results[i] = new ChangeResult(ChangeOutcome.Unchanged, current);
                    continue;
                }

                groupTurn ??= GroupSettledBy(current, change) is { } groupId ? await _groupTurns.EnterAsync(groupId, cancellationToken) : null;
                steps.Add((i, current, change, await BuildAsync(current, change, cancellationToken)));
                current = new StoredJob(change.Record, change.State, current.Version + 1);
            }

            if (steps.Count > 0)
            {
                committed = await store.CommitManyAsync(steps.Select(step => step.Commit).ToList(), cancellationToken);
            }
        }
        finally
        {
            groupTurn?.Dispose();
        }

        var alone = decisions.Count;
        if (steps.Count > 0)
        {
            var wake = false;
            for (var s = 0; s < steps.Count; s++)
            {
                var (index, before, change, _) = steps[s];
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

    private async Task<JobCommit> BuildAsync(StoredJob old, JobChange change, CancellationToken cancellationToken)
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

        if (GroupSettledBy(old, change) is { } settledGroupId)
        {
            await AddGroupOutcomeAsync(commit, settledGroupId, record, now, cancellationToken);
        }

        return commit;
    }

    /// <summary>A child ended or started waiting for approval: the group's status follows, the last child to render
    /// makes a group that requires approval wait (<c>group_awaiting_approval</c>), and the last child to end appends
    /// <c>group_complete</c>. The group's version is checked too, so two children changing at once on two replicas are
    /// decided one after the other.</summary>
    private async Task AddGroupOutcomeAsync(JobCommit commit, string groupId, JobRecord ended, DateTimeOffset now, CancellationToken cancellationToken)
    {
        // The group first, then its children: a child that ends after this read bumps the group's version.
        var group = await store.GetGroupAsync(groupId, cancellationToken);
        if (group is null)
        {
            logger.LogWarning("Child {JobId} ended but its group {GroupId} is gone", ended.JobId, groupId);
            return;
        }

        // The children's statuses decide the group's (one field of each, no record parsed); their records are read only
        // when an event that lists them is due, the group starting to wait for approval or ending: once per group, where
        // reading them for every child that ends cost a group of N children N × N records, again at every conflict.
        var ids = group.Record.ChildJobIds;
        var statuses = (await store.GetJobStatusesAsync(ids, cancellationToken))
            .Select((status, i) => ids[i] == ended.JobId ? ended.Status : status)
            .ToList();
        if (statuses.Any(s => s is null) || ListsChildren(GroupOutcomeOf(group, statuses!)))
        {
            var children = (await store.GetJobsAsync(ids, cancellationToken))
                .Select(c => c.Record.JobId == ended.JobId ? ended : c.Record)
                .ToList();
            AddGroupOutcome(commit, group, children, now);
            return;
        }

        AddGroupOutcome(commit, group, statuses!, children: null, now);
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

    /// <summary>One turn at a time per job group in this replica (striped: groups that share a stripe wait for each other,
    /// which costs only time, and no lock is ever left behind).</summary>
    private sealed class GroupTurns
    {
        private readonly SemaphoreSlim[] _stripes = Enumerable.Range(0, 64).Select(_ => new SemaphoreSlim(1, 1)).ToArray();

        /// <summary>Waits for the group's turn; null (no wait) for no group.</summary>
        public async Task<Turn?> EnterAsync(string? groupId, CancellationToken cancellationToken)
        {
            if (groupId is null)
            {
                return null;
            }

            var stripe = _stripes[(StringComparer.Ordinal.GetHashCode(groupId) & int.MaxValue) % _stripes.Length];
            await stripe.WaitAsync(cancellationToken);
            return new Turn(stripe);
        }

        public sealed class Turn(SemaphoreSlim stripe) : IDisposable
        {
            private int _released;

            public void Dispose()
            {
                if (Interlocked.Exchange(ref _released, 1) == 0)
                {
                    stripe.Release();
                }
            }
        }
    }
}
