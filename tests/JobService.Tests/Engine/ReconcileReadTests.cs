using DirectorsConsole.JobService.Engine;
using DirectorsConsole.JobService.Model;

namespace DirectorsConsole.JobService.Tests.Engine;

/// <summary>
/// What a reconcile reads (<see cref="RenderEventApplier.ReconcileAsync"/>): the jobs holding a slot and the running
/// ones, however many wait in the queues. It used to read every queued job each time, which with tens of thousands
/// waiting took longer than its interval and held the scheduler's loop throughout. The queued jobs are looked at by the
/// sweep (<see cref="JobMaintenance.SweepQueuedAsync"/>), one page at a time. Run on a JobService whose own scheduler
/// never runs (the test holds the scheduler's lease).
/// </summary>
public sealed class ReconcileReadTests
{
    private const int Waiting = 1_200;

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Fact]
    public async Task AReconcileReadsTheDispatchedJobsNotTheQueuedOnes()
    {
        // Arrange: two jobs dispatched to a backend with two slots, and 1,200 more waiting behind them
        await using var rig = await CountedJobService.StartAsync(("reconcile-a", 2));
        var dispatched = await rig.SubmitAsync("reconcile-a", 2);
        Assert.Equal(2, await rig.Scheduler.RunPassAsync(Token));
        await rig.SubmitManyAsync("reconcile-a", Waiting);
        var applier = rig.Get<RenderEventApplier>();
        var readsBefore = rig.JobReads;

        // Act
        await applier.ReconcileAsync(Token);

        // Assert: the two dispatched jobs (by their backend's slots), none of those waiting
        Assert.Equal(dispatched.Count, rig.JobReads - readsBefore);
    }

    [Fact]
    public async Task AJobSentToABackendNoLongerRegisteredIsMovedByTheSweepOfTheQueueEvenDeepInIt()
    {
        // Arrange: 1,200 jobs waiting, then one more, recorded as sent (as the scheduler does) to a backend that is no
        // longer registered: the slot it holds is one no known backend names, so the reconcile does not find it
        await using var rig = await CountedJobService.StartAsync(("reconcile-b", 1));
        await rig.SubmitManyAsync("reconcile-b", Waiting);
        await Task.Delay(20, Token); // submitted after every other, so last in the queued index
        var last = (await rig.SubmitAsync("reconcile-b", 1))[0];
        var sent = await rig.Get<JobStateMachine>().ChangeAsync(last.JobId, j => JobEngineState.InQueue(j.Record, j.State)
            ? new JobChange(
                j.Record with { BackendId = "reconcile-gone", PromptId = Guid.NewGuid().ToString(), Attempts = ["reconcile-gone"] },
                j.State with { Dispatch = DispatchStates.Sent, DispatchedAt = DateTimeOffset.UtcNow })
            : null, Token);
        Assert.Equal(ChangeOutcome.Applied, sent.Outcome);
        await rig.Get<RenderEventApplier>().ReconcileAsync(Token);
        var afterReconcile = (await rig.Store.GetJobAsync(last.JobId, Token))!;
        var maintenance = rig.Get<JobMaintenance>();
        var pages = (Waiting + 1 + JobMaintenance.QueuedSweepPage - 1) / JobMaintenance.QueuedSweepPage;

        // Act: as many sweeps as it takes to reach the last page
        var movedAt = 0;
        for (var sweep = 1; sweep <= pages && movedAt == 0; sweep++)
        {
            await maintenance.SweepQueuedAsync(Token);
            if ((await rig.Store.GetJobAsync(last.JobId, Token))!.State.Dispatch == DispatchStates.None)
            {
                movedAt = sweep;
            }
        }

        // Assert: the reconcile does not see it; the sweep moves it back to a queue once it reaches it, on the last page
        Assert.Equal(DispatchStates.Sent, afterReconcile.State.Dispatch);
        Assert.Equal(pages, movedAt);
        var moved = (await rig.Store.GetJobAsync(last.JobId, Token))!;
        Assert.Equal((JobStatuses.Queued, (string?)null), (moved.Record.Status, moved.Record.PromptId));
        Assert.Contains("reconcile-gone", moved.Record.Attempts);
    }
}
