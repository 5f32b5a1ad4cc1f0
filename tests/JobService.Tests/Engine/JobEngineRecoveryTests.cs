using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using DirectorsConsole.JobService.Engine;
using DirectorsConsole.JobService.Model;
using DirectorsConsole.Testing;

namespace DirectorsConsole.JobService.Tests.Engine;

/// <summary>Lost render nodes and lost JobService instances, each on a rig of its own.</summary>
public sealed class JobEngineRecoveryTests(ITestOutputHelper output)
{
    private static CancellationToken Token => EngineRig.Token;

    [Fact]
    public async Task ChildMovesToTheOtherBackendWhenItsNodeIsKilledMidRun()
    {
        // Arrange
        await using var rig = await EngineRig.StartAsync([1, 1]);
        var submission = new JobGroupSubmission(EngineRig.Prompt(steps: 60, delayMs: 50), [EngineRig.BackendId(0), EngineRig.BackendId(1)], [7, 8]) { TimeoutSeconds = 120 };
        var view = await rig.Engine().SubmitGroupAsync(submission, Token);
        var lostChild = view.Children[0];
        var running = await rig.WaitForJobAsync(lostChild.JobId, j => j.Status == JobStatuses.Running && j.Progress > 0);

        // Act
        await rig.Emulators[0].KillAsync();
        var ended = await rig.WaitForGroupEndAsync(view.Group.JobGroupId, TimeSpan.FromSeconds(90));

        // Assert: the child was reassigned once, with a new prompt id, and completed on emu-1
        Assert.Equal(JobGroupStatuses.Completed, ended.Group.Status);
        var moved = ended.Children[0];
        Assert.Equal(JobStatuses.Completed, moved.Status);
        Assert.Equal(EngineRig.BackendId(1), moved.BackendId);
        Assert.Equal([EngineRig.BackendId(0), EngineRig.BackendId(1)], moved.Attempts);
        Assert.NotEqual(running.PromptId, moved.PromptId);
        Assert.Contains(moved.PromptId!, await rig.HistoryAsync(1));
        var events = await rig.Streams().ReadAsync(JobStreamId.Group(view.Group.JobGroupId), 0, Token);
        var reassigned = Assert.Single(events, e => e.Type == "child_reassigned").Payload;
        Assert.Equal(lostChild.JobId, (string?)reassigned["job_id"]);
        Assert.Equal(EngineRig.BackendId(0), (string?)reassigned["from_backend_id"]);
        Assert.Equal(EngineRig.BackendId(1), (string?)reassigned["backend_id"]);
        Assert.Equal(2, (int)reassigned["attempt"]!);
        Assert.Equal("backend_lost", (string?)reassigned["reason"]);
        Assert.All(ended.Children, c => Assert.Single(events, e => e.Type == "child_completed" && (string?)e.Payload["job_id"] == c.JobId));
        Assert.DoesNotContain(events, e => e.Type == "child_failed");
        Assert.Single(events, e => e.Type == "group_complete");

        // The child's history through the client API: every change in order, the move to emu-1 included
        using var client = rig.Client();
        var history = (await client.GetFromJsonAsync<JsonArray>($"/api/v1/jobs/{lostChild.JobId}/history", Token))!
            .Select(entry => entry!.AsObject()).ToList();
        var kinds = history.Select(entry => (string?)entry["event"]).ToList();
        Assert.Equal("submitted", kinds[0]);
        Assert.Equal("completed", kinds[^1]);
        var startedOn = history.Where(e => (string?)e["event"] == "started").Select(e => (string?)e["backend_id"]).ToList();
        Assert.Equal([EngineRig.BackendId(0), EngineRig.BackendId(1)], startedOn);
        var reassignedAt = kinds.IndexOf("reassigned");
        Assert.InRange(reassignedAt, kinds.IndexOf("started") + 1, kinds.LastIndexOf("started") - 1);
        Assert.Equal(EngineRig.BackendId(1), (string?)history[reassignedAt]["backend_id"]);
        Assert.Contains(history, e => (string?)e["event"] == "status_changed" && (string?)e["from_status"] == "running" && (string?)e["status"] == "completed");
        var times = history.Select(e => DateTimeOffset.Parse((string)e["at"]!, CultureInfo.InvariantCulture)).ToList();
        Assert.Equal(times.Order(), times);
        Assert.DoesNotContain("progress", kinds);

        // Both renders' starts and the completions were measured by the replica that made the changes
        var metrics = await client.GetStringAsync("/metrics", Token);
        Assert.Matches(@"(?m)^dc_job_queue_wait_duration_seconds_count(\{[^}]*\})? [1-9]", metrics);
        Assert.Matches(@"(?m)^dc_job_render_duration_seconds_count\{[^}]*backend_id=""emu-1""[^}]*\} [1-9]", metrics);
    }

