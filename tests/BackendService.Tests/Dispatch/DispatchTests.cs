using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using DirectorsConsole.BackendService.Dispatch;
using DirectorsConsole.BackendService.Infrastructure;
using DirectorsConsole.Comfy;
using DirectorsConsole.Contracts;
using DirectorsConsole.Messaging;
using DirectorsConsole.Testing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace DirectorsConsole.BackendService.Tests.Dispatch;

/// <summary>Prompts dispatched by BackendService to the ComfyUI emulator, end to end through Redis.</summary>
public sealed class DispatchTests
{
    private static readonly byte[] PngSignature = [0x89, 0x50, 0x4E, 0x47];

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    /// <summary>A workflow ComfyUI refuses with a 400: an <c>EmptyImage</c> 0 pixels wide.</summary>
    private static JsonObject RefusedWorkflow() => JsonNode.Parse("""
        {"1": {"class_type": "EmptyImage", "inputs": {"width": 0, "height": 64, "batch_size": 1, "color": 0}},
         "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "bad"}}}
        """)!.AsObject();

    [Fact]
    public async Task PromptRunsToCompletionWithProgressAndViewableOutput()
    {
        // Arrange
        await using var rig = await DispatchRig.StartAsync();

        // Act
        var command = await rig.EnqueueAsync(DispatchRig.ProgressWorkflow(steps: 5, delayMs: 60), seed: 4242);
        var completed = await rig.Events.WaitForAsync(command.PromptId);

        // Assert: the events, in order
        Assert.Equal(RenderEventKinds.Completed, completed.Kind);
        var kinds = rig.Events.For(command.PromptId).Select(e => e.Kind).Where(k => k != RenderEventKinds.Preview).ToList();
        Assert.Equal(RenderEventKinds.Accepted, kinds[0]);
        Assert.True(kinds.IndexOf(RenderEventKinds.Started) is > 0, string.Join(",", kinds));
        var progress = rig.Events.For(command.PromptId).Where(e => e.Kind == RenderEventKinds.Progress).ToList();
        Assert.NotEmpty(progress);
        Assert.Equal(progress.Select(p => p.Percent), progress.Select(p => p.Percent).Order());
        Assert.Contains(progress, p => p is { StepsTotal: 5, StepsDone: > 0, Node: "1", NodeClass: "TestProgressImage" });
        Assert.All(rig.Events.For(command.PromptId), e => Assert.Equal(DispatchRig.BackendId(0), e.BackendId));
        Assert.Equal(command.JobId, completed.JobId);
        Assert.Equal(100, completed.Percent);
        var image = Assert.Single(completed.Outputs!, o => o.Kind == "images");
        Assert.Equal("2", image.NodeId);
        Assert.Equal("dispatch", image.Subfolder);

        // Assert: the seed went into the prompt the node ran
        var history = JsonNode.Parse(await rig.Emulators[0].Client.GetStringAsync($"history/{command.PromptId}", Token))!;
        Assert.Equal(4242, (long)history[command.PromptId]!["prompt"]![2]!["1"]!["inputs"]!["seed"]!);

        // Assert: the image comes through the view proxy
        using var client = rig.Replicas[0].CreateClient();
        using var response = await client.GetAsync(
            $"/api/backends/{DispatchRig.BackendId(0)}/view?filename={Uri.EscapeDataString(image.Filename!)}&subfolder={image.Subfolder}&type={image.Type}", Token);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("image/png", response.Content.Headers.ContentType?.MediaType);
        var bytes = await response.Content.ReadAsByteArrayAsync(Token);
        Assert.Equal(PngSignature, bytes[..4]);

        // Assert: the last state is kept and nothing is left in flight
        Assert.Equal(RenderEventKinds.Completed, await rig.Redis.HashGetAsync(RenderChannels.PromptStateKey(command.PromptId), "status", Token));
        Assert.Empty(await rig.Redis.HashGetAllAsync(BackendKeys.InFlight(DispatchRig.BackendId(0)), Token));
    }

    [Fact]
    public async Task FailingNodeReportsComfyExceptionAndNode()
    {
        // Arrange
        await using var rig = await DispatchRig.StartAsync();

        // Act
        var command = await rig.EnqueueAsync(DispatchRig.ProgressWorkflow(steps: 6, delayMs: 20, fail: true));
        var failed = await rig.Events.WaitForAsync(command.PromptId);

        // Assert
        Assert.Equal(RenderEventKinds.Failed, failed.Kind);
        Assert.Equal("RuntimeError", failed.ErrorType);
        Assert.Equal("1", failed.Node);
        Assert.Equal("TestProgressImage", failed.NodeClass);
        Assert.Contains("deliberate failure", failed.Error);
    }

    [Fact]
    public async Task RefusedWorkflowFailsAsInvalidNamingNodeAndInput()
    {
        // Arrange
        await using var rig = await DispatchRig.StartAsync();
        var prompt = RefusedWorkflow();

        // Act
        var command = await rig.EnqueueAsync(prompt);
        var failed = await rig.Events.WaitForAsync(command.PromptId);

        // Assert
        Assert.Equal(RenderEventKinds.Failed, failed.Kind);
        Assert.Equal(RenderErrorTypes.InvalidWorkflow, failed.ErrorType);
        Assert.Contains("Node 1 (EmptyImage): input 'width'", failed.Error);
        Assert.DoesNotContain(rig.Events.For(command.PromptId), e => e.Kind == RenderEventKinds.Accepted);
    }

