using System.Buffers.Binary;
using System.Net;
using System.Net.Http.Json;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json.Nodes;
using DirectorsConsole.Testing;

namespace DirectorsConsole.IntegrationTests;

/// <summary>Jobs and job groups through the Gateway of the suite the README starts, rendered by its two emulated nodes.</summary>
[Collection(nameof(SuiteCollection))]
public sealed class JobTests(RunningSuiteFixture fixture)
{
    private static CancellationToken Token => TestContext.Current.CancellationToken;

    private SuiteApp Suite => fixture.Suite;

    [Fact]
    public async Task AGroupOverBothBackendsStreamsToTwoWebSocketClientsAndEndsCompleted()
    {
        // Arrange
        var backendIds = await OnlineBackendIdsAsync(2);
        using var created = await Suite.Gateway.PostAsJsonAsync("/api/job-group", new
        {
            workflow_json = new JsonObject
            {
                ["1"] = new JsonObject
                {
                    ["class_type"] = "TestProgressImage",
                    ["inputs"] = new JsonObject { ["steps"] = 5, ["delay_ms"] = 100, ["seed"] = 1, ["width"] = 32, ["height"] = 32 },
                },
                ["2"] = new JsonObject
                {
                    ["class_type"] = "SaveImage",
                    ["inputs"] = new JsonObject { ["images"] = new JsonArray("1", 0), ["filename_prefix"] = "jobtests/group" },
                },
            },
            backend_ids = backendIds,
            seed_strategy = "fibonacci",
            base_seed = 1000,
            metadata = new { panel_id = 3 },
        }, Token);
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var id = (string)(await created.Content.ReadFromJsonAsync<JsonObject>(Token))!["job_group_id"]!;

        // Act: two clients at once, both through the Gateway
        using var first = await GatewaySockets.ConnectAsync(Suite, $"/ws/job-groups/{id}");
        using var second = await GatewaySockets.ConnectAsync(Suite, $"/ws/job-groups/{id}");
        var streams = await Task.WhenAll(GatewaySockets.ReceiveUntilAsync(first, "group_complete"), GatewaySockets.ReceiveUntilAsync(second, "group_complete"));
        await GatewaySockets.CloseAsync(first);
        await GatewaySockets.CloseAsync(second);
        var status = await Suite.Gateway.GetFromJsonAsync<JsonObject>($"/api/job-groups/{id}", Token);

        // Assert
        foreach (var messages in streams)
        {
            var initial = messages[0];
            Assert.Equal("initial_state", (string?)initial["type"]);
            Assert.Equal(id, (string?)initial["job_group_id"]);
            var sequence = (long)initial["sequence"]!;
            foreach (var message in messages.Skip(1))
            {
                Assert.Equal(++sequence, (long?)message["sequence"]);
            }

            Assert.Contains(messages, m => (string?)m["type"] == "child_progress");
            var completed = messages.Where(m => (string?)m["type"] == "child_completed").ToArray();
            Assert.Equal(2, completed.Length);
            Assert.All(completed, m => Assert.EndsWith(".png", (string?)m["outputs"]!["images"]![0]!["filename"]));
            Assert.Equal([1000L, 2000L], completed.Select(m => (long)m["seed"]!).Order().ToArray());
            var end = messages[^1];
            Assert.Equal(2, (int?)end["total"]);
            Assert.Equal(2, (int?)end["succeeded"]);
            Assert.Equal(0, (int?)end["failed"]);
        }

        Assert.Equal("completed", (string?)status!["status"]);
        Assert.Equal(2, (int?)status["completed_count"]);
        Assert.Equal(2, (int?)status["total_count"]);
        Assert.Equal(backendIds.Order(), status["child_jobs"]!.AsArray().Select(c => (string)c!["backend_id"]!).Order());
    }

