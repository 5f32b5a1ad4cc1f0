using System.Text.Json.Nodes;
using DirectorsConsole.BackendService.Infrastructure;
using DirectorsConsole.Contracts;
using DirectorsConsole.Messaging;
using DirectorsConsole.Testing;

namespace DirectorsConsole.BackendService.Tests.Dispatch;

/// <summary>Prompts posted ahead to wait in a node's own queue (JobService's prefetch): BackendService posts every
/// command its backend's queue holds, reports a prompt started only when the node starts it, deletes a waiting prompt
/// it is asked to cancel, lets a prompt with a lower <c>number</c> overtake waiting ones, and removes from a node seen
/// again the prompts it gave up as lost while the node could not be reached.</summary>
public sealed class PrefetchDispatchTests
{
    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Fact]
    public async Task TwoPromptsOnAOneSlotNodeOneRunningOneWaitingAndTheSecondStartsWhenTheNodeStartsIt()
    {
        // Arrange, act: a one-slot node running a prompt of about 1.5 s, and a second command for the node, as the
        // scheduler sends one with prefetch 1
        await using var rig = await DispatchRig.StartAsync();
        var (first, second) = await RunOneAndPostAnotherAsync(rig, DispatchRig.ProgressWorkflow(steps: 30, delayMs: 50, seed: 1), Command(2));
        var (running, pending) = await QueueAsync(rig);
        var startedWhileWaiting = rig.Events.For(second.PromptId).Any(e => e.Kind == RenderEventKinds.Started);

        // Assert: both on the node at once, the second waiting in its queue and not started
        Assert.Equal([first.PromptId], running);
        Assert.Equal([second.PromptId], pending);
        Assert.False(startedWhileWaiting, "the waiting prompt was reported started");
        var completed = await rig.Events.WaitForAsync(second.PromptId);
        Assert.Equal(RenderEventKinds.Completed, completed.Kind);
        var firstCompleted = await rig.Events.WaitForAsync(first.PromptId);
        var secondStarted = Assert.Single(rig.Events.For(second.PromptId), e => e.Kind == RenderEventKinds.Started);
        Assert.True(secondStarted.At >= firstCompleted.At, $"started {secondStarted.At:O}, before the first ended {firstCompleted.At:O}");
    }

    [Fact]
    public async Task CancelOfAPromptWaitingInTheNodesQueueDeletesItAndTheNodeNeverRunsIt()
    {
        // Arrange: a long prompt running and a second one waiting behind it on the node
        await using var rig = await DispatchRig.StartAsync();
        var (first, second) = await RunOneAndPostAnotherAsync(rig, DispatchRig.ProgressWorkflow(steps: 400, delayMs: 50, seed: 3), Command(4));
        Assert.Contains(second.PromptId, (await QueueAsync(rig)).Pending);

        // Act
        await rig.RequestCancelAsync(second.PromptId);
        var cancelled = await rig.Events.WaitForAsync(second.PromptId);

        // Assert: gone from the node's queue while the first still runs, ended once
        Assert.Equal(RenderEventKinds.Interrupted, cancelled.Kind);
        Assert.Equal("cancelled before it started", cancelled.Error);
        var (running, pending) = await QueueAsync(rig);
        Assert.Equal([first.PromptId], running);
        Assert.Empty(pending);
        await rig.RequestCancelAsync(first.PromptId);
        Assert.Equal(RenderEventKinds.Interrupted, (await rig.Events.WaitForAsync(first.PromptId)).Kind);
        Assert.Single(rig.Events.For(second.PromptId), e => RenderEventKinds.IsFinal(e.Kind));
        Assert.DoesNotContain(rig.Events.For(second.PromptId), e => e.Kind == RenderEventKinds.Started);
        Assert.Empty(await HistoryAsync(rig, second.PromptId));
    }

    [Fact]
    public async Task APromptWithALowerNumberPostedLaterOvertakesOneWaitingInTheNodesQueue()
    {
        // Arrange: a prompt of about 2 s running, a low-priority one waiting behind it
        await using var rig = await DispatchRig.StartAsync();
        var (_, low) = await RunOneAndPostAnotherAsync(rig, DispatchRig.ProgressWorkflow(steps: 40, delayMs: 50, seed: 5), Command(6) with { Priority = 200 });

        // Act: a higher-priority prompt posted after it
        var high = await PostAsync(rig, Command(7) with { Priority = 100 });
        var pendingWhenBothWait = (await QueueAsync(rig)).Pending;

        // Assert: the node runs the later, higher-priority prompt first
        Assert.Equal(2, pendingWhenBothWait.Count);
        Assert.Equal(RenderEventKinds.Completed, (await rig.Events.WaitForAsync(low.PromptId)).Kind);
        Assert.Equal(RenderEventKinds.Completed, (await rig.Events.WaitForAsync(high.PromptId)).Kind);
        var highStarted = rig.Events.For(high.PromptId).Single(e => e.Kind == RenderEventKinds.Started);
        var lowStarted = rig.Events.For(low.PromptId).Single(e => e.Kind == RenderEventKinds.Started);
        Assert.True(highStarted.At < lowStarted.At, $"the higher-priority prompt started at {highStarted.At:O}, after the other at {lowStarted.At:O}");
    }

    [Fact]
    public async Task ANodeCutOffWithAPromptWaitingLosesBothAndOnceSeenAgainHasThemRemovedBeforeTheyRun()
    {
        // Arrange: a long prompt running, then held at its next step, and a second one waiting on the node
        await using var rig = await DispatchRig.StartAsync();
        var (first, second) = await RunOneAndPostAnotherAsync(rig, DispatchRig.ProgressWorkflow(steps: 400, delayMs: 50, seed: 8), Command(9));
        await PostControlAsync(rig, "stall");

        // Act: the node is cut off; both prompts are given up as lost (and would run elsewhere); then it is back
        await PostControlAsync(rig, "partition");
        var lostRunning = await rig.Events.WaitForAsync(first.PromptId);
        var lostWaiting = await rig.Events.WaitForAsync(second.PromptId);
        await PostControlAsync(rig, "heal");
        var queue = await Eventually.ReturnsAsync(() => QueueAsync(rig), q => q.Running.Count + q.Pending.Count == 0, TimeSpan.FromSeconds(30));
        await PostControlAsync(rig, "unstall");
        var after = await rig.EnqueueAsync(DispatchRig.ProgressWorkflow(steps: 2, delayMs: 10, seed: 10));
        var afterEnded = await rig.Events.WaitForAsync(after.PromptId);

        // Assert: lost once each; the node, seen again, ran neither: the waiting one deleted, the running one interrupted
        Assert.Equal((RenderEventKinds.Failed, RenderErrorTypes.BackendLost), (lostRunning.Kind, lostRunning.ErrorType));
        Assert.Equal((RenderEventKinds.Failed, RenderErrorTypes.BackendLost), (lostWaiting.Kind, lostWaiting.ErrorType));
        Assert.Empty(queue.Running.Concat(queue.Pending));
        Assert.Equal(RenderEventKinds.Completed, afterEnded.Kind);
        Assert.Empty(await HistoryAsync(rig, second.PromptId));
        var firstHistory = await HistoryAsync(rig, first.PromptId);
        var messages = firstHistory[first.PromptId]!["status"]!["messages"]!.AsArray().Select(m => (string)m![0]!).ToList();
        Assert.Contains("execution_interrupted", messages);
        Assert.Single(rig.Events.For(first.PromptId), e => RenderEventKinds.IsFinal(e.Kind));
        Assert.Single(rig.Events.For(second.PromptId), e => RenderEventKinds.IsFinal(e.Kind));
    }

    [Fact]
    public async Task CommandsWaitingTogetherArePostedTogetherInTheirOrderAndACancelledOneAndACopyAmongThemAreNot()
    {
        // Arrange: four prompts, one whose cancel was requested before it was taken, and a copy of the second (a
        // command left twice by a crash), made visible to the backend's worker at once as the scheduler sends a group
        await using var rig = await DispatchRig.StartAsync();
        var commands = Enumerable.Range(40, 4).Select(seed => Command(seed)).ToList();
        var cancelled = Command(50);
        await rig.RequestCancelAsync(cancelled.PromptId);
        var queue = RenderChannels.BackendQueue(DispatchRig.BackendId(0));
        QueueMessage<RunPromptCommand> Message(RunPromptCommand command, string key) => new(queue, command, key);

        // Act
        await rig.Queue.EnqueueManyAsync(
        [
            Message(commands[0], commands[0].PromptId), Message(commands[1], commands[1].PromptId), Message(cancelled, cancelled.PromptId),
            Message(commands[2], commands[2].PromptId), Message(commands[1], "copy"), Message(commands[3], commands[3].PromptId),
        ], Token);
        var ended = new List<RenderEvent>();
        foreach (var command in commands)
        {
            ended.Add(await rig.Events.WaitForAsync(command.PromptId));
        }

        var interrupted = await rig.Events.WaitForAsync(cancelled.PromptId);
        var drained = await Eventually.ReturnsAsync(() => rig.Queue.GetCountsAsync(queue, Token), counts => counts is { Waiting: 0, InFlight: 0 });

        // Assert: each accepted once, all in one write (one time for all), run in their order, and ended once; the
        // cancelled one never reached the node
        Assert.All(ended, final => Assert.Equal(RenderEventKinds.Completed, final.Kind));
        var accepted = commands.Select(command => Assert.Single(rig.Events.For(command.PromptId), e => e.Kind == RenderEventKinds.Accepted)).ToList();
        Assert.Single(accepted.Select(e => e.At).Distinct());
        var started = commands.Select(command => Assert.Single(rig.Events.For(command.PromptId), e => e.Kind == RenderEventKinds.Started).At).ToList();
        Assert.Equal(started.Order(), started);
        Assert.All(commands, command => Assert.Single(rig.Events.For(command.PromptId), e => RenderEventKinds.IsFinal(e.Kind)));
        Assert.Equal((RenderEventKinds.Interrupted, "cancelled before it started"), (interrupted.Kind, interrupted.Error));
        Assert.DoesNotContain(rig.Events.For(cancelled.PromptId), e => e.Kind == RenderEventKinds.Accepted);
        Assert.Empty(await HistoryAsync(rig, cancelled.PromptId));
        Assert.Equal(new QueueCounts(0, 0), drained);
        Assert.Empty(await rig.Redis.HashGetAllAsync(BackendKeys.InFlight(DispatchRig.BackendId(0)), Token));
    }

    /// <summary>A short prompt for emu-0.</summary>
    private static RunPromptCommand Command(long seed) =>
        DispatchRig.Command(DispatchRig.ProgressWorkflow(steps: 2, delayMs: 10, seed: seed), DispatchRig.BackendId(0));

    /// <summary>Starts <paramref name="first"/> on emu-0 and, once it runs, posts <paramref name="second"/> behind it.</summary>
    private static async Task<(RunPromptCommand Running, RunPromptCommand Waiting)> RunOneAndPostAnotherAsync(
        DispatchRig rig, JsonObject first, RunPromptCommand second)
    {
        var running = await rig.EnqueueAsync(first);
        await rig.Events.WaitForAsync(running.PromptId, RenderEventKinds.Progress);
        return (running, await PostAsync(rig, second));
    }

    /// <summary>Sends the command as the scheduler does and waits until the node has accepted it.</summary>
    private static async Task<RunPromptCommand> PostAsync(DispatchRig rig, RunPromptCommand command)
    {
        await rig.Queue.EnqueueAsync(RenderChannels.BackendQueue(command.BackendId!), command, command.PromptId, Token);
        await rig.Events.WaitForAsync(command.PromptId, RenderEventKinds.Accepted);
        return command;
    }

    private static async Task<(IReadOnlyList<string> Running, IReadOnlyList<string> Pending)> QueueAsync(DispatchRig rig)
    {
        var queue = JsonNode.Parse(await rig.Emulators[0].Client.GetStringAsync("queue", Token))!;
        static List<string> Ids(JsonNode? items) => items!.AsArray().Select(item => (string)item!.AsArray()[1]!).ToList();
        return (Ids(queue["queue_running"]), Ids(queue["queue_pending"]));
    }

    private static async Task<JsonObject> HistoryAsync(DispatchRig rig, string promptId) =>
        JsonNode.Parse(await rig.Emulators[0].Client.GetStringAsync($"history/{promptId}", Token))!.AsObject();

    private static async Task PostControlAsync(DispatchRig rig, string route)
    {
        using var response = await rig.Emulators[0].Client.PostAsync("_emulator/" + route, null, Token);
        response.EnsureSuccessStatusCode();
    }
}
