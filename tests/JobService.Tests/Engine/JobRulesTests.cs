using DirectorsConsole.Contracts;
using DirectorsConsole.JobService.Engine;
using DirectorsConsole.JobService.Model;

namespace DirectorsConsole.JobService.Tests.Engine;

/// <summary>The job state machine and group status rules, without Redis.</summary>
public sealed class JobRulesTests
{
    private static readonly DateTimeOffset T0 = new(2026, 2, 1, 7, 0, 0, TimeSpan.Zero);

    private static StoredJob Dispatched(string status = JobStatuses.Queued, double progress = 0, bool cancelRequested = false) => new(
        new JobRecord("job-1", status, T0) { BackendId = "a", PromptId = "p-1", Attempts = ["a"], Progress = progress, QueuedAt = T0, TimeoutSeconds = 30,
            StartedAt = status == JobStatuses.Running ? T0 : null },
        new JobEngineState { Dispatch = DispatchStates.Sent, CancelRequested = cancelRequested },
        3);

    private static RenderEvent Event(string kind, string promptId = "p-1", DateTimeOffset? at = null) => new(kind, promptId, "job-1", "a", at ?? T0.AddSeconds(1));

    [Fact]
    public void StartedMakesTheJobRunningFromTheEventsTime()
    {
        var decision = JobRules.OnRenderEvent(Dispatched(), Event(RenderEventKinds.Started));

        Assert.Equal(JobStatuses.Running, decision.Change!.Record.Status);
        Assert.Equal(T0.AddSeconds(1), decision.Change.Record.StartedAt);
        Assert.Equal([JobEventKinds.Started], decision.Change.Events.Select(e => e.Kind));
    }

    [Fact]
    public void ProgressNeverGoesBackwardsAndALostStartIsImplied()
    {
        var backwards = JobRules.OnRenderEvent(Dispatched(JobStatuses.Running, progress: 50), Event(RenderEventKinds.Progress) with { Percent = 40 });
        var fromQueued = JobRules.OnRenderEvent(Dispatched(), Event(RenderEventKinds.Progress) with { Percent = 25, NodeClass = "KSampler", StepsDone = 5, StepsTotal = 20 });

        Assert.Null(backwards.Change);
        Assert.Equal(JobStatuses.Running, fromQueued.Change!.Record.Status);
        Assert.Equal(25, fromQueued.Change.Record.Progress);
        Assert.Equal("KSampler", fromQueued.Change.Record.CurrentStep);
        Assert.Equal((5, 20), (fromQueued.Change.Record.StepsCompleted, fromQueued.Change.Record.StepsTotal));
        Assert.Equal([JobEventKinds.Started, JobEventKinds.Progress], fromQueued.Change.Events.Select(e => e.Kind));
        Assert.Equal(20, (int)fromQueued.Change.Events[1].Payload["steps_total"]!);
    }

    [Fact]
    public void ACompletionWhoseStartWasLostStartsTheJobFirst()
    {
        var fromQueued = JobRules.OnRenderEvent(Dispatched(), Event(RenderEventKinds.Completed));
        var fromRunning = JobRules.OnRenderEvent(Dispatched(JobStatuses.Running, progress: 50), Event(RenderEventKinds.Completed));

        Assert.Equal(JobStatuses.Completed, fromQueued.Change!.Record.Status);
        Assert.Equal([JobEventKinds.Started, JobEventKinds.Completed], fromQueued.Change.Events.Select(e => e.Kind));
        Assert.Equal([JobEventKinds.Completed], fromRunning.Change!.Events.Select(e => e.Kind));
    }

    [Theory]
    [InlineData(JobStatuses.Completed)]
    [InlineData(JobStatuses.Failed)]
    [InlineData(JobStatuses.Cancelled)]
    [InlineData(JobStatuses.Timeout)]
    public void FinalStatesIgnoreEveryLaterEvent(string final)
    {
        foreach (var kind in new[] { RenderEventKinds.Started, RenderEventKinds.Progress, RenderEventKinds.Completed, RenderEventKinds.Failed, RenderEventKinds.Interrupted })
        {
            Assert.Equal(RenderDecision.Ignore, JobRules.OnRenderEvent(Dispatched(final), Event(kind)));
        }
    }