    [Fact]
    public async Task StandbyStartsTheNextJobSoonAfterTheSchedulingReplicaDies()
    {
        // Arrange: replica 0 reaches Redis through a relay the test can cut and runs the scheduler; replica 1 stands by
        await using var rig = await EngineRig.StartAsync([1, 1], jobReplicas: 0);
        await using var relay = new TcpRelay(rig.Garnet.Port);
        rig.AddJobReplica(relay.ConnectionString);
        var leaderLease = rig.Get<SchedulerLease>(0);
        await Eventually.ReturnsAsync(() => Task.FromResult(leaderLease.IsHeld), held => held, TimeSpan.FromSeconds(30));
        rig.AddJobReplica();
        var standbyLease = rig.Get<SchedulerLease>(1);
        var engine = rig.Engine(1);
        var first = await engine.SubmitJobAsync(new JobSubmission(EngineRig.Prompt(steps: 2)) { BackendAffinity = EngineRig.BackendId(0) }, Token);
        var firstEnded = await rig.WaitForEndAsync(first.JobId, replica: 1);
        var standbyHeldBefore = standbyLease.IsHeld;

        // Act: the scheduling replica dies (it neither renews nor releases the lease), then a job is submitted
        var sinceDeath = Stopwatch.StartNew();
        relay.Cut();
        var next = await engine.SubmitJobAsync(new JobSubmission(EngineRig.Prompt(steps: 2, seed: 2)) { BackendAffinity = EngineRig.BackendId(1) }, Token);
        var dispatched = await rig.WaitForJobAsync(next.JobId, j => j.PromptId is not null, TimeSpan.FromSeconds(8), replica: 1);
        var gap = sinceDeath.Elapsed;
        var ended = await rig.WaitForEndAsync(next.JobId, replica: 1);
        var leaderHeldAfter = await Eventually.ReturnsAsync(() => Task.FromResult(leaderLease.IsHeld), held => !held, TimeSpan.FromSeconds(5));

        // Assert: the standby took over and started the job; the cut-off replica stopped acting as the scheduler
        Assert.Equal(JobStatuses.Completed, firstEnded.Status);
        Assert.False(standbyHeldBefore);
        Assert.True(standbyLease.IsHeld);
        Assert.False(leaderHeldAfter);
        Assert.Equal(JobStatuses.Completed, ended.Status);
        Assert.Equal([EngineRig.BackendId(1)], dispatched.Attempts);
        output.WriteLine($"From the scheduling replica's death to the next job's dispatch by the standby: {gap.TotalMilliseconds:0} ms " +
            $"(lease TTL {rig.Get<Microsoft.Extensions.Options.IOptions<JobEngineOptions>>(1).Value.LeaderLeaseTtl.TotalMilliseconds:0} ms)");
    }

    [Fact]
    public async Task AStandbyTakingOverSendsTheDispatchItsDeadPredecessorLeftUnconfirmedAtOnce()
    {
        // Arrange: the periodic recovery of unconfirmed dispatches far away, so only the takeover can send the command;
        // replica 0 (through a relay the test can cut) runs the scheduler, replica 1 stands by
        var settings = new Dictionary<string, string?> { ["Jobs:DispatchRecoveryAfter"] = "00:01:00", ["Jobs:OfflineBackendGrace"] = "00:02:00" };
        await using var rig = await EngineRig.StartAsync([1, 1], jobReplicas: 0, serviceSettings: settings);
        await using var relay = new TcpRelay(rig.Garnet.Port);
        rig.AddJobReplica(relay.ConnectionString);
        var leaderLease = rig.Get<SchedulerLease>(0);
        await Eventually.ReturnsAsync(() => Task.FromResult(leaderLease.IsHeld), held => held, TimeSpan.FromSeconds(30));
        rig.AddJobReplica();
        // A job no backend advertises the capability for waits in the queue; the scheduler dispatches it to emu-1 and
        // dies before enqueueing the command: the dispatch is recorded (slot, prompt id, pending), the command is not.
        var job = await rig.Engine(1).SubmitJobAsync(new JobSubmission(EngineRig.Prompt(steps: 2)) { RequiredCapabilities = ["NoSuchNodeClass"] }, Token);
        var promptId = Guid.NewGuid().ToString();
        var recordedAt = DateTimeOffset.UtcNow;
        var dispatch = await rig.Get<JobStateMachine>(1).ChangeAsync(job.JobId, j => JobEngineState.InQueue(j.Record, j.State)
            ? new JobChange(
                j.Record with { BackendId = EngineRig.BackendId(1), PromptId = promptId, Attempts = [.. j.Record.Attempts, EngineRig.BackendId(1)] },
                j.State with { Dispatch = DispatchStates.Pending, DispatchedAt = recordedAt }) { SlotLimit = 1 }
            : null, Token);
        Assert.Equal(ChangeOutcome.Applied, dispatch.Outcome);

        // Act
        var sinceDeath = Stopwatch.StartNew();
        relay.Cut();
        var started = await rig.WaitForJobAsync(job.JobId, j => j.Status != JobStatuses.Queued, TimeSpan.FromSeconds(45), replica: 1);
        var gap = sinceDeath.Elapsed;
        var ended = await rig.WaitForEndAsync(job.JobId, replica: 1);

        // Assert: started under the prompt id recorded by the dead scheduler, long before the periodic recovery, and ran once
        output.WriteLine($"From the scheduling replica's death to the start of the job whose dispatch it left unconfirmed: {gap.TotalMilliseconds:0} ms " +
            "(the periodic recovery would have sent it 60 s after the dispatch was recorded)");
        Assert.True(rig.Get<SchedulerLease>(1).IsHeld);
        Assert.Equal(promptId, started.PromptId);
        Assert.Equal(JobStatuses.Completed, ended.Status);
        Assert.Equal([promptId], (await rig.HistoryAsync(1)).ToList());
    }

