using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json.Nodes;
using DirectorsConsole.JobService.Engine;
using DirectorsConsole.JobService.Model;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace DirectorsConsole.JobService.Tests.Api;

/// <summary>The job-group endpoints and the WebSocket protocol's edges, with no render node behind them.</summary>
public sealed class JobGroupsApiTests(ApiFixture fixture, ITestOutputHelper output) : IClassFixture<ApiFixture>
{
    private static CancellationToken Token => TestContext.Current.CancellationToken;

    public static TheoryData<string, string, string, string> InvalidGroups => new()
    {
        { "workflow_json", "null", "missing", "body.workflow_json" },
        { "backend_ids", "null", "missing", "body.backend_ids" },
        { "backend_ids", "[]", "too_short", "body.backend_ids" },
        { "backend_ids", "[\"\"]", "string_too_short", "body.backend_ids.0" },
        { "seed_strategy", "\"chaos\"", "enum", "body.seed_strategy" },
        { "base_seed", "-1", "greater_than_equal", "body.base_seed" },
        { "base_seed", "18446744073709551616", "less_than_equal", "body.base_seed" },
        { "base_seed", "1.5", "int_from_float", "body.base_seed" },
        { "base_seed", "{}", "json_invalid", "body.base_seed" },
        { "timeout_seconds", "29", "greater_than_equal", "body.timeout_seconds" },
        { "timeout_seconds", "3601", "less_than_equal", "body.timeout_seconds" },
    };

    [Theory]
    [MemberData(nameof(InvalidGroups))]
    public async Task InvalidFieldsAre422NamingTheField(string field, string value, string expectedType, string expectedLocation)
    {
        // Arrange
        using var client = fixture.CreateClient();
        var request = ApiFixture.GroupRequest(ApiFixture.Online);
        if (value == "null")
        {
            request.Remove(field);
        }
        else
        {
            request[field] = JsonNode.Parse(value);
        }

        // Act
        using var response = await client.PostAsync("/api/job-group", new StringContent(request.ToJsonString(), Encoding.UTF8, "application/json"), Token);

        // Assert
        Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
        var error = (await JobsApiTests.ReadAsync(response))["detail"]![0]!;
        Assert.Equal(expectedType, (string?)error["type"]);
        Assert.Equal(expectedLocation, string.Join('.', error["loc"]!.AsArray().Select(part => part!.ToString())));
        if (expectedType == "missing")
        {
            Assert.Equal("Field required", (string?)error["msg"]);
            Assert.Equal((string?)request["seed_strategy"], (string?)error["input"]?["seed_strategy"]);
        }

        if (expectedType == "enum")
        {
            Assert.Equal("Input should be 'random', 'sequential', 'fibonacci' or 'golden_ratio'", (string?)error["msg"]);
        }
    }

    [Theory]
    [InlineData(new[] { "nope", ApiFixture.Online, "nada" }, null, "Unknown backend ids: nope, nada")]
    [InlineData(new[] { ApiFixture.Disabled, ApiFixture.Online }, null, "Disabled backends: api-disabled")]
    [InlineData(new[] { ApiFixture.Offline }, null, "No valid online backends available")]
    [InlineData(new[] { ApiFixture.Online, ApiFixture.OnlineFlux }, "flux", "Backends lack required capabilities: api-online lacks flux")]
    public async Task UnusableBackendsAre400NamingThem(string[] backendIds, string? capability, string expectedDetail)
    {
        // Arrange
        using var client = fixture.CreateClient();
        var request = ApiFixture.GroupRequest(backendIds);
        if (capability is not null)
        {
            request["required_capabilities"] = new JsonArray(capability);
        }

        // Act
        using var response = await client.PostAsJsonAsync("/api/job-groups", request, Token);

        // Assert
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal(expectedDetail, (string?)(await JobsApiTests.ReadAsync(response))["detail"]);
    }

