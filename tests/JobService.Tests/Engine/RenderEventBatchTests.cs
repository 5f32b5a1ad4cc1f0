using DirectorsConsole.Contracts;
using DirectorsConsole.JobService.Engine;
using DirectorsConsole.JobService.Model;

namespace DirectorsConsole.JobService.Tests.Engine;

/// <summary>
/// Render events of one job that arrive together are applied with one script, each as if applied alone: its own stream
/// events, history entries and status changes, in order, once. A job changed meanwhile (another replica applying the
/// same events) has the rest decided again one by one, and still nothing counts twice.
/// </summary>
public sealed class RenderEventBatchTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Fact]
    public async Task AJobsStartedProgressAndCompletedAppliedTogetherAreOneScriptAndEachCountsOnce()
    {
        // Arrange: a job dispatched on a backend, and its node's events
        await using var rig = await CountedJobService.StartAsync(("events-a", 1));
        var (job, events) = await DispatchAsync(rig, "events-a");
        var applier = rig.Get<RenderEventApplier>();
        var before = rig.ChangeScripts;

        // Act: the burst, then the same burst again (another replica, or a reconcile)
        await applier.ApplyAsync(events, Token);
        var scripts = rig.ChangeScripts - before;
        await applier.ApplyAsync(events, Token);

        // Assert: one script; every event once, in order; each status change its own history entry
        Assert.Equal(1, scripts);
        var stored = await rig.Store.GetJobAsync(job.JobId, Token);
        Assert.Equal((JobStatuses.Completed, 100.0), (stored!.Record.Status, stored.Record.Progress));
        var stream = await rig.Get<RedisJobEventStream>().ReadAsync(JobStreamId.Job(job.JobId), 0, Token);
        Assert.Equal(["job_started", "job_progress", "job_progress", "job_completed"], stream.Select(e => e.Type));
        Assert.Equal([1L, 2L, 3L, 4L], stream.Select(e => e.Sequence));
        var history = await rig.Store.GetHistoryAsync(job.JobId, Token);
        Assert.Equal(
            [(JobStatuses.Queued, JobStatuses.Running), (JobStatuses.Running, JobStatuses.Completed)],
            history.Where(h => h.Event == JobHistoryEvents.StatusChanged)
                .Select(h => ((string?)h.Details["from_status"], (string?)h.Details["status"])));
        Assert.Equal(0, await rig.Store.CountSlotsAsync("events-a", Token));
    }

    [Fact]
    public async Task WhenAnotherReplicaAppliedTheFirstEventMeanwhileTheRestIsDecidedAgainAndNothingCountsTwice()
    {
        // Arrange: the burst's script held while another replica applies the job's start on its own
        await using var rig = await CountedJobService.StartAsync(("events-b", 1));
        var (job, events) = await DispatchAsync(rig, "events-b");
        var applier = rig.Get<RenderEventApplier>();
        var held = rig.Scripts.HoldNext((script, _) => script == JobStore.ChangeScript);
        var burst = applier.ApplyAsync(events, Token);
        await held.WaitAsync(Patience, Token);

        // Act
        await applier.ApplyAsync(events[0], Token);
        rig.Scripts.Release();
        await burst.WaitAsync(Patience, Token);

        // Assert: started once, then the rest in order
        var stream = await rig.Get<RedisJobEventStream>().ReadAsync(JobStreamId.Job(job.JobId), 0, Token);
        Assert.Equal(["job_started", "job_progress", "job_progress", "job_completed"], stream.Select(e => e.Type));
        Assert.Equal(JobStatuses.Completed, (await rig.Store.GetJobAsync(job.JobId, Token))!.Record.Status);
    }

    /// <summary>Submits a job for <paramref name="backendId"/>, dispatches it with a scheduler pass, and makes its
    /// node's events: started, two progress steps, completed.</summary>
    private static async Task<(JobRecord Job, IReadOnlyList<RenderEvent> Events)> DispatchAsync(CountedJobService rig, string backendId)
    {
        var submitted = (await rig.SubmitAsync(backendId, 1))[0];
        Assert.Equal(1, await rig.Scheduler.RunPassAsync(Token));
        var job = (await rig.Store.GetJobAsync(submitted.JobId, Token))!.Record;
        var at = DateTimeOffset.UtcNow;
        RenderEvent Event(string kind, int offsetMs) => new(kind, job.PromptId!, job.JobId, backendId, at.AddMilliseconds(offsetMs));
        return (job,
        [
            Event(RenderEventKinds.Started, 0) with { Percent = 0 },
            Event(RenderEventKinds.Progress, 1) with { Percent = 50, NodeClass = "KSampler", StepsDone = 1, StepsTotal = 2 },
            Event(RenderEventKinds.Progress, 2) with { Percent = 90, NodeClass = "KSampler", StepsDone = 2, StepsTotal = 2 },
            Event(RenderEventKinds.Completed, 3) with { Percent = 100, Outputs = [] },
        ]);
    }
}