    [Fact]
    public async Task CommandsAnEarlierVersionLeftOnTheSharedQueueRunOnTheirBackendOrFail()
    {
        // Arrange: the shared queue render-dispatch, which the scheduler no longer uses
        await using var rig = await DispatchRig.StartAsync();
        var named = DispatchRig.Command(DispatchRig.ProgressWorkflow(2, 10), DispatchRig.BackendId(0));
        var unknown = DispatchRig.Command(DispatchRig.ProgressWorkflow(1, 1), "no-such-node");
        var unnamed = DispatchRig.Command(DispatchRig.ProgressWorkflow(1, 1), null);

        // Act
        foreach (var command in new[] { named, unknown, unnamed })
        {
            await rig.Queue.EnqueueAsync(RenderChannels.DispatchQueue, command, Token);
        }

        var completed = await rig.Events.WaitForAsync(named.PromptId);
        var failedUnknown = await rig.Events.WaitForAsync(unknown.PromptId);
        var failedUnnamed = await rig.Events.WaitForAsync(unnamed.PromptId);
        var drained = await Eventually.ReturnsAsync(
            () => rig.Queue.GetCountsAsync(RenderChannels.DispatchQueue, Token), counts => counts is { Waiting: 0, InFlight: 0 });

        // Assert
        Assert.Equal(RenderEventKinds.Completed, completed.Kind);
        Assert.Equal(DispatchRig.BackendId(0), completed.BackendId);
        Assert.Equal((RenderEventKinds.Failed, RenderErrorTypes.NoEligibleBackend), (failedUnknown.Kind, failedUnknown.ErrorType));
        Assert.Contains("no-such-node", failedUnknown.Error);
        Assert.Equal((RenderEventKinds.Failed, RenderErrorTypes.NoEligibleBackend), (failedUnnamed.Kind, failedUnnamed.ErrorType));
        Assert.Equal(0, drained.Waiting + drained.InFlight);
    }

    [Fact]
    public async Task CancelInterruptsOnlyThatPromptAndTheNextOneStillRuns()
    {
        // Arrange: two jobs on one node; the first runs long, the second waits behind it
        await using var rig = await DispatchRig.StartAsync(maxConcurrentJobs: 2);
        var first = await rig.EnqueueAsync(DispatchRig.ProgressWorkflow(steps: 400, delayMs: 50, seed: 11), backendId: DispatchRig.BackendId(0));
        await rig.Events.WaitForAsync(first.PromptId, RenderEventKinds.Progress);
        var second = await rig.EnqueueAsync(DispatchRig.ProgressWorkflow(steps: 3, delayMs: 20, seed: 12), backendId: DispatchRig.BackendId(0));
        await rig.Events.WaitForAsync(second.PromptId, RenderEventKinds.Accepted);

        // Act
        await rig.RequestCancelAsync(first.PromptId);

        // Assert
        var interrupted = await rig.Events.WaitForAsync(first.PromptId);
        Assert.Equal(RenderEventKinds.Interrupted, interrupted.Kind);
        Assert.Equal("cancelled", interrupted.Error);
        var next = await rig.Events.WaitForAsync(second.PromptId);
        Assert.Equal(RenderEventKinds.Completed, next.Kind);
        Assert.Contains(rig.Events.For(second.PromptId), e => e.Kind == RenderEventKinds.Started);
    }

    [Fact]
    public async Task CancelBeforeThePromptStartsDropsIt()
    {
        // Arrange: the cancel is asked for before the command is even enqueued
        await using var rig = await DispatchRig.StartAsync();
        var promptId = Guid.NewGuid().ToString();
        await rig.RequestCancelAsync(promptId);

        // Act
        var command = new RunPromptCommand(promptId, "job-cancelled", DispatchRig.BackendId(0), DispatchRig.ProgressWorkflow(3, 10), DateTimeOffset.UtcNow);
        await rig.Queue.EnqueueAsync(RenderChannels.BackendQueue(DispatchRig.BackendId(0)), command, Token);
        var interrupted = await rig.Events.WaitForAsync(promptId);

        // Assert
        Assert.Equal(RenderEventKinds.Interrupted, interrupted.Kind);
        Assert.Equal("cancelled before it started", interrupted.Error);
        var history = JsonNode.Parse(await rig.Emulators[0].Client.GetStringAsync($"history/{promptId}", Token))!.AsObject();
        Assert.Empty(history);
    }