    [Fact]
    public async Task TheLargestGroupIsAcceptedAndCancelledWholeAndOneChildMoreIs422()
    {
        // Arrange: the default limit of 256 children, one backend id repeated (each repeat is a child with its own seed)
        using var client = fixture.CreateClient();
        var limit = fixture.Service.Services.GetRequiredService<IOptions<JobEngineOptions>>().Value.MaxGroupChildren;
        var tooMany = ApiFixture.GroupRequest(Enumerable.Repeat(ApiFixture.Online, limit + 1).ToArray());
        var largest = ApiFixture.GroupRequest(Enumerable.Repeat(ApiFixture.Online, limit).ToArray());

        // Act
        using var refused = await client.PostAsJsonAsync("/api/job-groups", tooMany, Token);
        using var created = await client.PostAsJsonAsync("/api/job-groups", largest, Token);
        var id = (string)(await JobsApiTests.ReadAsync(created))["job_group_id"]!;
        var clock = Stopwatch.StartNew();
        using var cancel = await client.DeleteAsync($"/api/job-groups/{id}", Token);
        var cancelTime = clock.Elapsed;
        var after = await client.GetFromJsonAsync<JsonObject>($"/api/job-groups/{id}", Token);

        // Assert: one more than the limit is the list form naming backend_ids
        Assert.Equal(256, limit);
        Assert.Equal(HttpStatusCode.UnprocessableEntity, refused.StatusCode);
        var error = Assert.Single((await JobsApiTests.ReadAsync(refused))["detail"]!.AsArray())!;
        Assert.Equal("too_long", (string?)error["type"]);
        Assert.Equal(["body", "backend_ids"], error["loc"]!.AsArray().Select(p => (string?)p));
        Assert.Equal($"List should have at most {limit} items after validation, not {limit + 1}", (string?)error["msg"]);

        // Assert: the largest group was created, and its cancel ended every child (the one dispatched too) and the group once
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        Assert.Equal(HttpStatusCode.OK, cancel.StatusCode);
        var result = await JobsApiTests.ReadAsync(cancel);
        Assert.True((bool?)result["cancelled"]);
        Assert.Equal(limit, (int?)result["interrupted"]);
        Assert.Equal("cancelled", (string?)after!["status"]);
        Assert.Equal(limit, after["child_jobs"]!.AsArray().Count);
        Assert.All(after["child_jobs"]!.AsArray(), child => Assert.Equal("cancelled", (string?)child!["status"]));
        Assert.NotNull((string?)after["completed_at"]);
        var events = await fixture.Service.Services.GetRequiredService<IJobEventStream>().ReadAsync(JobStreamId.Group(id), 0, Token);
        Assert.Equal(Enumerable.Range(1, events.Count).Select(i => (long)i), events.Select(e => e.Sequence));
        Assert.Equal(limit, events.Count(e => e.Type == "child_cancelled"));
        Assert.Equal(limit, events.Where(e => e.Type == "child_cancelled").Select(e => (string?)e.Payload["job_id"]).Distinct().Count());
        Assert.Equal("group_complete", Assert.Single(events, e => e.Type == "group_complete").Type);
        Assert.Equal("group_complete", events[^1].Type);
        output.WriteLine($"Cancelling a group of {limit} children took {cancelTime.TotalMilliseconds:0} ms ({cancelTime.TotalMilliseconds / limit * 100:0} ms per hundred)");
    }

    [Fact]
    public async Task AGroupCancelLeftHalfDoneIsFinishedByTheSchedulersReplica()
    {
        // Arrange: a replica marked the group cancelled and died before cancelling a child
        using var client = fixture.CreateClient();
        using var created = await client.PostAsJsonAsync("/api/job-groups", ApiFixture.GroupRequest(ApiFixture.Offline, ApiFixture.Online, ApiFixture.Offline), Token);
        var id = (string)(await JobsApiTests.ReadAsync(created))["job_group_id"]!;
        var services = fixture.Service.Services;
        await services.GetRequiredService<JobStateMachine>().MarkGroupCancelledAsync(id, Token);
        var before = await client.GetFromJsonAsync<JsonObject>($"/api/job-groups/{id}", Token);

        // Act
        await services.GetRequiredService<JobMaintenance>().FinishCancelledGroupsAsync(Token);
        var after = await client.GetFromJsonAsync<JsonObject>($"/api/job-groups/{id}", Token);

        // Assert
        Assert.Equal("cancelled", (string?)before!["status"]);
        Assert.Contains(before["child_jobs"]!.AsArray(), child => (string?)child!["status"] != "cancelled");
        Assert.All(after!["child_jobs"]!.AsArray(), child => Assert.Equal("cancelled", (string?)child!["status"]));
        Assert.NotNull((string?)after["completed_at"]);
        var events = await services.GetRequiredService<IJobEventStream>().ReadAsync(JobStreamId.Group(id), 0, Token);
        Assert.Equal("group_complete", Assert.Single(events, e => e.Type == "group_complete").Type);
        Assert.DoesNotContain(id, await services.GetRequiredService<JobStore>().CancellingGroupsAsync(Token));
    }

