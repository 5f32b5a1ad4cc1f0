using System.Net.Http.Json;
using System.Net;
using System.Text.Json.Nodes;
using DirectorsConsole.JobService.Tests.Engine;

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