    [Fact]
    public void EventsOfAnEarlierAttemptAreIgnored()
    {
        Assert.Equal(RenderDecision.Ignore, JobRules.OnRenderEvent(Dispatched(JobStatuses.Running), Event(RenderEventKinds.Completed, promptId: "p-0")));
    }

    [Fact]
    public void CompletedGroupsOutputsByKind()
    {
        var completed = Event(RenderEventKinds.Completed) with
        {
            Outputs =
            [
                new RenderOutput("images", "9") { Filename = "a.png", Subfolder = "x", Type = "output", Url = "http://n/view?filename=a.png" },
                new RenderOutput("images", "9") { Filename = "b.png", Subfolder = "x", Type = "output", Url = "http://n/view?filename=b.png" },
                new RenderOutput("text", "4") { Text = "hello" },
            ],
        };

        var change = JobRules.OnRenderEvent(Dispatched(JobStatuses.Running), completed).Change!;

        Assert.Equal(JobStatuses.Completed, change.Record.Status);
        Assert.Equal(100, change.Record.Progress);
        Assert.Equal(2, change.Record.Outputs!["images"]!.AsArray().Count);
        Assert.Equal("b.png", (string?)change.Record.Outputs["images"]![1]!["filename"]);
        Assert.Equal("hello", (string?)change.Record.Outputs["text"]![0]!["text"]);
        Assert.Equal(JobEventKinds.Completed, Assert.Single(change.Events).Kind);
    }

    [Theory]
    [InlineData(RenderErrorTypes.BackendLost)]
    [InlineData(RenderErrorTypes.BackendUnreachable)]
    public void LostBackendAsksForAFailover(string errorType)
    {
        var decision = JobRules.OnRenderEvent(Dispatched(JobStatuses.Running), Event(RenderEventKinds.Failed) with { ErrorType = errorType, Error = "gone" });

        Assert.True(decision.BackendLost);
        Assert.Null(decision.Change);
    }

    [Fact]
    public void OtherFailuresFailTheJobWithComfysError()
    {
        var change = JobRules.OnRenderEvent(Dispatched(JobStatuses.Running), Event(RenderEventKinds.Failed) with { ErrorType = "RuntimeError", Error = "CUDA out of memory" }).Change!;

        Assert.Equal(JobStatuses.Failed, change.Record.Status);
        Assert.Equal("RuntimeError", change.Record.ErrorType);
        Assert.Equal("CUDA out of memory", (string?)Assert.Single(change.Events).Payload["error"]);
    }

    [Fact]
    public void InterruptIsACancelOnlyWhenWeAskedForIt()
    {
        var ours = JobRules.OnRenderEvent(Dispatched(JobStatuses.Running, cancelRequested: true), Event(RenderEventKinds.Interrupted) with { Error = "interrupted" });
        var byCancelKey = JobRules.OnRenderEvent(Dispatched(JobStatuses.Running), Event(RenderEventKinds.Interrupted) with { Error = "cancelled" });
        var byTimeout = JobRules.OnRenderEvent(Dispatched(JobStatuses.Running), Event(RenderEventKinds.Interrupted, at: T0.AddSeconds(31)) with { Error = "cancelled" });
        var someoneElse = JobRules.OnRenderEvent(Dispatched(JobStatuses.Running), Event(RenderEventKinds.Interrupted) with { Error = "interrupted on the render node" });

        Assert.Equal(JobStatuses.Cancelled, ours.Change!.Record.Status);
        Assert.Equal(JobStatuses.Cancelled, byCancelKey.Change!.Record.Status);
        Assert.Equal(JobStatuses.Timeout, byTimeout.Change!.Record.Status);
        Assert.Equal(JobStatuses.Failed, someoneElse.Change!.Record.Status);
        Assert.Equal("interrupted", someoneElse.Change.Record.ErrorType);
    }

    [Fact]
    public void TimeoutCountsOnlyRunningTime()
    {
        var queuedLong = Dispatched() with { Record = Dispatched().Record with { QueuedAt = T0.AddHours(-1) } };

        Assert.False(JobRules.IsTimedOut(queuedLong.Record, T0.AddHours(1)));
        Assert.False(JobRules.IsTimedOut(Dispatched(JobStatuses.Running).Record, T0.AddSeconds(29)));
        Assert.True(JobRules.IsTimedOut(Dispatched(JobStatuses.Running).Record, T0.AddSeconds(30)));
    }

