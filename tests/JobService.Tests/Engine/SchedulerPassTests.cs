using DirectorsConsole.Contracts;
using DirectorsConsole.JobService.Engine;
using DirectorsConsole.JobService.Model;
using DirectorsConsole.Messaging;
using DirectorsConsole.Testing;

namespace DirectorsConsole.JobService.Tests.Engine;

/// <summary>
/// One scheduler pass makes its dispatches with three scripts however many they are: one change script claims them all
/// (each change checked on its own), one enqueue sends every command, one change script confirms them. The pass is run
/// by the test on a JobService whose own scheduler never runs (the test holds the scheduler's lease), with the backend
/// registry written into Redis as BackendService writes it and nothing reading the backends' queues.
/// </summary>
public sealed class SchedulerPassTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Fact]
    public async Task APassDispatchingSixJobsClaimsThemWithOneScriptAndSendsTheirCommandsWithOneEnqueue()
    {
        // Arrange: four slots on pass-a, two on pass-b, and seven jobs: four for a, three for b
        await using var rig = await CountedJobService.StartAsync(("pass-a", 4), ("pass-b", 2));
        var forA = await rig.SubmitAsync("pass-a", 4);
        var forB = await rig.SubmitAsync("pass-b", 3);
        var (changesBefore, enqueuesBefore) = (rig.ChangeScripts, rig.Enqueues);

        // Act
        var dispatched = await rig.Scheduler.RunPassAsync(Token);

        // Assert: six dispatched in queue order (b's third waits for a slot), with two change scripts (claim, confirm)
        // and one enqueue
        Assert.Equal(6, dispatched);
        Assert.Equal(2, rig.ChangeScripts - changesBefore);
        Assert.Equal(1, rig.Enqueues - enqueuesBefore);
        var sent = new List<JobRecord>();
        foreach (var job in forA.Concat(forB.Take(2)))
        {
            var stored = await rig.Store.GetJobAsync(job.JobId, Token);
            Assert.Equal(DispatchStates.Sent, stored!.State.Dispatch);
            Assert.Equal(job.BackendAffinity, stored.Record.BackendId);
            Assert.NotNull(stored.Record.PromptId);
            sent.Add(stored.Record);
        }

        var waiting = await rig.Store.GetJobAsync(forB[2].JobId, Token);
        Assert.Equal((JobStatuses.Queued, DispatchStates.None, (string?)null), (waiting!.Record.Status, waiting.State.Dispatch, waiting.Record.PromptId));
        Assert.Equal(sent.Where(j => j.BackendId == "pass-a").Select(j => (j.PromptId, j.JobId)).Order(), await rig.CommandsAsync("pass-a"));
        Assert.Equal(sent.Where(j => j.BackendId == "pass-b").Select(j => (j.PromptId, j.JobId)).Order(), await rig.CommandsAsync("pass-b"));
        Assert.Equal(4, await rig.Store.CountSlotsAsync("pass-a", Token));
        Assert.Equal(2, await rig.Store.CountSlotsAsync("pass-b", Token));
    }

    [Fact]
    public async Task AJobThatChangedWhileThePassClaimedItIsLeftAloneAndTheOthersAreDispatched()
    {
        // Arrange: three jobs for a backend with room for all, and the pass's claim held until one of them is cancelled
        await using var rig = await CountedJobService.StartAsync(("pass-c", 4));
        var jobs = await rig.SubmitAsync("pass-c", 3);
        var claimHeld = rig.Scripts.HoldNext((script, _) => script == JobStore.ChangeScript);
        var pass = rig.Scheduler.RunPassAsync(Token);
        await claimHeld.WaitAsync(Patience, Token);

        // Act
        var cancelled = await rig.Engine.CancelJobAsync(jobs[1].JobId, Token);
        rig.Scripts.Release();
        var dispatched = await pass.WaitAsync(Patience, Token);

        // Assert: the cancelled job stays cancelled, without a prompt, slot or command; the other two went out
        Assert.Equal(JobStatuses.Cancelled, cancelled!.Status);
        Assert.Equal(2, dispatched);
        var after = await rig.Store.GetJobAsync(jobs[1].JobId, Token);
        Assert.Equal((JobStatuses.Cancelled, (string?)null), (after!.Record.Status, after.Record.PromptId));
        var others = new[] { jobs[0], jobs[2] };
        var prompts = new List<(string?, string)>();
        foreach (var job in others)
        {
            var stored = await rig.Store.GetJobAsync(job.JobId, Token);
            Assert.Equal(DispatchStates.Sent, stored!.State.Dispatch);
            prompts.Add((stored.Record.PromptId, job.JobId));
        }

        Assert.Equal(prompts.Order(), await rig.CommandsAsync("pass-c"));
        Assert.Equal(2, await rig.Store.CountSlotsAsync("pass-c", Token));
    }

    [Fact]
    public async Task AClaimForASlotTakenWhileThePassWasOnItsWayIsRefusedAloneAndTheJobWaits()
    {
        // Arrange: two slots and three jobs, so the pass decides two dispatches; while its claim is held, one slot is taken
        await using var rig = await CountedJobService.StartAsync(("pass-d", 2));
        var jobs = await rig.SubmitAsync("pass-d", 3);
        var claimHeld = rig.Scripts.HoldNext((script, _) => script == JobStore.ChangeScript);
        var pass = rig.Scheduler.RunPassAsync(Token);
        await claimHeld.WaitAsync(Patience, Token);

        // Act
        await rig.Get<IRedisConnection>().ExecuteAsync(["SADD", JobKeys.Assigned("pass-d"), "a-job-of-another-pass"], Token);
        rig.Scripts.Release();
        var dispatched = await pass.WaitAsync(Patience, Token);

        // Assert: the first job in the queue took the last slot; the second stays queued with no prompt, as the third
        Assert.Equal(1, dispatched);
        var first = await rig.Store.GetJobAsync(jobs[0].JobId, Token);
        Assert.Equal(DispatchStates.Sent, first!.State.Dispatch);
        foreach (var job in jobs.Skip(1))
        {
            var waiting = await rig.Store.GetJobAsync(job.JobId, Token);
            Assert.Equal((JobStatuses.Queued, DispatchStates.None, (string?)null), (waiting!.Record.Status, waiting.State.Dispatch, waiting.Record.PromptId));
        }

        Assert.Equal([(first.Record.PromptId, jobs[0].JobId)], await rig.CommandsAsync("pass-d"));
        Assert.Equal(2, await rig.Store.CountSlotsAsync("pass-d", Token));
    }
}
