using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json.Nodes;
using DirectorsConsole.Contracts;
using DirectorsConsole.JobService.Engine;
using DirectorsConsole.JobService.Model;
using DirectorsConsole.Messaging;
using DirectorsConsole.Testing;

namespace DirectorsConsole.JobService.Tests.Engine;

/// <summary>The job engine end to end: JobService's engine, a real BackendService and two ComfyUI emulators on one Garnet.
/// The tests run one after the other and leave the nodes as they found them.</summary>
public sealed class JobEngineTests(SharedEngineRig shared, ITestOutputHelper output) : IClassFixture<SharedEngineRig>
{
    private static readonly byte[] PngSignature = [0x89, 0x50, 0x4E, 0x47];

    private EngineRig Rig => shared.Rig;

    private static CancellationToken Token => EngineRig.Token;

    [Fact]
    public async Task SingleJobCompletesWithPngOutputsAndItsSeed()
    {
        // Arrange
        var submission = new JobSubmission(EngineRig.Prompt()) { Seed = 4242, BackendAffinity = EngineRig.BackendId(0), TimeoutSeconds = 60 };

        // Act
        var queued = await Rig.Engine().SubmitJobAsync(submission, Token);
        var job = await Rig.WaitForEndAsync(queued.JobId);

        // Assert: the record
        Assert.Equal(JobStatuses.Queued, queued.Status);
        Assert.Equal(JobStatuses.Completed, job.Status);
        Assert.Equal(100, job.Progress);
        Assert.Equal(4242, job.Seed);
        Assert.Equal([EngineRig.BackendId(0)], job.Attempts);
        Assert.NotNull(job.StartedAt);
        Assert.True(job.CompletedAt >= job.StartedAt);
        var image = Assert.Single(job.Outputs!["images"]!.AsArray())!.AsObject();
        Assert.EndsWith(".png", (string)image["filename"]!);
        Assert.Equal("output", (string?)image["type"]);

        // Assert: a real PNG, rendered with the job's seed
        var bytes = await Rig.Emulators[0].Client.GetByteArrayAsync(
            $"view?filename={Uri.EscapeDataString((string)image["filename"]!)}&subfolder={image["subfolder"]}&type=output", Token);
        Assert.Equal(PngSignature, bytes[..4]);
        var history = JsonNode.Parse(await Rig.Emulators[0].Client.GetStringAsync($"history/{job.PromptId}", Token))!;
        Assert.Equal(4242, (long)history[job.PromptId!]!["prompt"]![2]!["1"]!["inputs"]!["seed"]!);

        // Assert: the job's stream, gapless, ending with job_completed
        var events = await Rig.Streams().ReadAsync(JobStreamId.Job(job.JobId), 0, Token);
        Assert.Equal(Enumerable.Range(1, events.Count).Select(i => (long)i), events.Select(e => e.Sequence));
        Assert.Equal("job_started", events[0].Type);
        Assert.Contains(events, e => e.Type == "job_progress");
        Assert.Equal("job_completed", events[^1].Type);
        Assert.Single(events, e => e.Type == "job_completed");
        Assert.Equal(4242, (long)events[^1].Payload["seed"]!);
        Assert.Equal("job_completed", (string?)events[^1].Payload["type"]);

        // Assert: its slot is free again
        Assert.Equal(0, await Rig.Get<JobStore>().CountSlotsAsync(EngineRig.BackendId(0), Token));
    }

