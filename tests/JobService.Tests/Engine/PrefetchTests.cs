using System.Text.Json.Nodes;
using DirectorsConsole.JobService.Engine;
using DirectorsConsole.JobService.Model;
using DirectorsConsole.Testing;

namespace DirectorsConsole.JobService.Tests.Engine;

/// <summary>Two one-slot emulated nodes: emu-0 with prefetch 3 of its own, emu-1 with <c>Jobs:DefaultPrefetch</c> 1 and,
/// for the jobs pinned to it, <c>Jobs:PinnedPrefetch</c> 2.</summary>
public sealed class PrefetchEngineRig : IAsyncLifetime
{
    private EngineRig? _rig;

    public EngineRig Rig => _rig ?? throw new InvalidOperationException("The rig has not started.");

    public async ValueTask InitializeAsync() => _rig = await EngineRig.StartAsync([1, 1], serviceSettings: new Dictionary<string, string?>
    {
        ["Jobs:DefaultPrefetch"] = "1",
        ["Jobs:PinnedPrefetch"] = "2",
        ["backends:0:prefetch"] = "3",
    });

    public async ValueTask DisposeAsync()
    {
        if (_rig is not null)
        {
            await _rig.DisposeAsync();
        }
    }
}

/// <summary>Jobs posted ahead to wait in a node's own queue: counted by the scheduler's one slot count, running (and
/// timed) only once the node starts them, cancelled out of the node's queue, overtaken there by higher-priority jobs,
/// and moved without running twice when their node is lost. The tests run one after the other and leave the nodes as
/// they found them.</summary>
public sealed class PrefetchTests(PrefetchEngineRig shared) : IClassFixture<PrefetchEngineRig>
{
    private EngineRig Rig => shared.Rig;

    private static CancellationToken Token => EngineRig.Token;

    [Fact]
    public async Task WithPrefetchOneAOneSlotNodeHoldsTwoJobsAndTheSecondStartsWhenTheNodeStartsIt()
    {
        // Arrange, act: on emu-1 (one slot, prefetch 1) a job running, held at its next step, and a second one sent
        var engine = Rig.Engine();
        var (first, second) = await HoldAJobAndPostAnotherBehindItAsync(1, new JobSubmission(EngineRig.Prompt(steps: 2, delayMs: 10, seed: 2)));
        var onNode = await Rig.QueueAsync(1);
        var whileWaiting = await engine.GetJobAsync(second.JobId, Token);
        var firstWhileWaiting = await engine.GetJobAsync(first.JobId, Token);
        var letGo = DateTimeOffset.UtcNow;
        await Rig.PostControlAsync(1, "unstall");

        // Assert: both on the node at once, the second waiting in its queue, not running
        Assert.Equal(JobStatuses.Running, firstWhileWaiting!.Status);
        Assert.Equal([first.PromptId!, second.PromptId!], onNode);
        Assert.Equal(JobStatuses.Queued, whileWaiting!.Status);
        Assert.Null(whileWaiting.StartedAt);
        var firstEnded = await Rig.WaitForEndAsync(first.JobId);
        var secondEnded = await Rig.WaitForEndAsync(second.JobId);
        Assert.Equal((JobStatuses.Completed, JobStatuses.Completed), (firstEnded.Status, secondEnded.Status));
        // The second could start only after the node was let go, long after it was posted. (Not compared with the
        // first's completed_at: each time is when BackendService saw it, and its reconcile may see the second running in
        // the node's queue a moment before it has handled the first's end from the node's socket.)
        Assert.True(secondEnded.StartedAt >= letGo,
            $"the second job started at {secondEnded.StartedAt:O}, before the node was let go at {letGo:O}: that is its post, not its start");
        Assert.True(secondEnded.StartedAt > firstEnded.StartedAt);
    }