    [Fact]
    public async Task AGroupSubmittedForApprovalRendersWaitsAndIsApprovedAsAWhole()
    {
        // Arrange
        var backendIds = await OnlineBackendIdsAsync(2);
        using var created = await Suite.Gateway.PostAsJsonAsync("/api/job-groups", new
        {
            workflow_json = new JsonObject
            {
                ["1"] = new JsonObject
                {
                    ["class_type"] = "TestProgressImage",
                    ["inputs"] = new JsonObject { ["steps"] = 1, ["delay_ms"] = 0, ["seed"] = 1, ["width"] = 8, ["height"] = 8 },
                },
                ["2"] = new JsonObject
                {
                    ["class_type"] = "SaveImage",
                    ["inputs"] = new JsonObject { ["images"] = new JsonArray("1", 0), ["filename_prefix"] = "jobtests/approval" },
                },
            },
            backend_ids = backendIds,
            requires_approval = true,
        }, Token);
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var id = (string)(await created.Content.ReadFromJsonAsync<JsonObject>(Token))!["job_group_id"]!;

        // Act: the group renders and waits; one decision through the Gateway (the suite has no clients, so the caller
        // counts as an operator) ends it
        var waiting = await Eventually.ReturnsAsync(
            () => Suite.Gateway.GetFromJsonAsync<JsonObject>($"/api/job-groups/{id}", Token),
            group => (string?)group?["status"] == "awaiting_approval",
            TimeSpan.FromSeconds(90));
        using var decided = await Suite.Gateway.PostAsJsonAsync(
            $"/_public/webhooks/approval/{id}", new { decision = "approved", comment = "shot signed off" }, Token);
        var ended = await Suite.Gateway.GetFromJsonAsync<JsonObject>($"/api/job-groups/{id}", Token);
        var history = await Suite.Gateway.GetFromJsonAsync<JsonArray>($"/api/v1/jobs/{id}/history", Token);

        // Assert
        Assert.All(waiting!["child_jobs"]!.AsArray(), child => Assert.Equal("awaiting_approval", (string?)child!["status"]));
        Assert.Equal(HttpStatusCode.OK, decided.StatusCode);
        var answer = (await decided.Content.ReadFromJsonAsync<JsonObject>(Token))!;
        Assert.Equal("approval_received", (string?)answer["status"]);
        Assert.Equal(id, (string?)answer["job_id"]);
        Assert.Equal("completed", (string?)ended!["status"]);
        Assert.Equal("approved", (string?)ended["approval"]!["decision"]);
        Assert.Equal("shot signed off", (string?)ended["approval"]!["comment"]);
        Assert.All(ended["child_jobs"]!.AsArray(), child => Assert.Equal("completed", (string?)child!["status"]));
        var groupChanges = history!.Where(e => (string?)e!["event"] == "status_changed" && e!["job_id"] is null).Select(e => (string?)e!["status"]);
        Assert.Equal(["awaiting_approval", "completed"], groupChanges.TakeLast(2));
        Assert.Single(history!, e => (string?)e!["event"] == "group_awaiting_approval");
    }

    [Fact]
    public async Task AJobFromAShippedWorkflowRendersWithItsParametersAndSeedInThePng()
    {
        // Arrange
        await OnlineBackendIdsAsync(2);

        // Act
        using var submitted = await Suite.Gateway.PostAsJsonAsync("/api/job", new
        {
            workflow_id = "test_progress",
            parameters = new { steps = 3, delay_ms = 20, resolution = "48x32", filename_prefix = "jobtests/single" },
            metadata = new { source = "integration" },
            seed = 987654321,
        }, Token);
        var accepted = await submitted.Content.ReadFromJsonAsync<JsonObject>(Token);
        var id = (string)accepted!["job_id"]!;
        using var stream = await GatewaySockets.ConnectAsync(Suite, $"/api/job/{id}/stream");
        var messages = await GatewaySockets.ReceiveUntilAsync(stream, "job_completed", "job_failed", "job_timeout", "job_cancelled");
        await GatewaySockets.CloseAsync(stream);
        var job = await Suite.Gateway.GetFromJsonAsync<JsonObject>($"/api/jobs/{id}", Token);
        var image = job!["outputs"]!["images"]![0]!;
        using var png = await Suite.Gateway.GetAsync(
            $"/api/backends/{job["backend_id"]}/view?filename={Uri.EscapeDataString((string)image["filename"]!)}" +
            $"&subfolder={Uri.EscapeDataString((string?)image["subfolder"] ?? "")}&type={(string?)image["type"] ?? "output"}", Token);
        var chunks = ReadTextChunks(await png.Content.ReadAsByteArrayAsync(Token));
        var prompt = JsonNode.Parse(chunks["prompt"])!;

        // Assert
        Assert.Equal(HttpStatusCode.Accepted, submitted.StatusCode);
        Assert.Equal("accepted", (string?)accepted["status"]);
        Assert.Empty(accepted["ignored_parameters"]!.AsArray());
        Assert.Equal("initial_state", (string?)messages[0]["type"]);
        Assert.Equal("job_completed", (string?)messages[^1]["type"]);
        Assert.Equal("completed", (string?)job["status"]);
        Assert.Equal(987654321, (long?)job["seed"]);
        Assert.Equal(HttpStatusCode.OK, png.StatusCode);
        var inputs = prompt["1"]!["inputs"]!;
        Assert.Equal(3, (int?)inputs["steps"]);
        Assert.Equal(20, (int?)inputs["delay_ms"]);
        Assert.Equal(48, (int?)inputs["width"]);
        Assert.Equal(32, (int?)inputs["height"]);
        Assert.Equal(987654321, (long?)inputs["seed"]);
        Assert.Equal("jobtests/single", (string?)prompt["2"]!["inputs"]!["filename_prefix"]);
    }

