using System.Net.Http.Json;
using System.Net;
using System.Text.Json.Nodes;
using DirectorsConsole.JobService.Tests.Engine;
using DirectorsConsole.Testing;

namespace DirectorsConsole.JobService.Tests.Api;

/// <summary>The WebSockets against real renders: emulated ComfyUI nodes, a real BackendService and two JobService
/// replicas on one Garnet.</summary>
public sealed class JobStreamTests
{
    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Fact]
    public async Task ClientsOnTwoReplicasGetInitialStateThenEveryEventInOrderAndSinceReplaysWhatFollowed()
    {
        // Arrange
        await using var rig = await EngineRig.StartAsync([1, 1], jobReplicas: 2);
        using var client = rig.Client(0);
        using var created = await client.PostAsJsonAsync("/api/job-group", new
        {
            workflow_json = EngineRig.Prompt(steps: 6, delayMs: 150),
            backend_ids = new[] { EngineRig.BackendId(0), EngineRig.BackendId(1) },
            seed_strategy = "sequential",
            base_seed = 7,
        }, Token);
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var id = (string)(await JobsApiTests.ReadAsync(created))["job_group_id"]!;

        // Act: one client on each replica at once, then a third that resumes from the first one's initial state
        await using var first = new StreamClient(await rig.ConnectAsync($"/ws/job-groups/{id}", replica: 0));
        await using var second = new StreamClient(await rig.ConnectAsync($"/ws/job-groups/{id}", replica: 1));
        await Task.WhenAll(first.ReceiveUntilAsync("group_complete"), second.ReceiveUntilAsync("group_complete"));
        var resumeAfter = (long)first.Received[0]["sequence"]!;
        await using var resumed = new StreamClient(await rig.ConnectAsync($"/ws/job-groups/{id}?since={resumeAfter}", replica: 1));
        await resumed.ReceiveUntilAsync("group_complete");
        var firstReceived = first.Received.ToArray();
        await first.SendTextAsync("ping");
        var pongAfterTheEnd = await first.ReceiveUntilAsync("pong");
        var status = await client.GetFromJsonAsync<JsonObject>($"/api/job-groups/{id}", Token);

        // Assert
        foreach (var received in new[] { firstReceived, second.Received.ToArray() })
        {
            var initial = received[0];
            Assert.Equal("initial_state", (string?)initial["type"]);
            Assert.Equal(id, (string?)initial["job_group_id"]);
            Assert.Equal(2, initial["child_jobs"]!.AsArray().Count);
            AssertConsecutive(received.Skip(1), (long)initial["sequence"]!);
        }

        var events = firstReceived.Skip(1).ToArray();
        Assert.Contains(events, e => (string?)e["type"] == "child_progress");
        var completed = events.Where(e => (string?)e["type"] == "child_completed").ToArray();
        Assert.Equal(2, completed.Length);
        Assert.All(completed, e => Assert.EndsWith(".png", (string?)e["outputs"]!["images"]![0]!["filename"]));
        Assert.Equal([7L, 8L], completed.Select(e => (long?)e["seed"]).Order().ToArray());
        var end = events[^1];
        Assert.Equal("group_complete", (string?)end["type"]);
        Assert.Equal(2, (int?)end["total"]);
        Assert.Equal(2, (int?)end["succeeded"]);

        // Both clients saw the same event under the same sequence.
        var bySequence = events.ToDictionary(e => (long)e["sequence"]!);
        Assert.All(second.Received.Skip(1).Where(e => bySequence.ContainsKey((long)e["sequence"]!)),
            e => Assert.True(JsonNode.DeepEquals(bySequence[(long)e["sequence"]!], e), e.ToJsonString()));

        // The resumed client got exactly what the first got after its initial state, and no initial_state.
        Assert.Equal(events.Select(e => e.ToJsonString()), resumed.Received.Select(e => e.ToJsonString()));
        Assert.Equal("""{"type":"pong"}""", pongAfterTheEnd.ToJsonString());
        Assert.Equal("completed", (string?)status!["status"]);
        Assert.Equal(2, (int?)status["completed_count"]);
        Assert.NotNull((string?)status["completed_at"]);
    }

    [Fact]
    public async Task ASingleJobIsAcceptedBeforeItRendersAndItsStreamEndsWithItsOutputs()
    {
        // Arrange
        await using var rig = await EngineRig.StartAsync([1], jobReplicas: 1);
        using var client = rig.Client();

        // Act: a render of 20 × 100 ms cannot have finished when the 202 comes back
        using var submitted = await client.PostAsJsonAsync("/api/job", new { workflow_json = EngineRig.Prompt(steps: 20, delayMs: 100) }, Token);
        var id = (string)(await JobsApiTests.ReadAsync(submitted))["job_id"]!;
        var right = await client.GetFromJsonAsync<JsonObject>($"/api/jobs/{id}", Token);
        await using var stream = new StreamClient(await rig.ConnectAsync($"/api/job/{id}/stream"));
        var initial = await stream.ReceiveAsync();
        var final = await ReceiveUntilFinalAsync(stream);
        var done = await client.GetFromJsonAsync<JsonObject>($"/api/jobs/{id}", Token);
        var outputs = await client.GetFromJsonAsync<JsonObject>($"/api/job/{id}/outputs", Token);

        // Assert
        Assert.Equal(HttpStatusCode.Accepted, submitted.StatusCode);
        Assert.Contains((string?)right!["status"], new[] { "queued", "running" });
        Assert.Equal("initial_state", (string?)initial!["type"]);
        Assert.Equal(id, (string?)initial["job_id"]);
        AssertConsecutive(stream.Received.Skip(1), (long)initial["sequence"]!);
        Assert.Contains("completed", (string?)final["type"]);
        Assert.Equal("completed", (string?)done!["status"]);
        Assert.Equal(100, (double?)done["progress"]);
        Assert.Equal(EngineRig.BackendId(0), (string?)done["backend_id"]);
        Assert.EndsWith(".png", (string?)outputs!["outputs"]!["images"]![0]!["filename"]);
    }

    [Fact]
    public async Task PreviewsReachTheJobAndGroupWatchersOnEveryReplicaWithoutASequenceAndAreNeverReplayed()
    {
        // Arrange
        await using var rig = await EngineRig.StartAsync([1, 1], jobReplicas: 2);
        using var client = rig.Client(0);

        // Act: a group over both nodes watched on both replicas, then a single job watched on the second; each prompt
        // sends a preview (SaveImageWebsocket) before it completes. The nodes hold every prompt at its next step until the
        // watchers are there (a preview is not stored: a watcher that comes later never sees it).
        await StallNodesAsync(rig, stalled: true);
        using var created = await client.PostAsJsonAsync("/api/job-group", new
        {
            workflow_json = TestPrompts.ProgressWithPreview(steps: 6, delayMs: 150, "previews/group", seed: 1, size: 32),
            backend_ids = new[] { EngineRig.BackendId(0), EngineRig.BackendId(1) },
            seed_strategy = "sequential",
            base_seed = 7,
        }, Token);
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var groupId = (string)(await JobsApiTests.ReadAsync(created))["job_group_id"]!;
        await using var groupWatchers = new AsyncDisposables(
            new StreamClient(await rig.ConnectAsync($"/ws/job-groups/{groupId}", replica: 0)),
            new StreamClient(await rig.ConnectAsync($"/ws/job-groups/{groupId}", replica: 1)));
        await Task.WhenAll(groupWatchers.Clients.Select(c => c.ReceiveUntilAsync("initial_state")));
        await StallNodesAsync(rig, stalled: false);
        await Task.WhenAll(groupWatchers.Clients.Select(c => c.ReceiveUntilAsync("group_complete")));
        await StallNodesAsync(rig, stalled: true);
        using var submitted = await client.PostAsJsonAsync("/api/job", new
        {
            workflow_json = TestPrompts.ProgressWithPreview(steps: 6, delayMs: 150, "previews/job", seed: 2, size: 32),
        }, Token);
        var jobId = (string)(await JobsApiTests.ReadAsync(submitted))["job_id"]!;
        await using var jobWatcher = new StreamClient(await rig.ConnectAsync($"/api/job/{jobId}/stream", replica: 1));
        await jobWatcher.ReceiveUntilAsync("initial_state");
        await StallNodesAsync(rig, stalled: false);
        await ReceiveUntilFinalAsync(jobWatcher);
        await using var groupResumed = new StreamClient(await rig.ConnectAsync($"/ws/job-groups/{groupId}?since=0", replica: 0));
        await groupResumed.ReceiveUntilAsync("group_complete");
        await using var jobResumed = new StreamClient(await rig.ConnectAsync($"/api/job/{jobId}/stream?since=0", replica: 1));
        await ReceiveUntilFinalAsync(jobResumed);
        var group = await client.GetFromJsonAsync<JsonObject>($"/api/job-groups/{groupId}", Token);

        // Assert: every watcher of the group saw a preview of each child before its completion, with no sequence, and its
        // events stayed gapless
        var children = group!["child_jobs"]!.AsArray().Select(c => c!.AsObject()).ToArray();
        Assert.Equal(2, children.Length);
        foreach (var watcher in groupWatchers.Clients)
        {
            var previews = watcher.Received.Where(m => (string?)m["type"] == "child_preview").ToArray();
            foreach (var child in children)
            {
                var ofChild = watcher.Received.Where(m => (string?)m["job_id"] == (string?)child["job_id"]).Select(m => (string?)m["type"]).ToArray();
                Assert.True(ofChild.Count(type => type == "child_preview") == 1 && ofChild[^1] == "child_completed",
                    $"child {child["job_id"]}: expected one preview, before its completion; got {string.Join(", ", ofChild)}");
                var preview = previews.Single(p => (string?)p["job_id"] == (string?)child["job_id"]);
                Assert.Equal(groupId, (string?)preview["job_group_id"]);
                Assert.Equal((string?)child["backend_id"], (string?)preview["backend_id"]);
                Assert.False(string.IsNullOrEmpty((string?)preview["prompt_id"]));
                Assert.NotNull((string?)preview["at"]);
                AssertImage(preview);
            }

            Assert.DoesNotContain(previews, p => p.ContainsKey("sequence"));
            var stored = watcher.Received.Except(previews).ToArray();
            Assert.Equal("initial_state", (string?)stored[0]["type"]);
            AssertConsecutive(stored.Skip(1), (long)stored[0]["sequence"]!);
        }

        var jobPreview = Assert.Single(jobWatcher.Received, m => (string?)m["type"] == "job_preview");
        Assert.Equal(["job_preview", "job_completed"], jobWatcher.Received.Select(m => (string?)m["type"]).Where(type => type != "job_progress").TakeLast(2));
        Assert.Equal(jobId, (string?)jobPreview["job_id"]);
        Assert.False(jobPreview.ContainsKey("sequence") || jobPreview.ContainsKey("job_group_id"));
        AssertImage(jobPreview);
        var jobEvents = jobWatcher.Received.Where(m => m != jobPreview).ToArray();
        AssertConsecutive(jobEvents.Skip(1), (long)jobEvents[0]["sequence"]!);

        // A client resuming with ?since=0 gets every stored event and no preview.
        Assert.DoesNotContain(groupResumed.Received.Concat(jobResumed.Received), m => ((string?)m["type"])!.EndsWith("_preview", StringComparison.Ordinal));
        AssertConsecutive(groupResumed.Received, 0);
        AssertConsecutive(jobResumed.Received, 0);
    }

    private static async Task StallNodesAsync(EngineRig rig, bool stalled)
    {
        for (var node = 0; node < rig.Emulators.Count; node++)
        {
            await rig.PostControlAsync(node, stalled ? "stall" : "unstall");
        }
    }

    private static void AssertImage(JsonObject preview) =>
        Assert.StartsWith("data:image/png;base64,", (string?)preview["image"]);

    private sealed class AsyncDisposables(params StreamClient[] clients) : IAsyncDisposable
    {
        public StreamClient[] Clients => clients;

        public async ValueTask DisposeAsync()
        {
            foreach (var client in clients)
            {
                await client.DisposeAsync();
            }
        }
    }

    private static void AssertConsecutive(IEnumerable<JsonObject> events, long after)
    {
        var expected = after;
        foreach (var e in events)
        {
            Assert.Equal(++expected, (long?)e["sequence"]);
        }
    }

    private static async Task<JsonObject> ReceiveUntilFinalAsync(StreamClient stream)
    {
        while (true)
        {
            var message = await stream.ReceiveAsync() ?? throw new InvalidOperationException("The job stream closed before the job ended.");
            if ((string?)message["type"] is "job_completed" or "job_failed" or "job_timeout" or "job_cancelled")
            {
                return message;
            }
        }
    }
}