    [Fact]
    public async Task GroupOverTwoBackendsCompletesOnceWithGaplessEvents()
    {
        // Arrange: a subscriber from the first event on, on the other replica
        var submission = new JobGroupSubmission(EngineRig.Prompt(steps: 6), [EngineRig.BackendId(0), EngineRig.BackendId(1)], [11, 22]) { TimeoutSeconds = 60 };
        var seen = new ConcurrentQueue<JobStreamEvent>();

        // Act
        var view = await Rig.Engine().SubmitGroupAsync(submission, Token);
        var stream = JobStreamId.Group(view.Group.JobGroupId);
        await using (await Rig.Streams(1).SubscribeAsync(stream, 0, (e, _) =>
        {
            seen.Enqueue(e);
            return Task.CompletedTask;
        }, Token))
        {
            var ended = await Rig.WaitForGroupEndAsync(view.Group.JobGroupId);
            await Eventually.ReturnsAsync(() => Task.FromResult(seen.ToList()), list => list.Any(e => e.Type == "group_complete"), TimeSpan.FromSeconds(10));

            // Assert: the group and its children
            Assert.Equal(JobGroupStatuses.Running, view.Group.Status);
            Assert.StartsWith("jg_", view.Group.JobGroupId);
            Assert.Equal(15, view.Group.JobGroupId.Length);
            Assert.All(view.Children, c => Assert.Matches("^j_[0-9a-f]{12}$", c.JobId));
            Assert.Equal(JobGroupStatuses.Completed, ended.Group.Status);
            Assert.Equal([11L, 22L], ended.Children.Select(c => c.Seed!.Value));
            Assert.Equal([EngineRig.BackendId(0), EngineRig.BackendId(1)], ended.Children.Select(c => c.BackendId!));
            Assert.All(ended.Children, c => Assert.Equal(JobStatuses.Completed, c.Status));
            Assert.All(ended.Children, c => Assert.Equal([c.BackendId!], c.Attempts));
        }

        // Assert: the stream, gapless, with one end per child and group_complete once, last
        var events = await Rig.Streams().ReadAsync(stream, 0, Token);
        Assert.Equal(Enumerable.Range(1, events.Count).Select(i => (long)i), events.Select(e => e.Sequence));
        Assert.Equal(events.Select(e => (e.Sequence, e.Type)), seen.Select(e => (e.Sequence, e.Type)));
        Assert.Single(events, e => e.Type == "group_complete");
        Assert.Equal("group_complete", events[^1].Type);
        Assert.All(view.Children, c => Assert.Single(events, e => e.Type == "child_completed" && (string?)e.Payload["job_id"] == c.JobId));
        var progress = events.First(e => e.Type == "child_progress").Payload;
        Assert.All(["job_id", "backend_id", "progress", "current_step", "steps_completed", "steps_total"], key => Assert.True(progress.ContainsKey(key), key));
        var complete = events[^1].Payload;
        Assert.Equal(2, (int)complete["total"]!);
        Assert.Equal(2, (int)complete["succeeded"]!);
        Assert.Equal(0, (int)complete["failed"]!);
        Assert.All(complete["results"]!.AsArray(), r => Assert.NotNull(r!["outputs"]!["images"]));
    }

    [Fact]
    public async Task GroupSubmittedInATraceIsDispatchedAndPostedToTheNodesInThatTrace()
    {
        // Arrange: every span of the suite's code and of HttpClient, from both services running in this process
        using var source = new ActivitySource("DirectorsConsole.Tests.Tracing");
        var stopped = new ConcurrentQueue<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = s => s.Name.StartsWith("DirectorsConsole", StringComparison.Ordinal) || s.Name == "System.Net.Http",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = stopped.Enqueue,
        };
        ActivitySource.AddActivityListener(listener);
        // Seeds no other test of this class uses: a node answers a prompt it already ran from its cache, which would
        // hide a failure another test sets up on it.
        var submission = new JobGroupSubmission(EngineRig.Prompt(), [EngineRig.BackendId(0), EngineRig.BackendId(1)], [7001, 7002]) { TimeoutSeconds = 60 };

        // Act: the submission happens inside a request's span; the scheduler dispatches later, from its own loop
        JobGroupView view;
        ActivityContext submitted;
        using (var request = source.StartActivity("POST /api/job-groups", ActivityKind.Server))
        {
            submitted = request!.Context;
            view = await Rig.Engine().SubmitGroupAsync(submission, Token);
        }

        await Rig.WaitForGroupEndAsync(view.Group.JobGroupId);
        var posts = await Eventually.ReturnsAsync(
            () => Task.FromResult(stopped.Where(a => a.TraceId == submitted.TraceId && a.Kind == ActivityKind.Client
                && a.GetTagItem("url.full") is string url && url.EndsWith("/prompt", StringComparison.Ordinal)).ToList()),
            found => found.Count == 2);