    [Fact]
    public async Task AGroupIsCreatedWithSpec04sAnswerThenReadListedAndCancelled()
    {
        // Arrange: one online backend is enough; the offline one's child waits for it
        using var client = fixture.CreateClient();
        var request = ApiFixture.GroupRequest(ApiFixture.Online, ApiFixture.Offline);

        // Act
        using var created = await client.PostAsJsonAsync("/api/job-group", request, Token);
        var body = await JobsApiTests.ReadAsync(created);
        var id = (string)body["job_group_id"]!;
        var status = await client.GetFromJsonAsync<JsonObject>($"/api/job-groups/{id}", Token);
        var list = await client.GetFromJsonAsync<JsonObject>("/api/job-groups?limit=500", Token);
        using var cancel = await client.DeleteAsync($"/api/job-groups/{id}", Token);
        var afterCancel = await client.GetFromJsonAsync<JsonObject>($"/api/job-groups/{id}", Token);

        // Assert
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        Assert.Equal($"/api/job-groups/{id}", created.Headers.Location?.OriginalString);
        Assert.Equal(["job_group_id", "child_jobs", "status", "created_at"], body.Select(p => p.Key).ToArray());
        Assert.Equal("running", (string?)body["status"]);
        Assert.EndsWith("+00:00", (string?)body["created_at"]);
        var children = body["child_jobs"]!.AsArray();
        Assert.Equal([ApiFixture.Online, ApiFixture.Offline], children.Select(c => (string)c!["backend_id"]!).ToArray());
        Assert.Equal([100L, 101L], children.Select(c => (long?)c!["seed"]).ToArray());
        Assert.All(children, child =>
        {
            Assert.Equal(["job_id", "backend_id", "seed", "status"], child!.AsObject().Select(p => p.Key).ToArray());
            Assert.Equal("queued", (string?)child["status"]);
        });

        Assert.Equal(id, (string?)status!["job_group_id"]);
        Assert.Equal(0, (int?)status["completed_count"]);
        Assert.Equal(0, (int?)status["failed_count"]);
        Assert.Equal(2, (int?)status["total_count"]);
        Assert.True(status.ContainsKey("completed_at"));
        Assert.Equal("sequential", (string?)status["seed_strategy"]);
        Assert.Equal("shot_001", (string?)status["metadata"]!["scene"]);
        foreach (var child in status["child_jobs"]!.AsArray())
        {
            foreach (var field in new[] { "job_id", "backend_id", "seed", "status", "progress", "current_step", "outputs", "error_message", "error_type", "queued_at", "started_at", "completed_at" })
            {
                Assert.True(child!.AsObject().ContainsKey(field), $"child job lacks {field}: {child.ToJsonString()}");
            }
        }

        Assert.Contains(list!["job_groups"]!.AsArray(), group => (string?)group!["job_group_id"] == id);

        Assert.Equal(HttpStatusCode.OK, cancel.StatusCode);
        var result = await JobsApiTests.ReadAsync(cancel);
        Assert.Equal(["cancelled", "interrupted", "already_complete", "already_failed"], result.Select(p => p.Key).ToArray());
        Assert.True((bool?)result["cancelled"]);
        Assert.Equal(2, (int?)result["interrupted"]);
        Assert.Equal(0, (int?)result["already_complete"]);
        Assert.Equal(0, (int?)result["already_failed"]);
        Assert.Equal("cancelled", (string?)afterCancel!["status"]);
        Assert.All(afterCancel["child_jobs"]!.AsArray(), child => Assert.Equal("cancelled", (string?)child!["status"]));
    }

    [Fact]
    public async Task TheLargestBaseSeedIsAccepted()
    {
        // Arrange
        using var client = fixture.CreateClient();
        var request = ApiFixture.GroupRequest(ApiFixture.Online, ApiFixture.Online);
        request["base_seed"] = JsonNode.Parse("18446744073709551615");
        request["seed_strategy"] = "golden_ratio";

        // Act
        using var response = await client.PostAsJsonAsync("/api/job-groups", request, Token);
        var id = (string)(await JobsApiTests.ReadAsync(response))["job_group_id"]!;
        var status = await client.GetFromJsonAsync<JsonObject>($"/api/job-groups/{id}", Token);

        // Assert
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        Assert.Equal(ulong.MaxValue, (ulong?)status!["base_seed"]);
        var seeds = status["child_jobs"]!.AsArray().Select(c => (long?)c!["seed"]).ToArray();
        Assert.Equal(2, seeds.Distinct().Count());
        await client.DeleteAsync($"/api/job-groups/{id}", Token);
    }