    [Fact]
    public async Task DroppedSocketMidRunStillCompletes()
    {
        // Arrange
        await using var rig = await DispatchRig.StartAsync();
        var command = await rig.EnqueueAsync(DispatchRig.ProgressWorkflow(steps: 20, delayMs: 50));
        await rig.Events.WaitForAsync(command.PromptId, RenderEventKinds.Progress);

        // Act
        using var drop = await rig.Emulators[0].Client.PostAsync("_emulator/drop-sockets", null, Token);

        // Assert
        Assert.Equal(HttpStatusCode.OK, drop.StatusCode);
        var completed = await rig.Events.WaitForAsync(command.PromptId);
        Assert.Equal(RenderEventKinds.Completed, completed.Kind);
        Assert.Contains(completed.Outputs!, o => o.Kind == "images");
    }

    [Fact]
    public async Task RestartedNodeLosesThePromptOnceAndKeepsWorking()
    {
        // Arrange
        await using var rig = await DispatchRig.StartAsync();
        var command = await rig.EnqueueAsync(DispatchRig.ProgressWorkflow(steps: 400, delayMs: 50));
        await rig.Events.WaitForAsync(command.PromptId, RenderEventKinds.Progress);

        // Act: as if ComfyUI restarted: the running prompt vanishes with its history
        using var restart = await rig.Emulators[0].Client.PostAsync("_emulator/restart", null, Token);
        var lost = await rig.Events.WaitForAsync(command.PromptId);
        var next = await rig.EnqueueAsync(DispatchRig.ProgressWorkflow(steps: 2, delayMs: 10, seed: 5));
        var completed = await rig.Events.WaitForAsync(next.PromptId);

        // Assert
        Assert.Equal(RenderEventKinds.Failed, lost.Kind);
        Assert.Equal(RenderErrorTypes.BackendLost, lost.ErrorType);
        Assert.Equal(RenderEventKinds.Completed, completed.Kind);
        Assert.Single(rig.Events.For(command.PromptId), e => RenderEventKinds.IsFinal(e.Kind));
    }

    [Fact]
    public async Task KilledNodeFailsItsPromptWithBackendLost()
    {
        // Arrange
        await using var rig = await DispatchRig.StartAsync();
        var command = await rig.EnqueueAsync(DispatchRig.ProgressWorkflow(steps: 400, delayMs: 50));
        await rig.Events.WaitForAsync(command.PromptId, RenderEventKinds.Progress);

        // Act
        await rig.Emulators[0].KillAsync();
        var lost = await rig.Events.WaitForAsync(command.PromptId, timeout: TimeSpan.FromSeconds(20));

        // Assert
        Assert.Equal(RenderEventKinds.Failed, lost.Kind);
        Assert.Equal(RenderErrorTypes.BackendLost, lost.ErrorType);
        Assert.Contains("offline", lost.Error);
        Assert.Empty(await rig.Redis.HashGetAllAsync(BackendKeys.InFlight(DispatchRig.BackendId(0)), Token));
    }

