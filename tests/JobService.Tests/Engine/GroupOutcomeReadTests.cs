using DirectorsConsole.Contracts;
using DirectorsConsole.JobService.Engine;
using DirectorsConsole.JobService.Model;
using DirectorsConsole.Messaging;

namespace DirectorsConsole.JobService.Tests.Engine;

/// <summary>
/// What a group's children cost when they end: each child that ends decides the group's status from every child's
/// status (one small field each), and the children's records are read once, for the <c>group_complete</c> that lists
/// them. It used to read every child's record for every child that ended: a group of N children cost N × N records
/// read and parsed (the prompt included), again at every conflict between two children ending together.
/// </summary>
public sealed class GroupOutcomeReadTests
{
    private const int Children = 20;

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Fact]
    public async Task ChildrenEndingOneByOneReadTheirSiblingsRecordsOnlyForTheGroupComplete()
    {
        // Arrange: a group of 20 children, dispatched (as far as the engine knows) to a backend that does not exist
        await using var rig = await CountedJobService.StartAsync(("outcome-a", 1));
        var (groupId, children) = await CreateDispatchedGroupAsync(rig);
        var applier = rig.Get<RenderEventApplier>();
        var readsBefore = RecordReads(rig);

        // Act: each child completes, one after the other
        foreach (var child in children)
        {
            await applier.ApplyAsync(Completed(child), Token);
        }

        // Assert: the group completed once, listing every child; each completion read its own job (a few times at
        // most), and the siblings' records were read once, for the group_complete
        var reads = RecordReads(rig) - readsBefore;
        Assert.InRange(reads, Children, 4 * Children);
        var group = await rig.Engine.GetGroupAsync(groupId, Token);
        Assert.Equal(JobGroupStatuses.Completed, group!.Group.Status);
        var events = await rig.Get<RedisJobEventStream>().ReadAsync(JobStreamId.Group(groupId), 0, Token);
        var complete = Assert.Single(events, e => e.Type == JobEventKinds.GroupComplete);
        Assert.Equal(Children, complete.Payload["results"]!.AsArray().Count);
        Assert.Equal(Children, (int)complete.Payload["succeeded"]!);
    }

    [Fact]
    public async Task AGroupWhoseChildrenEndTogetherStillCompletesOnceWithEveryChild()
    {
        // Arrange
        await using var rig = await CountedJobService.StartAsync(("outcome-b", 1));
        var (groupId, children) = await CreateDispatchedGroupAsync(rig);
        var applier = rig.Get<RenderEventApplier>();

        // Act: half the children fail, every end applied at once (they take turns on the group)
        await Task.WhenAll(children.Select((child, i) => Task.Run(
            () => applier.ApplyAsync(i % 2 == 0 ? Completed(child) : Failed(child), Token), Token)));

        // Assert
        var group = await rig.Engine.GetGroupAsync(groupId, Token);
        Assert.Equal(JobGroupStatuses.PartialComplete, group!.Group.Status);
        var events = await rig.Get<RedisJobEventStream>().ReadAsync(JobStreamId.Group(groupId), 0, Token);
        var complete = Assert.Single(events, e => e.Type == JobEventKinds.GroupComplete);
        Assert.Equal((Children / 2, Children / 2), ((int)complete.Payload["succeeded"]!, (int)complete.Payload["failed"]!));
        Assert.Equal(JobEventKinds.GroupComplete, events[^1].Type);
    }

    [Fact]
    public async Task ChildrenEndingTogetherInOneReplicaAreCommittedInBatchesOnTheirGroup()
    {
        // Arrange
        await using var rig = await CountedJobService.StartAsync(("outcome-c", 1));
        var (groupId, children) = await CreateDispatchedGroupAsync(rig);
        var applier = rig.Get<RenderEventApplier>();
        var changesBefore = rig.ChangeScripts;
        var groupReadsBefore = GroupReads(rig);

        // Act: every child's end applied at once, as a burst of completions from the nodes arrives
        var results = await Task.WhenAll(children.Select(child => Task.Run(() => applier.ApplyAsync([Completed(child)], Token), Token)));

        // Assert: each end applied, and the ends that came while the group's batch before them committed were committed
        // together (one at a time, the 20 ends made 20 commits, each after reading the group; side by side, 123);
        // none was read, decided and committed again after a sibling changed the group
        Assert.All(results, r => Assert.Equal(ChangeOutcome.Applied, Assert.Single(r).Outcome));
        var scripts = rig.ChangeScripts - changesBefore;
        Assert.InRange(scripts, 1, Children / 2);
        Assert.Equal(scripts, GroupReads(rig) - groupReadsBefore);
        await AssertCompletedOnceAsync(rig, groupId, children);
    }

    [Fact]
    public async Task ChildrenStartingTogetherAreCommittedInBatchesToo()
    {
        // Arrange
        await using var rig = await CountedJobService.StartAsync(("outcome-e", 1));
        var (groupId, children) = await CreateDispatchedGroupAsync(rig);
        var applier = rig.Get<RenderEventApplier>();
        var changesBefore = rig.ChangeScripts;
        var groupReadsBefore = GroupReads(rig);

        // Act: every child's start applied at once
        var results = await Task.WhenAll(children.Select(child => Task.Run(() => applier.ApplyAsync([Started(child)], Token), Token)));

        // Assert: each start applied once, in fewer scripts than children (each one a notification to the group's
        // watchers), with no read of the group (no start settles it)
        Assert.All(results, r => Assert.Equal(ChangeOutcome.Applied, Assert.Single(r).Outcome));
        Assert.InRange(rig.ChangeScripts - changesBefore, 1, Children / 2);
        Assert.Equal(0, GroupReads(rig) - groupReadsBefore);
        var events = await rig.Get<RedisJobEventStream>().ReadAsync(JobStreamId.Group(groupId), 0, Token);
        var starts = events.Where(e => e.Type == JobEventKinds.ForChild(JobEventKinds.Started)).Select(e => (string)e.Payload["job_id"]!).Order().ToList();
        Assert.Equal(children.Select(c => c.JobId).Order().ToList(), starts);
        Assert.All(await rig.Store.GetJobsAsync(children.Select(c => c.JobId).ToList(), Token), job => Assert.Equal(JobStatuses.Running, job.Record.Status));
    }

    [Fact]
    public async Task AChildOfABatchChangedMeanwhileIsDecidedAgainWithTheSiblingsBehindItAndEveryEndCountsOnce()
    {
        // Arrange: the first child's end is committing (its script held) while the other 19 end and gather behind it
        await using var rig = await CountedJobService.StartAsync(("outcome-d", 1));
        var (groupId, children) = await CreateDispatchedGroupAsync(rig);
        var applier = rig.Get<RenderEventApplier>();
        var changesBefore = rig.ChangeScripts;
        rig.Scripts.Hold();
        var first = Task.Run(() => applier.ApplyAsync([Completed(children[0])], Token), Token);
        await WaitUntilAsync(() => rig.ChangeScripts == changesBefore + 1);
        var readsBefore = rig.JobReads;
        var others = children.Skip(1).Select(child => Task.Run(() => applier.ApplyAsync([Completed(child)], Token), Token)).ToList();
        await WaitUntilAsync(() => rig.JobReads >= readsBefore + others.Count);
        await Task.Delay(200, Token); // each decides its end and joins the group's next batch

        // Act: another replica changes the eighth child after its end was decided, then the commits go on
        await rig.Get<IRedisConnection>().ExecuteAsync(["HINCRBY", JobKeys.Job(children[7].JobId), "version", "1"], Token);
        rig.Scripts.Release();
        var results = await Task.WhenAll(others.Prepend(first));

        // Assert: every end applied once: the eighth child's, and those after it in its batch (each expected the group
        // as the eighth would have left it), decided again and committed after it
        Assert.All(results, r => Assert.Equal(ChangeOutcome.Applied, Assert.Single(r).Outcome));
        Assert.True(rig.ChangeScripts - changesBefore >= 3, "the ends that conflicted were committed by a later script");
        await AssertCompletedOnceAsync(rig, groupId, children);
    }

    [Fact]
    public async Task AnEndAfterAFailedOneInItsBatchIsNotCommittedOnAVersionAnotherReplicaHappenedToWrite()
    {
        // Arrange: every child but three has ended; the first of the three is ending (its commit held), and its end again
        // (decided on the job as it was) and the second's wait behind it in the group's next batch
        await using var rig = await CountedJobService.StartAsync(("outcome-f", 1));
        var (groupId, children) = await CreateDispatchedGroupAsync(rig);
        var applier = rig.Get<RenderEventApplier>();
        foreach (var child in children.Skip(3))
        {
            await applier.ApplyAsync([Completed(child)], Token);
        }

        var (first, second, third) = (children[0], children[1], children[2]);
        var isChange = (string script, IReadOnlyList<string> _) => script == JobStore.ChangeScript;
        var (firstHeld, releaseFirst) = rig.Scripts.HoldOne(isChange);
        var firstEnd = Task.Run(() => applier.ApplyAsync([Completed(first)], Token), Token);
        await firstHeld.WaitAsync(TimeSpan.FromSeconds(30), Token);
        // (in this order: the batch's first step is the one that fails)
        var readsBefore = rig.JobReads;
        var firstAgain = Task.Run(() => applier.ApplyAsync([Completed(first)], Token), Token);
        await WaitUntilAsync(() => rig.JobReads >= readsBefore + 1);
        await Task.Delay(200, Token); // it decides its end and joins the group's next batch
        var secondEnd = Task.Run(() => applier.ApplyAsync([Completed(second)], Token), Token);
        await WaitUntilAsync(() => rig.JobReads >= readsBefore + 2);
        await Task.Delay(200, Token);

        // Act: the first commits; the next batch reads the group, and before its script runs another replica ends the
        // third child (one change of the group's version, as the batch's first step would have made had it committed)
        var (nextHeld, releaseNext) = rig.Scripts.HoldOne(isChange);
        releaseFirst();
        await nextHeld.WaitAsync(TimeSpan.FromSeconds(30), Token);
        var thirdJob = await rig.Store.GetJobAsync(third.JobId, Token);
        var otherReplica = await rig.Get<JobStateMachine>().ChangeManyAsync([thirdJob!], j => JobRules.OnRenderEvent(j, Completed(third)).Change, Token);
        releaseNext();
        await Task.WhenAll(firstEnd, firstAgain, secondEnd);

        // Assert: the second's end, decided on the group as the failed one would have left it, was decided again: the
        // group completed (it stayed running with every child ended when the second was committed on that version)
        Assert.Equal(ChangeOutcome.Applied, Assert.Single(otherReplica).Outcome);
        Assert.Equal(ChangeOutcome.Applied, Assert.Single(await secondEnd).Outcome);
        await AssertCompletedOnceAsync(rig, groupId, children);
    }

    private static async Task<(string GroupId, IReadOnlyList<JobRecord> Children)> CreateDispatchedGroupAsync(CountedJobService rig)
    {
        var now = DateTimeOffset.UtcNow;
        var groupId = "jg_" + Guid.NewGuid().ToString("N")[..12];
        var children = Enumerable.Range(0, Children).Select(i =>
        {
            var record = new JobRecord($"j_{Guid.NewGuid():N}"[..14], JobStatuses.Queued, now)
            {
                GroupId = groupId, BackendId = "ghost", PromptId = Guid.NewGuid().ToString(), Attempts = ["ghost"], Seed = i, QueuedAt = now,
            };
            return (record, new JobEngineState { Target = "ghost", Dispatch = DispatchStates.Sent, DispatchedAt = now });
        }).ToList();
        var group = new JobGroupRecord(groupId, JobGroupStatuses.Running, now) { ChildJobIds = children.Select(c => c.record.JobId).ToList(), BackendIds = ["ghost"] };
        await rig.Get<JobStateMachine>().CreateGroupAsync(group, new JobPrompt(EngineRig.Prompt(), null), children, Token);
        return (groupId, children.Select(c => c.record).ToList());
    }

    private static RenderEvent Completed(JobRecord child) =>
        new(RenderEventKinds.Completed, child.PromptId!, child.JobId, "ghost", DateTimeOffset.UtcNow)
        {
            Outputs = [new RenderOutput("images", "2") { Filename = $"{child.JobId}.png", Subfolder = "", Type = "output", Url = $"http://ghost/view?filename={child.JobId}.png" }],
        };

    private static RenderEvent Started(JobRecord child) =>
        new(RenderEventKinds.Started, child.PromptId!, child.JobId, "ghost", DateTimeOffset.UtcNow);

    private static RenderEvent Failed(JobRecord child) =>
        new(RenderEventKinds.Failed, child.PromptId!, child.JobId, "ghost", DateTimeOffset.UtcNow) { Error = "out of memory" };

    /// <summary>The group completed once, with every child succeeded, and each child's end on the group's stream once.</summary>
    private static async Task AssertCompletedOnceAsync(CountedJobService rig, string groupId, IReadOnlyList<JobRecord> children)
    {
        var group = await rig.Engine.GetGroupAsync(groupId, Token);
        Assert.Equal(JobGroupStatuses.Completed, group!.Group.Status);
        var events = await rig.Get<RedisJobEventStream>().ReadAsync(JobStreamId.Group(groupId), 0, Token);
        Assert.Equal(Children, (int)Assert.Single(events, e => e.Type == JobEventKinds.GroupComplete).Payload["succeeded"]!);
        Assert.Equal(JobEventKinds.GroupComplete, events[^1].Type);
        var ends = events.Where(e => e.Type == JobEventKinds.ForChild(JobEventKinds.Completed)).Select(e => (string)e.Payload["job_id"]!).Order().ToList();
        Assert.Equal(children.Select(c => c.JobId).Order().ToList(), ends);
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "the condition was not met within 30 s");
            await Task.Delay(10, Token);
        }
    }

    /// <summary>Reads of group hashes (<c>HMGET dc:group:…</c>) sent so far.</summary>
    private static int GroupReads(CountedJobService rig) =>
        rig.Scripts.CountCommands(command => command[0] == "HMGET" && command[1].StartsWith(JobKeys.Group(""), StringComparison.Ordinal));

    /// <summary>Reads of job records (<c>HMGET dc:job:… record …</c>) sent so far.</summary>
    private static int RecordReads(CountedJobService rig) =>
        rig.Scripts.CountCommands(command => command[0] == "HMGET" && command[1].StartsWith(JobKeys.Job(""), StringComparison.Ordinal)
            && command.Skip(2).Contains("record"));
}