    [Fact]
    public async Task AOneSlotNodeHoldsAsManyPinnedJobsAsItsPinnedPrefetchAndAnyBackendJobsOnlyUpToTheDefault()
    {
        // Arrange: on emu-1 (one slot, default prefetch 1, pinned prefetch 2) a job running, held at its next step, and a
        // second pinned one posted behind it
        var engine = Rig.Engine();
        var (first, second) = await HoldAJobAndPostAnotherBehindItAsync(1, new JobSubmission(EngineRig.Prompt(steps: 1, delayMs: 1, seed: 20)));

        // Act: a third pinned job, a fourth pinned one, and a job for any backend
        var third = await engine.SubmitJobAsync(new JobSubmission(EngineRig.Prompt(steps: 1, delayMs: 1, seed: 21)) { BackendAffinity = EngineRig.BackendId(1) }, Token);
        var thirdPosted = await WaitUntilOnTheNodeAsync(1, third.JobId);
        var fourth = await engine.SubmitJobAsync(new JobSubmission(EngineRig.Prompt(steps: 1, delayMs: 1, seed: 22)) { BackendAffinity = EngineRig.BackendId(1) }, Token);
        var anywhere = await engine.SubmitJobAsync(new JobSubmission(EngineRig.Prompt(steps: 1, delayMs: 1, seed: 23)), Token);
        var anywherePosted = await Rig.WaitForJobAsync(anywhere.JobId, j => j.PromptId is not null);
        await Task.Delay(TimeSpan.FromSeconds(1), Token); // several scheduler passes (0.2 s)
        var fourthWhileFull = await engine.GetJobAsync(fourth.JobId, Token);
        var onNode = await Rig.QueueAsync(1);
        await Rig.PostControlAsync(1, "unstall");
        var ended = new List<JobRecord>();
        foreach (var job in new[] { first, second, third, fourth, anywhere })
        {
            ended.Add(await Rig.WaitForEndAsync(job.JobId));
        }

        // Assert: three pinned jobs on emu-1 at once (running and two waiting), the fourth kept in the suite's queue, and
        // the job for any backend sent to emu-0, since emu-1 was full for it (two, its default limit)
        Assert.Equal([first.PromptId!, second.PromptId!, thirdPosted.PromptId!], onNode);
        Assert.Null(fourthWhileFull!.PromptId);
        Assert.Equal(EngineRig.BackendId(0), anywherePosted.BackendId);
        Assert.All(ended, j => Assert.Equal(JobStatuses.Completed, j.Status));
    }

    [Fact]
    public async Task AJobWaitingInTheNodesQueueBehindALongOneDoesNotTimeOutWhileItWaits()
    {
        // Arrange: on emu-1 a job running, held at its next step, and a short job with a 2 s timeout posted behind it
        var (first, second) = await HoldAJobAndPostAnotherBehindItAsync(1,
            new JobSubmission(EngineRig.Prompt(steps: 2, delayMs: 10, seed: 4)) { TimeoutSeconds = 2 });

        // Act: it waits there 3 s before the first goes on
        await Task.Delay(TimeSpan.FromSeconds(3), Token);
        await Rig.PostControlAsync(1, "unstall");
        var secondEnded = await Rig.WaitForEndAsync(second.JobId);
        var firstEnded = await Rig.WaitForEndAsync(first.JobId);

        // Assert: it waited longer than its timeout on the node, and still completed: its time counts from its start
        Assert.Equal(JobStatuses.Completed, secondEnded.Status);
        Assert.True(secondEnded.CompletedAt - secondEnded.SubmittedAt > TimeSpan.FromSeconds(2),
            $"the job waited only {secondEnded.CompletedAt - secondEnded.SubmittedAt}; the test needs it to wait longer than its timeout");
        Assert.True(secondEnded.StartedAt >= firstEnded.CompletedAt);
    }