    [Fact]
    public async Task DuplicateCommandIsPostedOnce()
    {
        // Arrange
        await using var rig = await DispatchRig.StartAsync();
        var command = DispatchRig.Command(DispatchRig.ProgressWorkflow(3, 10, seed: 77), DispatchRig.BackendId(0), jobId: "job-dup");
        var backendQueue = RenderChannels.BackendQueue(DispatchRig.BackendId(0));

        // Act: the same command enqueued twice without a key, as a copy left by a crash between enqueue and ack would be
        await rig.Queue.EnqueueAsync(backendQueue, command, Token);
        await rig.Queue.EnqueueAsync(backendQueue, command, Token);
        var completed = await rig.Events.WaitForAsync(command.PromptId);
        var drained = await Eventually.ReturnsAsync(
            () => rig.Queue.GetCountsAsync(backendQueue, Token), counts => counts is { Waiting: 0, InFlight: 0 });

        // Assert
        Assert.Equal(RenderEventKinds.Completed, completed.Kind);
        Assert.Equal(0, drained.Waiting + drained.InFlight);
        Assert.Single(rig.Events.For(command.PromptId), e => e.Kind == RenderEventKinds.Accepted);
        Assert.Single(rig.Events.For(command.PromptId), e => RenderEventKinds.IsFinal(e.Kind));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task APromptWhoseAcceptanceWasNotConfirmedIsFoundOnTheNodeAndEndsOnce(bool carriedOut)
    {
        // Arrange: the replica's write of the post's acceptance (its state and its in-flight entry, one script) ends as a
        // connection lost before the reply would, the write carried out or not
        await using var rig = await DispatchRig.StartAsync(replicas: 0);
        var inFlightKey = BackendKeys.InFlight(DispatchRig.BackendId(0));
        ScriptCounter? redis = null;
        rig.AddReplica(configureServices: services => services.AddSingleton<IRedisConnection>(sp =>
        {
            redis = new ScriptCounter(sp.GetRequiredService<RedisConnection>());
            // The acceptance is the state write of this one prompt (its state and its backend's in-flight hash; the
            // expiry, then the event's status first among its values) whose event is accepted.
            redis.LoseReplyOfNext((keys, args) => keys.Count == 2 && keys[1] == inFlightKey && args[1].ToString() == RenderEventKinds.Accepted, carriedOut);
            return redis;
        }));
        await rig.WaitUntilOnlineAsync(DispatchRig.BackendId(0));

        // Act
        var command = await rig.EnqueueAsync(DispatchRig.ProgressWorkflow(2, 10, seed: 31), DispatchRig.BackendId(0), jobId: "job-unconfirmed");
        var final = await rig.Events.WaitForAsync(command.PromptId, timeout: TimeSpan.FromSeconds(60));
        var inFlight = await Eventually.ReturnsAsync(
            () => rig.Redis.HashGetAllAsync(BackendKeys.InFlight(DispatchRig.BackendId(0)), Token), entries => entries.Count == 0);
        var history = await rig.Emulators[0].Client.GetFromJsonAsync<JsonObject>("history", Token);

        // Assert: found on the node (by the reconcile when the write was carried out, else when its command came back)
        // rather than posted again, and ended once
        Assert.Equal(1, redis!.Lost);
        Assert.Equal(RenderEventKinds.Completed, final.Kind);
        Assert.Single(rig.Events.For(command.PromptId), e => RenderEventKinds.IsFinal(e.Kind));
        Assert.Empty(inFlight);
        Assert.Equal([command.PromptId], history!.Select(entry => entry.Key));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task CommandsTakenTogetherWhoseClaimFailedAreOfferedAgainAtOnceAndEachPostedOnce(bool carriedOut)
    {
        // Arrange: a replica whose one claim of three commands taken together ends as a lost connection, carried out or
        // not, with a visibility timeout far longer than the test may wait
        await using var rig = await DispatchRig.StartAsync(replicas: 0);
        var commands = Enumerable.Range(0, 3)
            .Select(i => DispatchRig.Command(DispatchRig.ProgressWorkflow(2, 10, seed: 60 + i), DispatchRig.BackendId(0), jobId: $"job-claim-{i}"))
            .ToList();
        ScriptCounter? redis = null;
        rig.AddReplica(
            overrides: new Dictionary<string, string?> { ["Backends:Dispatch:BackendVisibilityTimeout"] = "00:05:00" },
            configureServices: services => services.AddSingleton<IRedisConnection>(sp =>
            {
                redis = new ScriptCounter(sp.GetRequiredService<RedisConnection>());
                redis.LoseReplyOfNext((keys, _) => keys.Count == 8 && keys[0] == BackendKeys.Definitions, carriedOut);
                return redis;
            }));
        await rig.WaitUntilOnlineAsync(DispatchRig.BackendId(0));
        var queue = RenderChannels.BackendQueue(DispatchRig.BackendId(0));

        // Act
        await rig.Queue.EnqueueManyAsync(commands.Select(c => new QueueMessage<RunPromptCommand>(queue, c, c.PromptId)).ToList(), Token);
        var ended = new List<RenderEvent>();
        foreach (var command in commands)
        {
            ended.Add(await rig.Events.WaitForAsync(command.PromptId, timeout: TimeSpan.FromSeconds(30)));
        }

        var history = await rig.Emulators[0].Client.GetFromJsonAsync<JsonObject>("history", Token);

        // Assert: the claim was lost once; every prompt ran once and ended once, long before the visibility timeout
        Assert.Equal(1, redis!.Lost);
        Assert.All(ended, e => Assert.Equal(RenderEventKinds.Completed, e.Kind));
        Assert.All(commands, c => Assert.Single(rig.Events.For(c.PromptId), e => RenderEventKinds.IsFinal(e.Kind)));
        Assert.Equal(commands.Select(c => c.PromptId).Order(), history!.Select(entry => entry.Key).Order());
    }

    [Fact]
    public async Task CommandsTakenTogetherArePostedTheFirstAloneThenTheRestAtOnceAndRunInTheirQueueOrder()
    {
        // Arrange: a replica whose every post to the node is held before it is sent (a node slow to answer) for a second,
        // or until seven are in flight, and a stalled node: the first prompt it takes stays running, the others wait in
        // its queue
        var posts = new HeldPosts(TimeSpan.FromSeconds(1), together: 7);
        await using var rig = await DispatchRig.StartAsync(replicas: 0);
        rig.AddReplica(configureServices: services => services.AddHttpClient(ComfyPromptClient.HttpClientName)
            .AddHttpMessageHandler(() => new HeldPostHandler(posts)));
        await rig.WaitUntilOnlineAsync(DispatchRig.BackendId(0));
        using (var stall = await rig.Emulators[0].Client.PostAsync("_emulator/stall", null, Token))
        {
            stall.EnsureSuccessStatusCode();
        }

        // Their places in the suite's queue are the reverse of the order in which they were enqueued after the first.
        var commands = Enumerable.Range(0, 8)
            .Select(i => DispatchRig.Command(DispatchRig.ProgressWorkflow(1, 0, seed: 90 + i), DispatchRig.BackendId(0)) with
            {
                Priority = i == 0 ? 0 : 100 - i,
            })
            .ToList();
        var queue = RenderChannels.BackendQueue(DispatchRig.BackendId(0));

        // Each command sent in a trace of its own, and every span of the replica's code and of HttpClient kept.
        var traces = commands.Select(_ => new ActivityContext(ActivityTraceId.CreateRandom(), ActivitySpanId.CreateRandom(), ActivityTraceFlags.Recorded)).ToList();
        var stopped = new System.Collections.Concurrent.ConcurrentQueue<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name.StartsWith("DirectorsConsole", StringComparison.Ordinal) || source.Name == "System.Net.Http",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = stopped.Enqueue,
        };
        ActivitySource.AddActivityListener(listener);

        // Act
        await rig.Queue.EnqueueManyAsync(
            commands.Select((c, i) => new QueueMessage<RunPromptCommand>(queue, c, c.PromptId) { Parent = traces[i] }).ToList(), Token);
        foreach (var command in commands)
        {
            await rig.Events.WaitForAsync(command.PromptId, RenderEventKinds.Accepted);
        }

        using (var unstall = await rig.Emulators[0].Client.PostAsync("_emulator/unstall", null, Token))
        {
            unstall.EnsureSuccessStatusCode();
        }

        var ends = new List<RenderEvent>();
        foreach (var command in commands)
        {
            ends.Add(await rig.Events.WaitForAsync(command.PromptId));
        }

        // Assert: the first post was answered before any other was sent, the seven others were sent together, and the
        // node ran the prompts in their queue order, each once
        var log = posts.Log;
        Assert.Equal(["sent " + commands[0].PromptId, "answered " + commands[0].PromptId], log.Take(2));
        Assert.Equal(7, posts.MostAtOnce);
        Assert.All(ends, end => Assert.Equal(RenderEventKinds.Completed, end.Kind));
        var queueOrder = commands.OrderBy(c => c.Priority).Select(c => c.PromptId).ToList();
        var started = rig.Events.All.Where(e => e.Kind == RenderEventKinds.Started).Select(e => e.PromptId).ToList();
        Assert.Equal(queueOrder, started);

        // Each post, sent beside the others, is a span of its own command's trace.
        Assert.All(traces, trace => Assert.Single(stopped, a => a.TraceId == trace.TraceId && a.Kind == ActivityKind.Client
            && a.GetTagItem("url.full") is string url && url.EndsWith("/prompt", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task ARefusedWorkflowAmongCommandsPostedTogetherFailsAloneAndTheOthersRun()
    {
        // Arrange: four commands taken together, the third a workflow the node refuses
        await using var rig = await DispatchRig.StartAsync();
        var refused = RefusedWorkflow();
        var commands = Enumerable.Range(0, 4)
            .Select(i => DispatchRig.Command(i == 2 ? refused : DispatchRig.ProgressWorkflow(1, 0, seed: 80 + i), DispatchRig.BackendId(0)) with { Priority = i })
            .ToList();
        var queue = RenderChannels.BackendQueue(DispatchRig.BackendId(0));
        await rig.WaitUntilOnlineAsync(DispatchRig.BackendId(0));

        // Act
        await rig.Queue.EnqueueManyAsync(commands.Select(c => new QueueMessage<RunPromptCommand>(queue, c, c.PromptId)).ToList(), Token);
        var ends = new List<RenderEvent>();
        foreach (var command in commands)
        {
            ends.Add(await rig.Events.WaitForAsync(command.PromptId));
        }

        // Assert
        Assert.Equal(RenderEventKinds.Failed, ends[2].Kind);
        Assert.Equal(RenderErrorTypes.InvalidWorkflow, ends[2].ErrorType);
        Assert.DoesNotContain(rig.Events.For(commands[2].PromptId), e => e.Kind == RenderEventKinds.Accepted);
        Assert.All(ends.Where((_, i) => i != 2), end => Assert.Equal(RenderEventKinds.Completed, end.Kind));
        Assert.All(commands, c => Assert.Single(rig.Events.For(c.PromptId), e => RenderEventKinds.IsFinal(e.Kind)));
    }

    [Fact]
    public async Task WhenTheFirstOfCommandsTakenTogetherCannotReachTheNodeTheOthersWaitWithItAndEachIsPostedOnce()
    {
        // Arrange: a replica whose first post of the first command is answered 503 (the node out of reach) without
        // reaching the node
        var posts = new HeldPosts(TimeSpan.Zero);
        await using var rig = await DispatchRig.StartAsync(replicas: 0);
        rig.AddReplica(configureServices: services => services.AddHttpClient(ComfyPromptClient.HttpClientName)
            .AddHttpMessageHandler(() => new HeldPostHandler(posts)));
        await rig.WaitUntilOnlineAsync(DispatchRig.BackendId(0));
        var commands = Enumerable.Range(0, 4)
            .Select(i => DispatchRig.Command(DispatchRig.ProgressWorkflow(1, 0, seed: 110 + i), DispatchRig.BackendId(0)) with { Priority = i })
            .ToList();
        posts.RefuseFirstPostOf(commands[0].PromptId);
        var queue = RenderChannels.BackendQueue(DispatchRig.BackendId(0));

        // Act
        await rig.Queue.EnqueueManyAsync(commands.Select(c => new QueueMessage<RunPromptCommand>(queue, c, c.PromptId)).ToList(), Token);
        var ends = new List<RenderEvent>();
        foreach (var command in commands)
        {
            ends.Add(await rig.Events.WaitForAsync(command.PromptId));
        }

        // Assert: nothing else was sent before the first command was sent again (after the retry delay), and every
        // prompt completed once, each posted once to the node
        var log = posts.Log;
        Assert.Equal(["sent " + commands[0].PromptId, "answered " + commands[0].PromptId, "sent " + commands[0].PromptId], log.Take(3));
        Assert.All(ends, end => Assert.Equal(RenderEventKinds.Completed, end.Kind));
        Assert.All(commands.Skip(1), c => Assert.Single(log, line => line == "sent " + c.PromptId));
        Assert.All(commands, c => Assert.Single(rig.Events.For(c.PromptId), e => RenderEventKinds.IsFinal(e.Kind)));
        var history = await rig.Emulators[0].Client.GetFromJsonAsync<JsonObject>("history", Token);
        Assert.Equal(commands.Select(c => c.PromptId).Order(), history!.Select(entry => entry.Key).Order());
    }

    /// <summary>The posts of a replica, each held before it is sent for <paramref name="hold"/> at most, or until
    /// <paramref name="together"/> posts are in flight (and one refused, when asked): what was sent and answered, in
    /// order, and the most posts sent and not yet answered at once.</summary>
    private sealed class HeldPosts(TimeSpan hold, int together = int.MaxValue)
    {
        private readonly List<string> _log = [];
        private readonly TaskCompletionSource _allInFlight = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _inProgress;

        /// <summary>Holds a post that was just sent.</summary>
        public Task HoldAsync(CancellationToken cancellationToken) =>
            hold == TimeSpan.Zero ? Task.CompletedTask : Task.WhenAny(_allInFlight.Task, Task.Delay(hold, cancellationToken));

        public int MostAtOnce { get; private set; }

        public IReadOnlyList<string> Log
        {
            get
            {
                lock (_log)
                {
                    return [.. _log];
                }
            }
        }

        private string? _refused;

        /// <summary>The first post of <paramref name="promptId"/> is answered 503 without reaching the node.</summary>
        public void RefuseFirstPostOf(string promptId) => _refused = promptId;

        /// <summary>True once for the post <see cref="RefuseFirstPostOf"/> named.</summary>
        public bool Refuses(string promptId)
        {
            lock (_log)
            {
                if (_refused != promptId)
                {
                    return false;
                }

                _refused = null;
                return true;
            }
        }

        public void Sent(string promptId)
        {
            lock (_log)
            {
                _log.Add("sent " + promptId);
                MostAtOnce = Math.Max(MostAtOnce, ++_inProgress);
                if (_inProgress >= together)
                {
                    _allInFlight.TrySetResult();
                }
            }
        }

        public void Answered(string promptId)
        {
            lock (_log)
            {
                _log.Add("answered " + promptId);
                _inProgress--;
            }
        }
    }

    private sealed class HeldPostHandler(HeldPosts posts) : DelegatingHandler
    {
        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            if (request.Method != HttpMethod.Post || request.RequestUri!.AbsolutePath != "/prompt")
            {
                return await base.SendAsync(request, cancellationToken);
            }

            var promptId = (string?)JsonNode.Parse(await request.Content!.ReadAsStringAsync(cancellationToken))!["prompt_id"] ?? "";
            posts.Sent(promptId);
            try
            {
                await posts.HoldAsync(cancellationToken);
                return posts.Refuses(promptId)
                    ? new HttpResponseMessage(HttpStatusCode.ServiceUnavailable) { RequestMessage = request }
                    : await base.SendAsync(request, cancellationToken);
            }
            finally
            {
                posts.Answered(promptId);
            }
        }
    }

    [Fact]
    public async Task APromptLeftOnlyInTheInFlightHashIsFinishedByTheReconcileOfAnIdleNode()
    {
        // Arrange: a prompt the node ran to its end, which the session does not track and knows only from the backend's
        // in-flight hash (its final event could not be written), while the node has nothing else to do
        await using var rig = await DispatchRig.StartAsync();
        var promptId = Guid.NewGuid().ToString();
        var prompt = DispatchRig.ProgressWorkflow(1, 0, seed: 41);
        using var post = await rig.Emulators[0].Client.PostAsJsonAsync("prompt", new JsonObject
        {
            ["prompt"] = prompt.DeepClone(),
            ["prompt_id"] = promptId,
            ["client_id"] = "a-session-gone-since",
        }, Token);
        post.EnsureSuccessStatusCode();
        await Eventually.ReturnsAsync(
            async () => (await rig.Emulators[0].Client.GetFromJsonAsync<JsonObject>($"history/{promptId}", Token))!.Count, count => count == 1);
        var store = new DispatchStore(rig.Redis, Microsoft.Extensions.Options.Options.Create(new DispatchOptions()));
        await store.AddInFlightAsync(
            DispatchRig.BackendId(0), new InFlightPrompt(promptId, "job-orphan", DateTimeOffset.UtcNow, InFlightPrompt.NodeClassesOf(prompt)), Token);

        // Act: within a few reconcile intervals (2 s in the rig)
        var final = await rig.Events.WaitForAsync(promptId, timeout: TimeSpan.FromSeconds(20));
        var inFlight = await Eventually.ReturnsAsync(
            () => rig.Redis.HashGetAllAsync(BackendKeys.InFlight(DispatchRig.BackendId(0)), Token), entries => entries.Count == 0);

        // Assert
        Assert.Equal(RenderEventKinds.Completed, final.Kind);
        Assert.Empty(inFlight);
    }

    [Fact]
    public async Task APromptTakenForTheFirstTimeIsPostedWithoutAskingTheNodeWhetherItHasItAlready()
    {
        // Arrange: a replica whose every request to the node is logged. A command delivered again may have been posted
        // already, so its node is asked first; a command claimed for the first time cannot have been, and asking costs
        // a read of the node's whole queue (every prompt waiting there) and of the prompt's history.
        var requests = new System.Collections.Concurrent.ConcurrentQueue<string>();
        await using var rig = await DispatchRig.StartAsync(replicas: 0);
        rig.AddReplica(configureServices: services => services.AddHttpClient(ComfyPromptClient.HttpClientName)
            .AddHttpMessageHandler(() => new RequestLog(requests)));
        await rig.WaitUntilOnlineAsync(DispatchRig.BackendId(0));

        // Act
        var commands = new List<RunPromptCommand>();
        for (var i = 0; i < 3; i++)
        {
            commands.Add(await rig.EnqueueAsync(DispatchRig.ProgressWorkflow(steps: 1, delayMs: 0, seed: 70 + i)));
        }

        var ends = new List<RenderEvent>();
        foreach (var command in commands)
        {
            ends.Add(await rig.Events.WaitForAsync(command.PromptId));
        }

        // Assert: each was posted once, and no request named it before its post
        Assert.All(ends, end => Assert.Equal(RenderEventKinds.Completed, end.Kind));
        var log = requests.ToList();
        Assert.All(commands, command =>
        {
            var post = log.IndexOf("POST /prompt " + command.PromptId);
            Assert.True(post >= 0, string.Join("\n", log));
            Assert.DoesNotContain(log.Take(post), line => line.Contains(command.PromptId, StringComparison.Ordinal));
            Assert.Single(log, line => line == "POST /prompt " + command.PromptId);
        });
    }

    /// <summary>Logs each request to the node as its method and path, and a post by the prompt id it carries.</summary>
    private sealed class RequestLog(System.Collections.Concurrent.ConcurrentQueue<string> requests) : DelegatingHandler
    {
        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var path = request.RequestUri!.AbsolutePath;
            if (request.Method == HttpMethod.Post && path == "/prompt")
            {
                var body = JsonNode.Parse(await request.Content!.ReadAsStringAsync(cancellationToken))!;
                requests.Enqueue("POST /prompt " + (string?)body["prompt_id"]);
            }
            else
            {
                requests.Enqueue($"{request.Method} {path}");
            }

            return await base.SendAsync(request, cancellationToken);
        }
    }

    [Fact]
    public async Task TwoReplicasKeepOnePromptPerNodeAndHandOverOnDispose()
    {
        // The replica holding emu-0's lease is disposed once some prompts have finished
        await using var rig = await KeepOnePromptPerNodeAsync(async (running, holder) =>
        {
            running.Replicas.Remove(holder);
            await holder.DisposeAsync();
        });
    }

    [Fact]
    public async Task AReplicaWhoseSubscriptionConnectionBreaksStopsItsWorkersAndKeepsOnePromptPerNodeAndNoBackendIsLeftUnheld()
    {
        // The replica holding emu-0's lease has its subscription connection dropped by the server once some prompts have
        // finished: a peer may take it for dead (its presence is gone) while it lives on; it must stop its workers at once,
        // and once re-subscribed run again, so that every backend ends up held and no node ever runs two prompts
        await using var blipped = await KeepOnePromptPerNodeAsync(async (rig, holder) =>
        {
            var name = holder.Services.GetRequiredService<IConfiguration>()["Redis:ClientName"]!;
            var clients = (await rig.Redis.ExecuteAsync(["CLIENT", "LIST"], Token)).AsString()!.Split('\n')
                .Where(line => line.Contains($" name={name} ", StringComparison.Ordinal) && Regex.IsMatch(line, @" flags=\w*P"))
                .Select(line => long.Parse(Regex.Match(line, @"(?:^|\W)id=(\d+)").Groups[1].Value, CultureInfo.InvariantCulture)).ToArray();
            Assert.NotEmpty(clients);
            foreach (var id in clients)
            {
                await rig.Redis.ExecuteAsync(["CLIENT", "KILL", "ID", id], Token);
            }
        }, clientNames: true);

        // Assert: both backends are held again, one by each replica (nothing lost for good)
        var held = await Eventually.ReturnsAsync(() => Task.FromResult(HeldBy(blipped)), h => h.All(r => r is not null) && h.Distinct().Count() == 2, TimeSpan.FromSeconds(30));
        Assert.True(held.All(r => r is not null) && held.Distinct().Count() == 2, "the backends were not held one by each replica again after the break");
    }

    /// <summary>Two nodes with max_concurrent_jobs 1 and two BackendService replicas on one Redis, 8 prompts sent one
    /// at a time per node; once two have completed, <paramref name="disrupt"/> is applied to the replica holding emu-0's
    /// lease. Every prompt completes once and no node ever has two prompts queued or in flight (none posted twice). Returns the rig, still running, for more checks.</summary>
    private static async Task<DispatchRig> KeepOnePromptPerNodeAsync(Func<DispatchRig, ServiceFactory<Program>, Task> disrupt, bool clientNames = false)
    {
        // Arrange
        var rig = await DispatchRig.StartAsync(emulators: 2, replicas: 0);
        var commands = new List<RunPromptCommand>();
        try
        {
            for (var i = 0; i < 2; i++)
            {
                rig.AddReplica(overrides: clientNames ? new Dictionary<string, string?> { ["Redis:ClientName"] = $"replica-{i}-{Guid.NewGuid():N}" } : null);
            }

            await Eventually.ReturnsAsync(() => Task.FromResult(HeldBy(rig)), held => held.All(h => h is not null), TimeSpan.FromSeconds(20));
            // Fed as JobService's scheduler feeds a node with one slot and no prefetch: the next command once the
            // previous one has ended (BackendService posts whatever it is sent)
            var toSend = Enumerable.Range(0, 8).Select(i => DispatchRig.Command(
                DispatchRig.ProgressWorkflow(steps: 6, delayMs: 80, seed: 100 + i), DispatchRig.BackendId(i % 2))).ToList();
            async Task FeedAsync()
            {
                for (var node = 0; node < 2; node++)
                {
                    var backendId = DispatchRig.BackendId(node);
                    if (commands.Where(c => c.BackendId == backendId).All(c => rig.Events.For(c.PromptId).Any(e => RenderEventKinds.IsFinal(e.Kind)))
                        && toSend.FirstOrDefault(c => c.BackendId == backendId) is { } next)
                    {
                        toSend.Remove(next);
                        commands.Add(next);
                        await rig.Queue.EnqueueAsync(RenderChannels.BackendQueue(backendId), next, next.PromptId, Token);
                    }
                }
            }

            await FeedAsync();

            // Act: sample both nodes' queues and in-flight hashes while the prompts run
            var maxOnNode = new int[2];
            var maxInFlight = new long[2];
            var disrupted = false;
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(120);
            while ((toSend.Count > 0 || commands.Any(c => !rig.Events.For(c.PromptId).Any(e => RenderEventKinds.IsFinal(e.Kind)))) && DateTime.UtcNow < deadline)
            {
                await FeedAsync();
                for (var node = 0; node < 2; node++)
                {
                    var queue = JsonNode.Parse(await rig.Emulators[node].Client.GetStringAsync("queue", Token))!;
                    maxOnNode[node] = Math.Max(maxOnNode[node], queue["queue_running"]!.AsArray().Count + queue["queue_pending"]!.AsArray().Count);
                    var inFlight = (await rig.Redis.ExecuteAsync(["HLEN", BackendKeys.InFlight(DispatchRig.BackendId(node))], Token)).AsInt64();
                    maxInFlight[node] = Math.Max(maxInFlight[node], inFlight);
                }

                if (!disrupted && commands.Count(c => rig.Events.For(c.PromptId).Any(e => e.Kind == RenderEventKinds.Completed)) >= 2)
                {
                    if (HeldBy(rig)[0] is { } holder)
                    {
                        await disrupt(rig, holder);
                        disrupted = true;
                    }
                }

                await Task.Delay(30, Token);
            }

            // Assert
            Assert.True(disrupted, "No replica held emu-0's lease");
            Assert.Equal(8, commands.Count);
            Assert.All(commands, c => Assert.Equal(RenderEventKinds.Completed, rig.Events.For(c.PromptId).LastOrDefault(e => RenderEventKinds.IsFinal(e.Kind))?.Kind));
            Assert.All(commands, c => Assert.Single(rig.Events.For(c.PromptId), e => RenderEventKinds.IsFinal(e.Kind)));
            Assert.Equal([1, 1], maxOnNode);
            Assert.Equal([1L, 1L], maxInFlight);
            Assert.Contains(commands, c => rig.Events.For(c.PromptId).Any(e => e.BackendId == DispatchRig.BackendId(0)));
            Assert.Contains(commands, c => rig.Events.For(c.PromptId).Any(e => e.BackendId == DispatchRig.BackendId(1)));
            return rig;
        }
        catch
        {
            TestContext.Current.TestOutputHelper?.WriteLine(await rig.DescribeAsync(commands));
            await rig.DisposeAsync();
            throw;
        }
    }

    /// <summary>For each backend, the replica holding its lease (null while none does).</summary>
    private static ServiceFactory<Program>?[] HeldBy(DispatchRig rig) =>
        Enumerable.Range(0, rig.Emulators.Count)
            .Select(i => rig.Replicas.FirstOrDefault(r => r.Services.GetRequiredService<BackendLeaseManager>().Holds(DispatchRig.BackendId(i))))
            .ToArray();
}