    [Fact]
    public async Task AJobSentToABackendRemovedBeforeItTookTheCommandMovesWithoutWaitingForTheOfflineGrace()
    {
        // Arrange: a grace far away, so only the removal can move the job. A job waits in the queue (a capability nothing
        // has); it is then recorded as sent, as the scheduler does, to a backend that is no longer registered (deleted
        // after the scheduler chose it: its queue has no worker left), without the capability, so it may run elsewhere
        var settings = new Dictionary<string, string?> { ["Jobs:OfflineBackendGrace"] = "00:02:00" };
        await using var rig = await EngineRig.StartAsync([1], serviceSettings: settings);
        var job = await rig.Engine().SubmitJobAsync(new JobSubmission(EngineRig.Prompt(steps: 2)) { RequiredCapabilities = ["NoSuchNodeClass"] }, Token);
        var sent = await rig.Get<JobStateMachine>().ChangeAsync(job.JobId, j => JobEngineState.InQueue(j.Record, j.State)
            ? new JobChange(
                j.Record with { BackendId = "emu-removed", PromptId = Guid.NewGuid().ToString(), Attempts = ["emu-removed"], RequiredCapabilities = [] },
                j.State with { Dispatch = DispatchStates.Sent, DispatchedAt = DateTimeOffset.UtcNow })
            : null, Token);
        Assert.Equal(ChangeOutcome.Applied, sent.Outcome);

        // Act
        var ended = await rig.WaitForEndAsync(job.JobId, TimeSpan.FromSeconds(45));

        // Assert: moved to the registered backend and run there once
        Assert.Equal(JobStatuses.Completed, ended.Status);
        Assert.Equal(["emu-removed", EngineRig.BackendId(0)], ended.Attempts);
        Assert.Equal([ended.PromptId!], (await rig.HistoryAsync(0)).ToList());
    }

    [Fact]
    public async Task AnotherInstanceFinishesTheGroupOfADisposedOneWithoutRunningAPromptTwice()
    {
        // Arrange: four children on two one-slot nodes, so two run and two wait
        await using var rig = await EngineRig.StartAsync([1, 1]);
        var backends = new[] { EngineRig.BackendId(0), EngineRig.BackendId(1), EngineRig.BackendId(0), EngineRig.BackendId(1) };
        var submission = new JobGroupSubmission(EngineRig.Prompt(steps: 20, delayMs: 50), backends, [1, 2, 3, 4]) { TimeoutSeconds = 120 };
        var view = await rig.Engine().SubmitGroupAsync(submission, Token);
        await rig.WaitForJobAsync(view.Children[0].JobId, j => j.Status == JobStatuses.Running);

        // Act: the only JobService goes away mid-group (renders go on without anyone listening), then another starts
        var first = rig.JobReplicas[0];
        rig.JobReplicas.Remove(first);
        await first.DisposeAsync();
        await Eventually.ReturnsAsync(() => rig.HistoryAsync(0), h => h.Count >= 1, TimeSpan.FromSeconds(30));
        rig.AddJobReplica();
        var ended = await rig.WaitForGroupEndAsync(view.Group.JobGroupId, TimeSpan.FromSeconds(90));

        // Assert: every child ended once, each prompt ran once, and the nodes ran nothing else
        Assert.Equal(JobGroupStatuses.Completed, ended.Group.Status);
        Assert.All(ended.Children, c => Assert.Equal(JobStatuses.Completed, c.Status));
        Assert.All(ended.Children, c => Assert.Single(c.Attempts));
        var events = await rig.Streams().ReadAsync(JobStreamId.Group(view.Group.JobGroupId), 0, Token);
        Assert.Equal(Enumerable.Range(1, events.Count).Select(i => (long)i), events.Select(e => e.Sequence));
        Assert.All(ended.Children, c => Assert.Single(events, e => e.Type == "child_completed" && (string?)e.Payload["job_id"] == c.JobId));
        Assert.Single(events, e => e.Type == "group_complete");
        var history = (await rig.HistoryAsync(0)).Concat(await rig.HistoryAsync(1)).ToList();
        Assert.Equal(ended.Children.Select(c => c.PromptId!).Order(), history.Order());
        for (var i = 0; i < backends.Length; i++)
        {
            Assert.Contains(ended.Children[i].PromptId!, await rig.HistoryAsync(i % 2));
        }
    }
}
