using DirectorsConsole.JobService.Engine;
using DirectorsConsole.JobService.Model;

namespace DirectorsConsole.JobService.Tests.Engine;

/// <summary>
/// What a reconcile reads (<see cref="RenderEventApplier.ReconcileAsync"/>): the jobs holding a slot and the running
/// ones every time, and the queued jobs one page at a time, however many wait. It used to read every queued job each
/// time, which with tens of thousands waiting took longer than its interval and held the scheduler's loop throughout.
/// Run on a JobService whose own scheduler never runs (the test holds the scheduler's lease).
/// </summary>
public sealed class ReconcileReadTests
{
    private const int Waiting = 1_200;

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Fact]
    public async Task AReconcileReadsTheDispatchedJobsAndOnePageOfTheQueueNotEveryQueuedJob()
    {
        // Arrange: two jobs dispatched to a backend with two slots, and 1,200 more waiting behind them
        await using var rig = await CountedJobService.StartAsync(("reconcile-a", 2));
        var dispatched = await rig.SubmitAsync("reconcile-a", 2);
        Assert.Equal(2, await rig.Scheduler.RunPassAsync(Token));
        await SubmitManyAsync(rig, "reconcile-a", Waiting);
        var applier = rig.Get<RenderEventApplier>();
        var readsBefore = JobReads(rig);

        // Act
        await applier.ReconcileAsync(Token);

        // Assert: one page of the queue (which holds the two dispatched jobs too: they have not started), not all of it
        var reads = JobReads(rig) - readsBefore;
        Assert.InRange(reads, dispatched.Count, RenderEventApplier.QueuedSweepPage + dispatched.Count);
    }

    [Fact]
    public async Task AJobSentToABackendNoLongerRegisteredIsFoundByTheSweepDeepInTheQueue()
    {
        // Arrange: 1,200 jobs waiting, then one more, recorded as sent (as the scheduler does) to a backend that is no
        // longer registered: the slot it holds is one no known backend names, so only the sweep of the queue finds it
        await using var rig = await CountedJobService.StartAsync(("reconcile-b", 1));
        await SubmitManyAsync(rig, "reconcile-b", Waiting);
        await Task.Delay(20, Token); // submitted after every other, so last in the queued index
        var last = (await rig.SubmitAsync("reconcile-b", 1))[0];
        var sent = await rig.Get<JobStateMachine>().ChangeAsync(last.JobId, j => JobEngineState.InQueue(j.Record, j.State)
            ? new JobChange(
                j.Record with { BackendId = "reconcile-gone", PromptId = Guid.NewGuid().ToString(), Attempts = ["reconcile-gone"] },
                j.State with { Dispatch = DispatchStates.Sent, DispatchedAt = DateTimeOffset.UtcNow })
            : null, Token);
        Assert.Equal(ChangeOutcome.Applied, sent.Outcome);
        var applier = rig.Get<RenderEventApplier>();
        var pages = (Waiting + 1 + RenderEventApplier.QueuedSweepPage - 1) / RenderEventApplier.QueuedSweepPage;

        // Act: as many reconciles as the sweep needs to reach the last page
        var movedAt = 0;
        for (var reconcile = 1; reconcile <= pages && movedAt == 0; reconcile++)
        {
            await applier.ReconcileAsync(Token);
            if ((await rig.Store.GetJobAsync(last.JobId, Token))!.State.Dispatch == DispatchStates.None)
            {
                movedAt = reconcile;
            }
        }

        // Assert: moved back to a queue once the sweep reached it (on the last page)
        Assert.InRange(movedAt, 1, pages);
        var moved = (await rig.Store.GetJobAsync(last.JobId, Token))!;
        Assert.Equal((JobStatuses.Queued, (string?)null), (moved.Record.Status, moved.Record.PromptId));
        Assert.Contains("reconcile-gone", moved.Record.Attempts);
    }

    /// <summary>Reads of job hashes (<c>HMGET dc:job:…</c>) sent so far.</summary>
    private static int JobReads(CountedJobService rig) =>
        rig.Scripts.CountCommands(command => command[0] == "HMGET" && command[1].StartsWith(JobKeys.Job(""), StringComparison.Ordinal));

    private static async Task SubmitManyAsync(CountedJobService rig, string backendId, int count)
    {
        foreach (var chunk in Enumerable.Range(0, count).Chunk(100))
        {
            await Task.WhenAll(chunk.Select(i => rig.Engine.SubmitJobAsync(
                new JobSubmission(EngineRig.Prompt(seed: 1_000 + i)) { BackendAffinity = backendId }, Token)));
        }
    }
}