    [Fact]
    public void MoveRequeuesOnTheNewBackendAndFailsWhenNoneIsLeft()
    {
        var job = Dispatched(JobStatuses.Running, progress: 40);

        var moved = JobRules.Move(job, "b", "backend_lost", "gone", maxReassignments: 2, T0);
        var nowhere = JobRules.Move(job, null, "backend_lost", "gone", maxReassignments: 2, T0);
        var exhausted = JobRules.Move(job with { State = job.State with { Reassignments = 2 } }, "b", "backend_lost", "gone", maxReassignments: 2, T0);

        Assert.Equal(JobStatuses.Queued, moved.Record.Status);
        Assert.Equal("b", moved.Record.BackendId);
        Assert.Null(moved.Record.PromptId);
        Assert.Equal(0, moved.Record.Progress);
        Assert.Equal(("b", DispatchStates.None, 1), (moved.State.Target, moved.State.Dispatch, moved.State.Reassignments));
        var reassigned = Assert.Single(moved.Events).Payload;
        Assert.Equal(("a", "b", 2, "backend_lost"), ((string?)reassigned["from_backend_id"], (string?)reassigned["backend_id"], (int)reassigned["attempt"]!, (string?)reassigned["reason"]));
        Assert.Equal(JobErrorTypes.NoBackendLeft, nowhere.Record.ErrorType);
        Assert.Equal(JobErrorTypes.NoBackendLeft, exhausted.Record.ErrorType);
        Assert.Equal(JobStatuses.Failed, exhausted.Record.Status);
    }

    [Theory]
    [InlineData(JobGroupStatuses.Running, new[] { "completed", "running" }, JobGroupStatuses.Running)]
    [InlineData(JobGroupStatuses.Running, new[] { "completed", "completed" }, JobGroupStatuses.Completed)]
    [InlineData(JobGroupStatuses.Running, new[] { "failed", "timeout" }, JobGroupStatuses.Failed)]
    [InlineData(JobGroupStatuses.Running, new[] { "completed", "timeout" }, JobGroupStatuses.PartialComplete)]
    [InlineData(JobGroupStatuses.Running, new[] { "completed", "cancelled" }, JobGroupStatuses.PartialComplete)]
    [InlineData(JobGroupStatuses.Cancelled, new[] { "completed", "cancelled" }, JobGroupStatuses.Cancelled)]
    [InlineData(JobGroupStatuses.Cancelled, new[] { "queued" }, JobGroupStatuses.Cancelled)]
    [InlineData(JobGroupStatuses.Running, new[] { "awaiting_approval", "running" }, JobGroupStatuses.Running)]
    [InlineData(JobGroupStatuses.Running, new[] { "awaiting_approval", "failed" }, JobGroupStatuses.AwaitingApproval)]
    [InlineData(JobGroupStatuses.AwaitingApproval, new[] { "completed", "awaiting_approval" }, JobGroupStatuses.AwaitingApproval)]
    [InlineData(JobGroupStatuses.AwaitingApproval, new[] { "completed", "rejected" }, JobGroupStatuses.PartialComplete)]
    [InlineData(JobGroupStatuses.AwaitingApproval, new[] { "failed", "rejected" }, JobGroupStatuses.Rejected)]
    [InlineData(JobGroupStatuses.Cancelled, new[] { "awaiting_approval" }, JobGroupStatuses.Cancelled)]
    public void GroupStatusFollowsItsChildren(string current, string[] children, string expected)
    {
        Assert.Equal(expected, JobEvents.GroupStatus(current, children));
    }

    [Fact]
    public void QueueScoreOrdersByPriorityThenArrival()
    {
        var scores = new[] { JobStore.QueueScore(1, 5), JobStore.QueueScore(0, 9), JobStore.QueueScore(-3, 100), JobStore.QueueScore(0, 10), JobStore.QueueScore(int.MaxValue, 1) };

        Assert.Equal([2, 1, 3, 0, 4], scores.Select((s, i) => (s, i)).OrderBy(x => x.s).Select(x => x.i));
    }
}