    [Fact]
    public async Task AnUnknownGroupIs404ForRestAndClosed1008ForTheWebSocket()
    {
        // Arrange
        using var client = fixture.CreateClient();

        // Act
        using var get = await client.GetAsync("/api/job-groups/jg_missing", Token);
        using var delete = await client.DeleteAsync("/api/job-groups/jg_missing", Token);
        await using var groupStream = new StreamClient(await ConnectAsync("/ws/job-groups/jg_missing"));
        var groupMessage = await groupStream.ReceiveAsync();
        await using var jobStream = new StreamClient(await ConnectAsync("/api/job/j_missing/stream"));
        var jobMessage = await jobStream.ReceiveAsync();

        // Assert
        Assert.Equal(HttpStatusCode.NotFound, get.StatusCode);
        Assert.Equal("Job group jg_missing not found", (string?)(await JobsApiTests.ReadAsync(get))["detail"]);
        Assert.Equal(HttpStatusCode.NotFound, delete.StatusCode);
        Assert.Null(groupMessage);
        Assert.Equal(WebSocketCloseStatus.PolicyViolation, groupStream.Socket.CloseStatus);
        Assert.Equal("Job group jg_missing not found", groupStream.Socket.CloseStatusDescription);
        Assert.Null(jobMessage);
        Assert.Equal(WebSocketCloseStatus.PolicyViolation, jobStream.Socket.CloseStatus);
        Assert.Equal("Job j_missing not found", jobStream.Socket.CloseStatusDescription);
    }

    [Fact]
    public async Task TheWebSocketStartsWithInitialStateAnswersPingAndClosesNormallyOnClose()
    {
        // Arrange
        using var client = fixture.CreateClient();
        using var created = await client.PostAsJsonAsync("/api/job-groups", ApiFixture.GroupRequest(ApiFixture.Online), Token);
        var id = (string)(await JobsApiTests.ReadAsync(created))["job_group_id"]!;
        await using var stream = new StreamClient(await ConnectAsync($"/ws/job-groups/{id}"));

        // Act
        var initial = await stream.ReceiveAsync();
        await stream.SendTextAsync("ping");
        var pong = await stream.ReceiveUntilAsync("pong");
        await stream.SendTextAsync("""{"type":"ping"}""");
        var jsonPong = await stream.ReceiveUntilAsync("pong");
        await stream.SendTextAsync("close");
        var end = await ReceiveUntilClosedAsync(stream);

        // Assert
        Assert.Equal("initial_state", (string?)initial!["type"]);
        Assert.True((long?)initial["sequence"] >= 0);
        Assert.Equal(id, (string?)initial["job_group_id"]);
        Assert.Equal("running", (string?)initial["status"]);
        var child = Assert.Single(initial["child_jobs"]!.AsArray());
        Assert.Equal(ApiFixture.Online, (string?)child!["backend_id"]);
        Assert.Equal(100, (long?)child["seed"]);
        Assert.Equal(0, (double?)child["progress"]);
        Assert.Equal("""{"type":"pong"}""", pong.ToJsonString());
        Assert.Equal("""{"type":"pong"}""", jsonPong.ToJsonString());
        Assert.Equal(WebSocketCloseStatus.NormalClosure, end);
        await client.DeleteAsync($"/api/job-groups/{id}", Token);
    }

    [Fact]
    public async Task AStreamPathAskedForWithoutWebSocketIs400()
    {
        // Arrange
        using var client = fixture.CreateClient();

        // Act
        using var response = await client.GetAsync("/ws/job-groups/jg_any", Token);

        // Assert
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("WebSocket", (string?)(await JobsApiTests.ReadAsync(response))["detail"]);
    }

    private Task<WebSocket> ConnectAsync(string path) =>
        fixture.Service.Server.CreateWebSocketClient().ConnectAsync(new Uri($"ws://localhost{path}"), Token);

    private static async Task<WebSocketCloseStatus?> ReceiveUntilClosedAsync(StreamClient stream)
    {
        while (await stream.ReceiveAsync() is not null)
        {
        }

        return stream.Socket.CloseStatus;
    }
}