    [Fact]
    public async Task CancelOfAJobWaitingInTheNodesQueueDeletesItThereAndEndsItCancelledOnce()
    {
        // Arrange: on emu-1 a job running, held at its next step, and a second one posted behind it
        var engine = Rig.Engine();
        var (first, second) = await HoldAJobAndPostAnotherBehindItAsync(1, new JobSubmission(EngineRig.Prompt(steps: 2, delayMs: 10, seed: 6)));

        // Act
        var cancelled = await engine.CancelJobAsync(second.JobId, Token);
        var queueAfter = await Eventually.ReturnsAsync(() => Rig.QueueAsync(1), q => !q.Contains(second.PromptId!), TimeSpan.FromSeconds(15));
        await engine.CancelJobAsync(first.JobId, Token);
        await Eventually.ReturnsAsync(() => Rig.QueueAsync(1), q => q.Count == 0, TimeSpan.FromSeconds(15));
        await Rig.PostControlAsync(1, "unstall");

        // Assert: cancelled once, deleted from the node's queue while the first still ran, never run there
        Assert.Equal(JobStatuses.Cancelled, cancelled!.Status);
        Assert.DoesNotContain(second.PromptId!, queueAfter);
        var history = JsonNode.Parse(await Rig.Emulators[1].Client.GetStringAsync($"history/{second.PromptId}", Token))!.AsObject();
        Assert.Empty(history);
        var events = await Rig.Streams().ReadAsync(JobStreamId.Job(second.JobId), 0, Token);
        Assert.Single(events, e => e.Type == "job_cancelled");
        Assert.DoesNotContain(events, e => e.Type is "job_started" or "job_completed" or "job_failed");
        Assert.Equal(JobStatuses.Cancelled, (await engine.GetJobAsync(second.JobId, Token))!.Status);
    }

    [Fact]
    public async Task AHigherPriorityJobSubmittedAfterLowerOnesWerePostedRunsBeforeThemOnTheNode()
    {
        // Arrange: a job running on emu-0 (one slot, prefetch 3), held at its next step, and two of priority 3 posted behind it
        var engine = Rig.Engine();
        await Rig.PostControlAsync(0, "stall");
        var first = await engine.SubmitJobAsync(new JobSubmission(EngineRig.Prompt(steps: 4, delayMs: 20, seed: 7)) { BackendAffinity = EngineRig.BackendId(0) }, Token);
        await Rig.WaitForJobAsync(first.JobId, j => j.Status == JobStatuses.Running);
        var routine = new List<JobRecord>();
        for (var i = 0; i < 2; i++)
        {
            routine.Add(await engine.SubmitJobAsync(
                new JobSubmission(EngineRig.Prompt(steps: 1, delayMs: 1, seed: 8 + i)) { BackendAffinity = EngineRig.BackendId(0), Priority = 3 }, Token));
        }

        foreach (var job in routine)
        {
            await WaitUntilOnTheNodeAsync(0, job.JobId);
        }

        // Act: a job of priority 0 (runs first) submitted after them
        var urgent = await engine.SubmitJobAsync(
            new JobSubmission(EngineRig.Prompt(steps: 1, delayMs: 1, seed: 10)) { BackendAffinity = EngineRig.BackendId(0), Priority = 0 }, Token);
        await WaitUntilOnTheNodeAsync(0, urgent.JobId);
        var onNode = await Rig.QueueAsync(0);
        var firstWhilePosted = await engine.GetJobAsync(first.JobId, Token);
        await Rig.PostControlAsync(0, "unstall");
        var ended = new List<JobRecord>();
        foreach (var job in routine.Prepend(urgent))
        {
            ended.Add(await Rig.WaitForEndAsync(job.JobId));
        }

        // Assert: all three waited on the node while the first ran; then the urgent one ran first, the others in order
        Assert.Equal(JobStatuses.Running, firstWhilePosted!.Status);
        Assert.Equal(4, onNode.Count);
        Assert.All(ended, j => Assert.Equal(JobStatuses.Completed, j.Status));
        // The order the node ran them in is its history's. (Not the jobs' started_at: each is when BackendService saw the
        // start, from the node's socket or from its reconcile's look at the node's queue, which may see the next one
        // running a moment before the socket's messages about the one before it are handled.)
        var ranOnTheNode = (await Rig.HistoryAsync(0)).Where(promptId => ended.Any(j => j.PromptId == promptId)).ToList();
        Assert.Equal(ended.Select(j => j.PromptId!), ranOnTheNode);
    }

