using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using DirectorsConsole.JobService.Tests.Api;
using DirectorsConsole.JobService.Tests.Engine;
using DirectorsConsole.Testing;

namespace DirectorsConsole.JobService.Tests.Contract;

/// <summary>
/// The web app's job-group client (its parallel generation service, its WebSocket hook and its result view), request
/// for request, with every field it reads checked by JSON type; times must parse in Python 3.8's
/// <c>datetime.fromisoformat</c> and JavaScript's <c>Date</c>; every child's <c>outputs</c> carries every kind
/// (<c>images: []</c> when none) and its ComfyUI <c>prompt_id</c>.
/// </summary>
public sealed class JobGroupContractTests(ApiFixture fixture) : IClassFixture<ApiFixture>
{
    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Fact]
    public async Task SubmitStatusAndCancelAnswerWhatTheAppReads()
    {
        // Arrange
        using var client = fixture.CreateClient();

        // Act: submitAndListen's body (a JobGroupRequest with the panel id added to its metadata), then the status
        // poll and the cancel button.
        using var submitted = await client.PostAsJsonAsync("/api/job-group", AppRequest(ApiFixture.Online, ApiFixture.OnlineFlux), Token);
        var group = await JobsApiTests.ReadAsync(submitted);
        var id = (string)WireAssert.Kind(group, "job_group_id", JsonValueKind.String)!;
        using var polled = await client.GetAsync($"/api/job-groups/{id}", Token);
        var status = await JobsApiTests.ReadAsync(polled);
        using var cancelled = await client.DeleteAsync($"/api/job-groups/{id}", Token);

        // Assert
        Assert.True(submitted.IsSuccessStatusCode);
        WireAssert.Kind(group, "status", JsonValueKind.String);
        WireAssert.IsoTimestamp(group, "created_at");
        var submittedChildren = WireAssert.Kind(group, "child_jobs", JsonValueKind.Array).AsArray();
        Assert.Equal(2, submittedChildren.Count);
        Assert.All(submittedChildren, child =>
        {
            WireAssert.Kind(child, "job_id", JsonValueKind.String);
            WireAssert.Kind(child, "backend_id", JsonValueKind.String);
            WireAssert.Kind(child, "seed", JsonValueKind.Number);
            WireAssert.Kind(child, "status", JsonValueKind.String);
        });

        Assert.True(polled.IsSuccessStatusCode);
        Assert.Equal(id, (string?)status["job_group_id"]);
        WireAssert.Kind(status, "status", JsonValueKind.String);
        Assert.Equal(0, (int)WireAssert.Kind(status, "completed_count", JsonValueKind.Number));
        Assert.Equal(0, (int)WireAssert.Kind(status, "failed_count", JsonValueKind.Number));
        Assert.Equal(2, (int)WireAssert.Kind(status, "total_count", JsonValueKind.Number));
        WireAssert.IsoTimestamp(status, "created_at");
        WireAssert.Kind(status, "completed_at", JsonValueKind.Null);
        Assert.All(WireAssert.Kind(status, "child_jobs", JsonValueKind.Array).AsArray(), child =>
        {
            AssertChildShape(child);
            Assert.Equal("queued", (string?)child!["status"]);
            var outputs = AssertOutputs(child["outputs"]);
            Assert.Empty(outputs["images"]!.AsArray());
            // Null until the scheduler hands the child to a node, then the id it will run under.
            WireAssert.Kind(outputs, "prompt_id", JsonValueKind.String, JsonValueKind.Null);
            WireAssert.Kind(child, "started_at", JsonValueKind.Null);
        });

        Assert.True(cancelled.IsSuccessStatusCode);
    }

    [Fact]
    public async Task TheStreamAndTheStatusOfARenderedGroupCarryOutputsOfEveryKindAndThePromptId()
    {
        // Arrange
        await using var rig = await EngineRig.StartAsync([1]);
        using var client = rig.Client();
        var request = AppRequest(EngineRig.BackendId(0));
        request["workflow_json"] = EngineRig.Prompt(steps: 3, delayMs: 20);
        using var submitted = await client.PostAsJsonAsync("/api/job-group", request, Token);
        var id = (string)(await JobsApiTests.ReadAsync(submitted))["job_group_id"]!;

        // Act
        await using var socket = new StreamClient(await rig.ConnectAsync($"/ws/job-groups/{id}"));
        var end = await socket.ReceiveUntilAsync("group_complete");
        await socket.SendTextAsync("ping");
        var pong = await socket.ReceiveUntilAsync("pong");
        var status = await client.GetFromJsonAsync<JsonObject>($"/api/job-groups/{id}", Token);

        // Assert: what createJobGroupWebSocket reads from each message.
        var initial = socket.Received[0];
        Assert.Equal("initial_state", (string?)initial["type"]);
        Assert.All(WireAssert.Kind(initial, "child_jobs", JsonValueKind.Array).AsArray(), child =>
        {
            WireAssert.Kind(child, "job_id", JsonValueKind.String);
            WireAssert.Kind(child, "backend_id", JsonValueKind.String);
            WireAssert.Kind(child, "seed", JsonValueKind.Number);
            WireAssert.Kind(child, "status", JsonValueKind.String);
            WireAssert.Kind(child, "progress", JsonValueKind.Number);
        });
        foreach (var progress in socket.Received.Where(e => (string?)e["type"] == "child_progress"))
        {
            WireAssert.Kind(progress, "job_id", JsonValueKind.String);
            WireAssert.Kind(progress, "backend_id", JsonValueKind.String);
            WireAssert.Kind(progress, "progress", JsonValueKind.Number);
        }

        var completed = Assert.Single(socket.Received, e => (string?)e["type"] == "child_completed");
        WireAssert.Kind(completed, "job_id", JsonValueKind.String);
        WireAssert.Kind(completed, "backend_id", JsonValueKind.String);
        WireAssert.Kind(completed, "seed", JsonValueKind.Number);
        WireAssert.IsoTimestamp(completed, "completed_at");
        var streamed = AssertOutputs(completed["outputs"]);
        var image = Assert.Single(streamed["images"]!.AsArray());
        foreach (var field in new[] { "filename", "subfolder", "type", "url" })
        {
            WireAssert.Kind(image, field, JsonValueKind.String);
        }

        var promptId = (string)WireAssert.Kind(streamed, "prompt_id", JsonValueKind.String)!;
        Assert.True(Guid.TryParse(promptId, out _), promptId);

        Assert.Equal(1, (int)WireAssert.Kind(end, "succeeded", JsonValueKind.Number));
        Assert.Equal(0, (int)WireAssert.Kind(end, "failed", JsonValueKind.Number));
        Assert.Equal(1, (int)WireAssert.Kind(end, "total", JsonValueKind.Number));
        Assert.Equal("pong", (string?)pong["type"]);

        WireAssert.IsoTimestamp(status, "completed_at");
        var child = Assert.Single(status!["child_jobs"]!.AsArray());
        AssertChildShape(child);
        WireAssert.IsoTimestamp(child, "started_at");
        WireAssert.IsoTimestamp(child, "completed_at");
        Assert.Equal(promptId, (string?)AssertOutputs(child!["outputs"])["prompt_id"]);
    }

    // JobGroupRequest as the app builds it, with submitAndListen's panel id.
    private static JsonObject AppRequest(params string[] backendIds) => new()
    {
        ["workflow_json"] = EngineRig.Prompt(3, 10),
        ["parameters"] = new JsonObject(),
        ["backend_ids"] = new JsonArray(backendIds.Select(id => (JsonNode)id).ToArray()),
        ["seed_strategy"] = "random",
        ["base_seed"] = null,
        ["metadata"] = new JsonObject { ["panel_id"] = "panel-3" },
        ["timeout_seconds"] = 300,
        ["required_capabilities"] = new JsonArray(),
    };

    // The ChildJob fields the result view reads.
    private static void AssertChildShape(JsonNode? child)
    {
        WireAssert.Kind(child, "job_id", JsonValueKind.String);
        WireAssert.Kind(child, "backend_id", JsonValueKind.String);
        WireAssert.Kind(child, "seed", JsonValueKind.Number);
        WireAssert.Kind(child, "status", JsonValueKind.String);
        WireAssert.Kind(child, "progress", JsonValueKind.Number);
        WireAssert.Kind(child, "current_step", JsonValueKind.String, JsonValueKind.Null);
        WireAssert.Kind(child, "error_message", JsonValueKind.String, JsonValueKind.Null);
        WireAssert.Kind(child, "error_type", JsonValueKind.String, JsonValueKind.Null);
        WireAssert.IsoTimestamp(child, "queued_at");
        WireAssert.Kind(child, "started_at", JsonValueKind.String, JsonValueKind.Null);
        WireAssert.Kind(child, "completed_at", JsonValueKind.String, JsonValueKind.Null);
    }

    private static JsonNode AssertOutputs(JsonNode? outputs)
    {
        Assert.Equal(JsonValueKind.Object, outputs?.GetValueKind());
        foreach (var kind in new[] { "images", "gifs", "videos", "audio", "text" })
        {
            WireAssert.Kind(outputs, kind, JsonValueKind.Array);
        }

        Assert.True(outputs!.AsObject().ContainsKey("prompt_id"), outputs.ToJsonString());
        return outputs;
    }
}