        // Assert: each child's dispatch is a child of the request's span, and both POST /prompt calls are in its trace
        var dispatches = stopped.Where(a => a.OperationName == "dispatch job" && a.TraceId == submitted.TraceId).ToList();
        Assert.Equal(view.Children.Select(c => c.JobId).Order(), dispatches.Select(a => (string)a.GetTagItem("job.id")!).Order());
        Assert.All(dispatches, d => Assert.Equal(submitted.SpanId, d.ParentSpanId));
        Assert.Equal(2, posts.Count);
    }

    [Fact]
    public async Task FailingChildMakesTheGroupPartialComplete()
    {
        // Arrange: every prompt fails at node 1 on emu-1
        await Rig.PostControlAsync(1, "config", """{"fail_at_node": "1"}""");
        try
        {
            var submission = new JobGroupSubmission(EngineRig.Prompt(), [EngineRig.BackendId(0), EngineRig.BackendId(1)], [1, 2]) { TimeoutSeconds = 60 };

            // Act
            var view = await Rig.Engine().SubmitGroupAsync(submission, Token);
            var ended = await Rig.WaitForGroupEndAsync(view.Group.JobGroupId);

            // Assert
            Assert.Equal(JobGroupStatuses.PartialComplete, ended.Group.Status);
            Assert.Equal(JobStatuses.Completed, ended.Children[0].Status);
            var failed = ended.Children[1];
            Assert.Equal(JobStatuses.Failed, failed.Status);
            Assert.Equal("RuntimeError", failed.ErrorType);
            Assert.False(string.IsNullOrEmpty(failed.ErrorMessage));
            var events = await Rig.Streams().ReadAsync(JobStreamId.Group(view.Group.JobGroupId), 0, Token);
            var childFailed = Assert.Single(events, e => e.Type == "child_failed").Payload;
            Assert.Equal(failed.JobId, (string?)childFailed["job_id"]);
            Assert.Equal("RuntimeError", (string?)childFailed["error_type"]);
            Assert.NotNull((string?)childFailed["failed_at"]);
            var complete = Assert.Single(events, e => e.Type == "group_complete").Payload;
            Assert.Equal(1, (int)complete["succeeded"]!);
            Assert.Equal(1, (int)complete["failed"]!);
            Assert.Equal(failed.ErrorMessage, (string?)complete["results"]![1]!["error"]);
        }
        finally
        {
            await Rig.PostControlAsync(1, "config", """{"fail_at_node": ""}""");
        }
    }

    [Fact]
    public async Task StalledPromptTimesOutOnRunningTimeAndLeavesTheNode()
    {
        // Arrange: prompts start on emu-1 but never get further
        await Rig.PostControlAsync(1, "stall");
        try
        {
            var submission = new JobSubmission(EngineRig.Prompt()) { BackendAffinity = EngineRig.BackendId(1), TimeoutSeconds = 2 };

            // Act
            var queued = await Rig.Engine().SubmitJobAsync(submission, Token);
            var job = await Rig.WaitForEndAsync(queued.JobId);

            // Assert: timed out, counted from when it started running
            Assert.Equal(JobStatuses.Timeout, job.Status);
            Assert.Equal(JobErrorTypes.Timeout, job.ErrorType);
            Assert.NotNull(job.StartedAt);
            Assert.True(job.CompletedAt - job.StartedAt >= TimeSpan.FromSeconds(2));
            var events = await Rig.Streams().ReadAsync(JobStreamId.Job(job.JobId), 0, Token);
            var timeout = Assert.Single(events, e => e.Type == "job_timeout").Payload;
            Assert.Equal(2, (int)timeout["timeout_seconds"]!);
            Assert.NotNull((string?)timeout["timed_out_at"]);
            Assert.Equal("job_timeout", events[^1].Type);

            // Assert: the prompt was stopped on the node (an interrupt ends a stalled prompt)
            var onNode = await Eventually.ReturnsAsync(() => Rig.QueueAsync(1), q => !q.Contains(job.PromptId!), TimeSpan.FromSeconds(15));
            Assert.DoesNotContain(job.PromptId!, onNode);
            Assert.Equal(JobStatuses.Timeout, (await Rig.Engine().GetJobAsync(job.JobId, Token))!.Status);
        }
        finally
        {
            await Rig.PostControlAsync(1, "unstall");
        }
    }

    [Fact]
    public async Task CancelStopsOnlyItsPromptOnTheNode()
    {
        // Arrange: a long job running on emu-0 and a second one waiting behind it in the node's queue (2 slots)
        var engine = Rig.Engine();
        var longJob = await engine.SubmitJobAsync(new JobSubmission(EngineRig.Prompt(steps: 400, delayMs: 50)) { BackendAffinity = EngineRig.BackendId(0) }, Token);
        var running = await Rig.WaitForJobAsync(longJob.JobId, j => j.Status == JobStatuses.Running && j.Progress > 0);
        var nextJob = await engine.SubmitJobAsync(new JobSubmission(EngineRig.Prompt(steps: 5, delayMs: 20, seed: 2)) { BackendAffinity = EngineRig.BackendId(0) }, Token);
        var waiting = await Rig.WaitForJobAsync(nextJob.JobId, j => j.PromptId is not null);
        await Eventually.ReturnsAsync(() => Rig.QueueAsync(0), q => q.Contains(waiting.PromptId!), TimeSpan.FromSeconds(15));

        // Act
        var cancelled = await engine.CancelJobAsync(longJob.JobId, Token);

        // Assert: cancelled at once, removed from the node, and the other prompt still ran to the end
        Assert.Equal(JobStatuses.Cancelled, cancelled!.Status);
        var next = await Rig.WaitForEndAsync(nextJob.JobId);
        Assert.Equal(JobStatuses.Completed, next.Status);
        var queue = await Eventually.ReturnsAsync(() => Rig.QueueAsync(0), q => q.Count == 0, TimeSpan.FromSeconds(15));
        Assert.Empty(queue);
        var history = JsonNode.Parse(await Rig.Emulators[0].Client.GetStringAsync($"history/{running.PromptId}", Token))!.AsObject();
        var messages = history[running.PromptId!]!["status"]!["messages"]!.AsArray().Select(m => (string)m![0]!).ToList();
        Assert.Contains("execution_interrupted", messages);
        Assert.Equal(JobStatuses.Cancelled, (await engine.GetJobAsync(longJob.JobId, Token))!.Status);
        var events = await Rig.Streams().ReadAsync(JobStreamId.Job(longJob.JobId), 0, Token);
        Assert.Single(events, e => e.Type == "job_cancelled");
        Assert.DoesNotContain(events, e => e.Type is "job_completed" or "job_failed");

        // Assert: a cancel of an ended job changes nothing
        Assert.Equal(JobStatuses.Completed, (await engine.CancelJobAsync(nextJob.JobId, Token))!.Status);
        Assert.Null(await engine.CancelJobAsync("no-such-job", Token));
    }

    [Fact]
    public async Task TwentyJobsOnABusyBackendRunInPriorityOrder()
    {
        // Arrange: emu-1 (one slot) is busy with a long job
        var engine = Rig.Engine();
        var blocker = await engine.SubmitJobAsync(new JobSubmission(EngineRig.Prompt(steps: 80, delayMs: 50)) { BackendAffinity = EngineRig.BackendId(1) }, Token);
        await Rig.WaitForJobAsync(blocker.JobId, j => j.Status == JobStatuses.Running);

        // Act: 20 jobs with mixed priorities queue behind it
        var submitted = new List<JobRecord>();
        for (var i = 0; i < 20; i++)
        {
            var priority = i * 7 % 5;
            submitted.Add(await engine.SubmitJobAsync(
                new JobSubmission(EngineRig.Prompt(steps: 1, delayMs: 1, seed: i)) { BackendAffinity = EngineRig.BackendId(1), Priority = priority }, Token));
        }

        var blockerAfterSubmits = await engine.GetJobAsync(blocker.JobId, Token);
        var ended = new List<JobRecord>();
        foreach (var job in submitted)
        {
            ended.Add(await Rig.WaitForEndAsync(job.JobId, TimeSpan.FromSeconds(60)));
        }

        // Assert: they all waited for the blocker, then ran one at a time, lowest priority first, FIFO within a priority
        Assert.Equal(JobStatuses.Running, blockerAfterSubmits!.Status);
        Assert.All(ended, j => Assert.Equal(JobStatuses.Completed, j.Status));
        var expected = submitted.Select((j, i) => (j.JobId, j.Priority, i)).OrderBy(x => x.Priority).ThenBy(x => x.i).Select(x => x.JobId).ToList();
        var actual = ended.OrderBy(j => j.StartedAt).Select(j => j.JobId).ToList();
        Assert.Equal(expected, actual);
        // One at a time by the node's own clock: the suite's started_at and completed_at are when BackendService learned
        // of each (a completion found by the reconcile, when the node's history was late, is learned after the next start).
        var byStart = ended.OrderBy(j => j.StartedAt).ToList();
        var onNode = new List<(long Start, long End)>();
        foreach (var job in byStart)
        {
            var history = JsonNode.Parse(await Rig.Emulators[1].Client.GetStringAsync($"history/{job.PromptId}", Token))!;
            var messages = history[job.PromptId!]!["status"]!["messages"]!.AsArray();
            long At(string type) => (long)messages.Single(m => (string)m![0]! == type)![1]!["timestamp"]!;
            onNode.Add((At("execution_start"), At("execution_success")));
        }

        for (var i = 1; i < onNode.Count; i++)
        {
            Assert.True(onNode[i].Start >= onNode[i - 1].End, $"Job {byStart[i].JobId} started on the node before {byStart[i - 1].JobId} ended there");
        }
    }

    [Fact]
    public async Task QueuedJobMissingFromEveryQueueIsPutBackAndRuns()
    {
        // Arrange: emu-1 (one slot) busy for a couple of seconds, and a job for it whose queue entry is then lost, as
        // when Redis dies before persisting the last writes of the submit
        var engine = Rig.Engine();
        var blocker = await engine.SubmitJobAsync(new JobSubmission(EngineRig.Prompt(steps: 20, delayMs: 100)) { BackendAffinity = EngineRig.BackendId(1) }, Token);
        await Rig.WaitForJobAsync(blocker.JobId, j => j.Status == JobStatuses.Running);
        var stranded = await engine.SubmitJobAsync(new JobSubmission(EngineRig.Prompt(steps: 1, seed: 77)) { BackendAffinity = EngineRig.BackendId(1) }, Token);
        var removed = await Rig.Get<IRedisConnection>().ExecuteAsync(["ZREM", JobKeys.BackendQueue(EngineRig.BackendId(1)), stranded.JobId], Token);

        // Act: the blocker ends and frees the slot
        var ended = await Rig.WaitForEndAsync(stranded.JobId);

        // Assert: the job was in its queue, lost it, and still ran once the slot was free
        Assert.Equal(1, removed.AsInt64());
        Assert.Equal(JobStatuses.Completed, ended.Status);
        Assert.Equal(EngineRig.BackendId(1), ended.BackendId);
        Assert.Equal(JobStatuses.Completed, (await Rig.WaitForEndAsync(blocker.JobId)).Status);
    }

    [Fact]
    public async Task JobForAnIdleBackendStartsAtOnceBehindAThousandWaitingForABusyOne()
    {
        // Arrange: emu-1 (one slot) is busy with a job that never ends (the node stalls it) and 1,000 jobs wait for it,
        // twice the scheduler's scan limit
        var engine = Rig.Engine();
        await Rig.PostControlAsync(1, "stall");
        var blocker = await engine.SubmitJobAsync(new JobSubmission(EngineRig.Prompt()) { BackendAffinity = EngineRig.BackendId(1) }, Token);
        await Rig.WaitForJobAsync(blocker.JobId, j => j.Status == JobStatuses.Running);
        var waiting = new List<JobRecord>();
        foreach (var batch in Enumerable.Range(0, 1000).Chunk(100))
        {
            waiting.AddRange(await Task.WhenAll(batch.Select(i => engine.SubmitJobAsync(
                new JobSubmission(EngineRig.Prompt(steps: 1, delayMs: 1, seed: i)) { BackendAffinity = EngineRig.BackendId(1) }, Token))));
        }

        try
        {
            // Act: one job for emu-0, which has a free slot, queued after all of them
            var clock = Stopwatch.StartNew();
            var idle = await engine.SubmitJobAsync(new JobSubmission(EngineRig.Prompt(steps: 2, seed: 5000)) { BackendAffinity = EngineRig.BackendId(0) }, Token);
            var dispatched = await Rig.WaitForJobAsync(idle.JobId, j => j.PromptId is not null, TimeSpan.FromSeconds(10));
            var dispatchedAfter = clock.Elapsed;
            var ended = await Rig.WaitForEndAsync(idle.JobId);
            var stillWaiting = await Rig.Get<JobStore>().GetJobsAsync(waiting.Select(j => j.JobId), Token);
            var blockerNow = await engine.GetJobAsync(blocker.JobId, Token);

            // Assert: it ran on emu-0 while emu-1's queue stayed as it was
            Assert.Equal(EngineRig.BackendId(0), dispatched.BackendId);
            Assert.Equal(JobStatuses.Completed, ended.Status);
            Assert.Equal(JobStatuses.Running, blockerNow!.Status);
            Assert.Equal(1000, stillWaiting.Count);
            Assert.All(stillWaiting, j => Assert.Equal(JobStatuses.Queued, j.Record.Status));
            output.WriteLine($"A job for an idle backend behind 1,000 for a busy one was dispatched after {dispatchedAfter.TotalMilliseconds:0} ms and completed after {clock.Elapsed.TotalMilliseconds:0} ms");
        }
        finally
        {
            foreach (var batch in waiting.Chunk(100))
            {
                await Task.WhenAll(batch.Select(j => engine.CancelJobAsync(j.JobId, Token)));
            }

            await engine.CancelJobAsync(blocker.JobId, Token);
            await Rig.PostControlAsync(1, "unstall");
        }

        var emulatorQueue = await Eventually.ReturnsAsync(() => Rig.QueueAsync(1), q => q.Count == 0, TimeSpan.FromSeconds(15));
        Assert.Empty(emulatorQueue);
    }

    [Fact]
    public async Task TwoReplicasApplyingTheSameEventsCountThemOnce()
    {
        // Arrange: a group of three children, dispatched (as far as the engine knows) to an online backend that never
        // hears of them (one that does not exist would have the replicas' reconcile, every second here, move them
        // elsewhere before a slow machine got to their completions)
        var backend = EngineRig.BackendId(0);
        var now = DateTimeOffset.UtcNow;
        var groupId = "jg_" + Guid.NewGuid().ToString("N")[..12];
        var children = Enumerable.Range(0, 3).Select(i =>
        {
            var record = new JobRecord($"j_{Guid.NewGuid():N}"[..14], JobStatuses.Queued, now)
            {
                GroupId = groupId, BackendId = backend, PromptId = Guid.NewGuid().ToString(), Attempts = [backend], Seed = i, QueuedAt = now,
            };
            return (record, new JobEngineState { Target = backend, Dispatch = DispatchStates.Sent, DispatchedAt = now });
        }).ToList();
        var group = new JobGroupRecord(groupId, JobGroupStatuses.Running, now) { ChildJobIds = children.Select(c => c.record.JobId).ToList(), BackendIds = [backend] };
        await Rig.Get<JobStateMachine>().CreateGroupAsync(group, new JobPrompt(EngineRig.Prompt(), null), children, Token);
        var completions = children.Select(c => new RenderEvent(RenderEventKinds.Completed, c.record.PromptId!, c.record.JobId, backend, DateTimeOffset.UtcNow)
        {
            Outputs = [new RenderOutput("images", "2") { Filename = "a.png", Subfolder = "", Type = "output", Url = "http://ghost/view?filename=a.png" }],
        }).ToList();

        // Act: both replicas apply every event five times, all at once
        var appliers = new[] { Rig.Get<RenderEventApplier>(0), Rig.Get<RenderEventApplier>(1) };
        await Task.WhenAll(completions.SelectMany(e => appliers.SelectMany(a => Enumerable.Range(0, 5).Select(_ => Task.Run(() => a.ApplyAsync(e, Token), Token)))));

        // Assert
        var view = await Rig.Engine(1).GetGroupAsync(groupId, Token);
        Assert.Equal(JobGroupStatuses.Completed, view!.Group.Status);
        Assert.All(view.Children, c => Assert.Equal(JobStatuses.Completed, c.Status));
        var events = await Rig.Streams().ReadAsync(JobStreamId.Group(groupId), 0, Token);
        // Each child was queued as far as the engine knew, so its completion also starts it.
        Assert.Equal(7, events.Count);
        Assert.Equal([1L, 2, 3, 4, 5, 6, 7], events.Select(e => e.Sequence));
        Assert.Equal(3, events.Count(e => e.Type == "child_started"));
        Assert.Equal(3, events.Count(e => e.Type == "child_completed"));
        Assert.Equal("group_complete", events[^1].Type);
        Assert.Equal("a.png", (string?)view.Children[0].Outputs!["images"]![0]!["filename"]);
    }

    [Fact]
    public async Task CancelledGroupStaysCancelledAndEndsOnce()
    {
        // Arrange: two long children
        var engine = Rig.Engine();
        var submission = new JobGroupSubmission(EngineRig.Prompt(steps: 400, delayMs: 50), [EngineRig.BackendId(0), EngineRig.BackendId(1)], [5, 6]);
        var view = await engine.SubmitGroupAsync(submission, Token);
        await Rig.WaitForJobAsync(view.Children[0].JobId, j => j.Status == JobStatuses.Running);

        // Act
        var result = await engine.CancelGroupAsync(view.Group.JobGroupId, Token);
        var ended = await Rig.WaitForGroupEndAsync(view.Group.JobGroupId);

        // Assert
        Assert.Equal(new JobGroupCancelResult(true, 2, 0, 0), result);
        Assert.Equal(JobGroupStatuses.Cancelled, ended.Group.Status);
        Assert.All(ended.Children, c => Assert.Equal(JobStatuses.Cancelled, c.Status));
        var events = await Rig.Streams().ReadAsync(JobStreamId.Group(view.Group.JobGroupId), 0, Token);
        Assert.Equal(2, events.Count(e => e.Type == "child_cancelled"));
        Assert.Equal("group_complete", Assert.Single(events, e => e.Type == "group_complete").Type);
        foreach (var emulator in new[] { 0, 1 })
        {
            var queue = await Eventually.ReturnsAsync(() => Rig.QueueAsync(emulator), q => q.Count == 0, TimeSpan.FromSeconds(15));
            Assert.Empty(queue);
        }

        Assert.Null(await engine.CancelGroupAsync("jg_000000000000", Token));
    }

    [Fact]
    public async Task CleanupRemovesJobsThatEndedBeforeTheRetention()
    {
        // Arrange: a single job that has ended, its end moved back beyond the retention (7 days), and one that ended just now
        var engine = Rig.Engine();
        var old = await engine.SubmitJobAsync(new JobSubmission(EngineRig.Prompt()) { RequiredCapabilities = ["no-such-capability"] }, Token);
        var recent = await engine.SubmitJobAsync(new JobSubmission(EngineRig.Prompt()) { RequiredCapabilities = ["no-such-capability"] }, Token);
        await engine.CancelJobAsync(old.JobId, Token);
        await engine.CancelJobAsync(recent.JobId, Token);
        await Rig.Redis.SortedSetAddAsync(JobKeys.FinishedJobs, old.JobId, DateTimeOffset.UtcNow.AddDays(-8).ToUnixTimeMilliseconds(), Token);

        // Act
        await Rig.Get<JobMaintenance>().CleanupAsync(Token);

        // Assert
        Assert.Null(await engine.GetJobAsync(old.JobId, Token));
        Assert.Empty(await Rig.Streams().ReadAsync(JobStreamId.Job(old.JobId), 0, Token));
        Assert.DoesNotContain(old.JobId, (await engine.ListJobsAsync(JobStatuses.Cancelled, 0, 1000, Token)).Jobs.Select(j => j.JobId));
        Assert.Equal(JobStatuses.Cancelled, (await engine.GetJobAsync(recent.JobId, Token))!.Status);
        Assert.Contains(recent.JobId, (await engine.ListJobsAsync(null, 0, 1000, Token)).Jobs.Select(j => j.JobId));
    }
}