    [Fact]
    public async Task AJobWaitingOnANodeThatIsLostMovesCompletesOnceAndDoesNotRunOnTheNodeWhenItIsBack()
    {
        // Arrange: on emu-0 a job running (held at its next step) and a second waiting in the node's queue
        try
        {
            var (first, second) = await HoldAJobAndPostAnotherBehindItAsync(0, new JobSubmission(EngineRig.Prompt(steps: 2, delayMs: 10, seed: 12)));

            // Act: the node is cut off; both jobs move to emu-1; then the node is back
            await Rig.PostControlAsync(0, "partition");
            var firstEnded = await Rig.WaitForEndAsync(first.JobId);
            var secondEnded = await Rig.WaitForEndAsync(second.JobId);
            await Rig.PostControlAsync(0, "heal");
            var leftOnNode = await Eventually.ReturnsAsync(() => Rig.QueueAsync(0), q => q.Count == 0, TimeSpan.FromSeconds(30));
            await Rig.PostControlAsync(0, "unstall");

            // Assert: both completed on emu-1, once; the node, back, ran neither (the waiting one deleted unrun)
            Assert.Equal((JobStatuses.Completed, EngineRig.BackendId(1)), (firstEnded.Status, firstEnded.BackendId));
            Assert.Equal((JobStatuses.Completed, EngineRig.BackendId(1)), (secondEnded.Status, secondEnded.BackendId));
            Assert.Empty(leftOnNode);
            var history = await Rig.HistoryAsync(0);
            Assert.DoesNotContain(second.PromptId!, history);
            var interrupted = JsonNode.Parse(await Rig.Emulators[0].Client.GetStringAsync($"history/{first.PromptId}", Token))!.AsObject();
            Assert.Contains("execution_interrupted", interrupted[first.PromptId!]!["status"]!["messages"]!.AsArray().Select(m => (string)m![0]!));
            var events = await Rig.Streams().ReadAsync(JobStreamId.Job(second.JobId), 0, Token);
            Assert.Single(events, e => e.Type == "job_reassigned");
            Assert.Single(events, e => e.Type == "job_completed");
        }
        finally
        {
            await Rig.PostControlAsync(0, "heal");
            await Rig.PostControlAsync(0, "unstall");
            await Eventually.ReturnsAsync(
                () => Rig.Get<ServiceDefaults.Backends.BackendDirectory>().ListAsync(Token), list => list.All(b => b.Online), TimeSpan.FromSeconds(30));
        }
    }

    /// <summary>Stalls <paramref name="node"/>, starts a job there (held at its next step: running until un-stalled or
    /// interrupted) and submits <paramref name="second"/> for the node; returns both once the second is in the node's queue.</summary>
    private async Task<(JobRecord Running, JobRecord Waiting)> HoldAJobAndPostAnotherBehindItAsync(int node, JobSubmission second)
    {
        var engine = Rig.Engine();
        await Rig.PostControlAsync(node, "stall");
        var first = await engine.SubmitJobAsync(new JobSubmission(EngineRig.Prompt(steps: 4, delayMs: 20, seed: 1)) { BackendAffinity = EngineRig.BackendId(node) }, Token);
        var running = await Rig.WaitForJobAsync(first.JobId, j => j.Status == JobStatuses.Running);
        var waiting = await engine.SubmitJobAsync(second with { BackendAffinity = EngineRig.BackendId(node) }, Token);
        return (running, await WaitUntilOnTheNodeAsync(node, waiting.JobId));
    }

    /// <summary>The job once it has been sent to <paramref name="node"/> and its prompt is in the node's queue.</summary>
    private async Task<JobRecord> WaitUntilOnTheNodeAsync(int node, string jobId)
    {
        var posted = await Rig.WaitForJobAsync(jobId, j => j.PromptId is not null);
        await Eventually.ReturnsAsync(() => Rig.QueueAsync(node), q => q.Contains(posted.PromptId!), TimeSpan.FromSeconds(15));
        return posted;
    }
}