    [Fact]
    public async Task AJobServiceKilledMidGroupStillCompletesEveryChildOnceWithNoPromptRunTwice()
    {
        // Arrange: four children, two per node, so some are running and some still queued when the kill comes
        var backendIds = await OnlineBackendIdsAsync(2);
        var prefix = $"jobtests/killed-{Guid.NewGuid():n}";
        using var created = await Suite.Gateway.PostAsJsonAsync("/api/job-groups", new
        {
            workflow_json = new JsonObject
            {
                ["1"] = new JsonObject
                {
                    ["class_type"] = "TestProgressImage",
                    ["inputs"] = new JsonObject { ["steps"] = 10, ["delay_ms"] = 150, ["seed"] = 1, ["width"] = 16, ["height"] = 16 },
                },
                ["2"] = new JsonObject
                {
                    ["class_type"] = "SaveImage",
                    ["inputs"] = new JsonObject { ["images"] = new JsonArray("1", 0), ["filename_prefix"] = prefix },
                },
            },
            backend_ids = new[] { backendIds[0], backendIds[0], backendIds[1], backendIds[1] },
            seed_strategy = "sequential",
            base_seed = 7,
        }, Token);
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var id = (string)(await created.Content.ReadFromJsonAsync<JsonObject>(Token))!["job_group_id"]!;
        await WaitForGroupAsync(id, group => group["child_jobs"]!.AsArray().Any(c => (string?)c!["status"] == "running"));

        // Act: kill -9 the JobService; the AppHost restarts it and the new process picks the group up from Redis
        var pid = Suite.FindServicePid("DirectorsConsole.JobService");
        RunningSuite.Kill(pid);
        var finished = await WaitForGroupAsync(id, group => (string?)group["status"] is "completed" or "partial_complete" or "failed");

        // Assert
        Assert.Equal("completed", (string?)finished["status"]);
        Assert.All(finished["child_jobs"]!.AsArray(), child =>
        {
            Assert.Equal("completed", (string?)child!["status"]);
            Assert.Single(child["outputs"]!["images"]!.AsArray());
        });
        Assert.NotEqual(pid, Suite.FindServicePid("DirectorsConsole.JobService"));
        var runsOnTheNodes = 0;
        foreach (var backend in backendIds)
        {
            var info = await Suite.Gateway.GetFromJsonAsync<JsonObject>($"/api/backends/{backend}", Token);
            using var node = new HttpClient { BaseAddress = new Uri($"http://{(string)info!["host"]!}:{(int)info["port"]!}/") };
            var history = await node.GetFromJsonAsync<JsonObject>("history", Token);
            runsOnTheNodes += history!.Count(entry => entry.Value?["prompt"]?[2]?["2"]?["inputs"]?["filename_prefix"]?.ToString() == prefix);
        }

        Assert.Equal(4, runsOnTheNodes);
    }

    /// <summary>Polls the group through the Gateway, riding out the moments the JobService is down (502/503).</summary>
    private async Task<JsonObject> WaitForGroupAsync(string id, Func<JsonObject, bool> accept)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(120);
        JsonObject? last = null;
        while (DateTime.UtcNow < deadline)
        {
            using var response = await Suite.Gateway.GetAsync($"/api/job-groups/{id}", Token);
            if (response.IsSuccessStatusCode)
            {
                last = await response.Content.ReadFromJsonAsync<JsonObject>(Token);
                if (last is not null && accept(last))
                {
                    return last;
                }
            }

            await Task.Delay(250, Token);
        }

        throw new TimeoutException($"Job group {id} did not reach the expected state; last: {last?.ToJsonString()}\n{Suite.DescribeProcesses()}");
    }

    private async Task<string[]> OnlineBackendIdsAsync(int count)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        JsonObject? list;
        do
        {
            list = await Suite.Gateway.GetFromJsonAsync<JsonObject>("/api/backends", Token);
            if ((int?)list?["online"] >= count)
            {
                return list!["backends"]!.AsArray().Where(b => (bool?)b!["online"] == true).Select(b => (string)b!["id"]!).Take(count).ToArray();
            }

            await Task.Delay(250, Token);
        }
        while (DateTime.UtcNow < deadline);

        throw new TimeoutException($"Fewer than {count} backends came online: {list?.ToJsonString()}");
    }

    /// <summary>The tEXt chunks of a PNG, keyword → text (ComfyUI writes <c>prompt</c> and <c>workflow</c>).</summary>
    private static Dictionary<string, string> ReadTextChunks(byte[] png)
    {
        Assert.True(png.AsSpan(0, 8).SequenceEqual(new byte[] { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A }), "not a PNG");
        var chunks = new Dictionary<string, string>();
        for (var offset = 8; offset + 12 <= png.Length;)
        {
            var length = (int)BinaryPrimitives.ReadUInt32BigEndian(png.AsSpan(offset));
            var type = Encoding.ASCII.GetString(png, offset + 4, 4);
            if (type == "tEXt")
            {
                var data = png.AsSpan(offset + 8, length);
                var separator = data.IndexOf((byte)0);
                chunks[Encoding.Latin1.GetString(data[..separator])] = Encoding.Latin1.GetString(data[(separator + 1)..]);
            }

            offset += 12 + length;
        }

        return chunks;
    }
}
