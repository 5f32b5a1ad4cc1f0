using System.Net.Http.Json;
using System.Net;
using System.Text.Json.Nodes;
using System.Text;
using DirectorsConsole.JobService.Tests.Engine;

namespace DirectorsConsole.JobService.Tests.Api;

/// <summary>The single-job endpoints' answers, success and error, with no render node behind them (jobs stay queued).</summary>
public sealed class JobsApiTests(ApiFixture fixture) : IClassFixture<ApiFixture>
{
    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Fact]
    public async Task AnEmptyBodyGetsSpec01sValidationErrorExactly()
    {
        // Arrange
        using var client = fixture.CreateClient();

        // Act
        using var response = await PostJsonAsync(client, "/api/job", "{}");

        // Assert
        Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
        var expected = JsonNode.Parse("""{"detail":[{"type":"missing","loc":["body","workflow_id"],"msg":"Field required","input":{}}]}""");
        var body = await ReadAsync(response);
        Assert.True(JsonNode.DeepEquals(expected, body), body.ToJsonString());
    }

    public static TheoryData<string, string, string> InvalidBodies => new()
    {
        { """{"workflow_json": "not an object"}""", "json_invalid", "body.workflow_json" },
        { """{"workflow_json": {"1": {"class_type": "EmptyImage", "inputs": {}}}, "timeout_seconds": 10}""", "greater_than_equal", "body.timeout_seconds" },
        { """{"workflow_json": {"1": {"class_type": "EmptyImage", "inputs": {}}}, "timeout_seconds": 3601}""", "less_than_equal", "body.timeout_seconds" },
        { """{"workflow_json": {"1": {"class_type": "EmptyImage", "inputs": {}}}, "timeout_seconds": "long"}""", "json_invalid", "body.timeout_seconds" },
        { """{"workflow_json": {"1": {"class_type": "EmptyImage", "inputs": {}}}, "priority": "high"}""", "json_invalid", "body.priority" },
        { """{"workflow_json": {"1": {"inputs": {}}}}""", "value_error", "body.workflow_json.1.class_type" },
        { """{"workflow_json": {}}""", "value_error", "body.workflow_json" },
        { """{"workflow_json": {"1": {"class_type": "EmptyImage", "inputs": {}}}, "workflow_id": "api_progress"}""", "value_error", "body" },
        { """{"workflow_json": {"1": {"class_type": "EmptyImage", "inputs": {}}}, "seed": -1}""", "greater_than_equal", "body.seed" },
        { """{"workflow_json": {"1": {"class_type": "EmptyImage", "inputs": {}}}, "seed_nodes": ["9"]}""", "value_error", "body.seed_nodes.0" },
        { """{"workflow_id": "api_progress", "parameters": {"resolution": "huge"}}""", "value_error", "body.parameters.resolution" },
    };

    [Theory]
    [MemberData(nameof(InvalidBodies))]
    public async Task WrongTypesAndValuesAre422NamingTheField(string requestBody, string expectedType, string expectedLocation)
    {
        // Arrange
        using var client = fixture.CreateClient();

        // Act
        using var response = await PostJsonAsync(client, "/api/job", requestBody);

        // Assert
        Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
        var error = (await ReadAsync(response))["detail"]![0]!;
        Assert.Equal(expectedType, (string?)error["type"]);
        Assert.Equal(expectedLocation, string.Join('.', error["loc"]!.AsArray().Select(part => part!.ToString())));
        Assert.False(string.IsNullOrEmpty((string?)error["msg"]));
    }

    [Fact]
    public async Task AnUnknownWorkflowIdIs404NamingIt()
    {
        // Arrange
        using var client = fixture.CreateClient();

        // Act
        using var response = await client.PostAsJsonAsync("/api/job", new { workflow_id = "no_such_workflow" }, Token);

        // Assert
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("Workflow 'no_such_workflow' not found", (string?)(await ReadAsync(response))["detail"]);
    }

    [Theory]
    [InlineData("nowhere", "Backend 'nowhere' not found")]
    [InlineData(ApiFixture.Disabled, "Backend 'api-disabled' is disabled")]
    [InlineData(ApiFixture.Online, "Backend 'api-online' lacks the required capabilities: flux")]
    public async Task AnUnusableAffinityIs400NamingTheBackend(string affinity, string expectedDetail)
    {
        // Arrange
        using var client = fixture.CreateClient();

        // Act
        using var response = await client.PostAsJsonAsync("/api/job", new
        {
            workflow_json = EngineRig.Prompt(2, 10),
            backend_affinity = affinity,
            required_capabilities = new[] { "flux" },
        }, Token);

        // Assert
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal(expectedDetail, (string?)(await ReadAsync(response))["detail"]);
    }

    [Fact]
    public async Task CapabilitiesNoEnabledBackendHasAre400AndOnesSomeBackendHasAreAccepted()
    {
        // Arrange
        using var client = fixture.CreateClient();

        // Act
        using var missing = await client.PostAsJsonAsync("/api/job", new { workflow_json = EngineRig.Prompt(2, 10), required_capabilities = new[] { "sdxl" } }, Token);
        using var present = await client.PostAsJsonAsync("/api/job", new { workflow_json = EngineRig.Prompt(2, 10), required_capabilities = new[] { "flux" } }, Token);

        // Assert
        Assert.Equal(HttpStatusCode.BadRequest, missing.StatusCode);
        Assert.Equal("No enabled backend has every required capability: sdxl", (string?)(await ReadAsync(missing))["detail"]);
        Assert.Equal(HttpStatusCode.Accepted, present.StatusCode);
    }

    [Fact]
    public async Task ASubmittedJobIsAcceptedAtOnceThenReadListedAndCancelledOnce()
    {
        // Arrange
        using var client = fixture.CreateClient();

        // Act: nothing renders here, so the 202 cannot have waited for a render
        using var submitted = await client.PostAsJsonAsync("/api/job", new
        {
            workflow_id = ApiFixture.WorkflowId,
            parameters = new { steps = 7, resolution = "32x24", camera_angle = "wide" },
            metadata = new { source = "storyboard", panel_id = "Panel_01" },
            priority = 5,
            timeout_seconds = 120,
            seed = 4242,
        }, Token);
        var accepted = await ReadAsync(submitted);
        var id = (string)accepted["job_id"]!;
        var status = await client.GetFromJsonAsync<JsonObject>($"/api/jobs/{id}", Token);
        var alias = await client.GetFromJsonAsync<JsonObject>($"/api/job/{id}", Token);
        var queued = await client.GetFromJsonAsync<JsonObject>("/api/jobs?status=queued&limit=500", Token);
        var outputs = await client.GetFromJsonAsync<JsonObject>($"/api/job/{id}/outputs", Token);
        using var cancel = await client.DeleteAsync($"/api/job/{id}", Token);
        var cancelled = await client.GetFromJsonAsync<JsonObject>($"/api/jobs/{id}", Token);
        using var again = await client.PostAsync($"/api/jobs/{id}/cancel", null, Token);

        // Assert
        Assert.Equal(HttpStatusCode.Accepted, submitted.StatusCode);
        Assert.Equal($"/api/jobs/{id}", submitted.Headers.Location?.OriginalString);
        Assert.Equal("accepted", (string?)accepted["status"]);
        Assert.Equal("Job accepted for execution", (string?)accepted["message"]);
        Assert.EndsWith("+00:00", (string?)accepted["submitted_at"]);
        var ignored = Assert.Single(accepted["ignored_parameters"]!.AsArray());
        Assert.StartsWith("camera_angle", (string?)ignored);

        Assert.Equal(id, (string?)status!["job_id"]);
        Assert.Equal("queued", (string?)status["status"]);
        Assert.Equal(0, (double?)status["progress"]);
        Assert.Equal(ApiFixture.WorkflowId, (string?)status["workflow_id"]);
        Assert.Equal(4242, (long?)status["seed"]);
        Assert.Equal(5, (int?)status["priority"]);
        Assert.Equal(120, (int?)status["timeout_seconds"]);
        Assert.Equal("Panel_01", (string?)status["metadata"]!["panel_id"]);
        foreach (var field in new[] { "current_step", "created_at", "started_at", "completed_at", "error_message", "error_type", "outputs", "backend_id" })
        {
            Assert.True(status.ContainsKey(field), $"GET /api/jobs/{{id}} lacks {field}: {status.ToJsonString()}");
        }

        Assert.Equal(id, (string?)alias!["job_id"]);
        Assert.Contains(queued!["jobs"]!.AsArray(), job => (string?)job!["job_id"] == id);
        Assert.True((long?)queued["total"] >= 1);
        Assert.Equal(0, (int?)queued["offset"]);
        Assert.Equal(500, (int?)queued["limit"]);
        Assert.Null(outputs!["outputs"]);
        Assert.Equal("queued", (string?)outputs["status"]);

        Assert.Equal(HttpStatusCode.OK, cancel.StatusCode);
        var cancelBody = await ReadAsync(cancel);
        Assert.True((bool?)cancelBody["cancelled"]);
        Assert.Equal("cancelled", (string?)cancelBody["status"]);
        Assert.Equal("cancelled", (string?)cancelled!["status"]);
        Assert.Equal(HttpStatusCode.Conflict, again.StatusCode);
        Assert.Equal($"Job {id} has already ended (cancelled); there is nothing to cancel", (string?)(await ReadAsync(again))["detail"]);
    }

    [Fact]
    public async Task AnUnknownJobIs404OnEveryPath()
    {
        // Arrange
        using var client = fixture.CreateClient();

        // Act
        HttpResponseMessage[] responses =
        [
            await client.GetAsync("/api/jobs/j_missing", Token),
            await client.GetAsync("/api/job/j_missing", Token),
            await client.GetAsync("/api/job/j_missing/outputs", Token),
            await client.PostAsync("/api/jobs/j_missing/cancel", null, Token),
            await client.DeleteAsync("/api/job/j_missing", Token),
        ];

        // Assert
        foreach (var response in responses)
        {
            Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
            Assert.Equal("Job j_missing not found", (string?)(await ReadAsync(response))["detail"]);
            response.Dispose();
        }
    }

    [Theory]
    [InlineData("status=done", "query.status")]
    [InlineData("offset=-1", "query.offset")]
    [InlineData("limit=0", "query.limit")]
    [InlineData("limit=501", "query.limit")]
    public async Task ListingRejectsAnUnknownStatusAndBadPaging(string query, string expectedLocation)
    {
        // Arrange
        using var client = fixture.CreateClient();

        // Act
        using var response = await client.GetAsync($"/api/jobs?{query}", Token);

        // Assert
        Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
        var error = (await ReadAsync(response))["detail"]![0]!;
        Assert.Equal(expectedLocation, string.Join('.', error["loc"]!.AsArray().Select(part => part!.ToString())));
    }

    [Fact]
    public async Task TheOpenApiDocumentHasEveryJobAndGroupEndpoint()
    {
        // Arrange
        using var client = fixture.CreateClient();

        // Act
        var document = await client.GetFromJsonAsync<JsonObject>("/openapi/v1.json", Token);

        // Assert
        var paths = document!["paths"]!.AsObject();
        (string Path, string Method, string OperationId)[] expected =
        [
            ("/api/job", "post", "SubmitJob"),
            ("/api/jobs", "get", "ListJobs"),
            ("/api/jobs/{id}", "get", "GetJob"),
            ("/api/job/{id}", "get", "GetJobAlias"),
            ("/api/job/{id}", "delete", "CancelJobAlias"),
            ("/api/job/{id}/outputs", "get", "GetJobOutputs"),
            ("/api/jobs/{id}/cancel", "post", "CancelJob"),
            ("/api/job/{id}/stream", "get", "StreamJob"),
            ("/api/job-group", "post", "SubmitJobGroupAlias"),
            ("/api/job-groups", "post", "SubmitJobGroup"),
            ("/api/job-groups", "get", "ListJobGroups"),
            ("/api/job-groups/{id}", "get", "GetJobGroup"),
            ("/api/job-groups/{id}", "delete", "CancelJobGroup"),
            ("/ws/job-groups/{id}", "get", "StreamJobGroup"),
        ];
        foreach (var (path, method, operationId) in expected)
        {
            Assert.Equal(operationId, (string?)paths[path]?[method]?["operationId"]);
        }

        var submit = paths["/api/job"]!["post"]!;
        Assert.NotNull(submit["requestBody"]);
        Assert.NotNull(submit["responses"]!["202"]);
        Assert.NotNull(submit["responses"]!["422"]);
    }

    private static Task<HttpResponseMessage> PostJsonAsync(HttpClient client, string path, string json) =>
        client.PostAsync(path, new StringContent(json, Encoding.UTF8, "application/json"), Token);

    internal static async Task<JsonObject> ReadAsync(HttpResponseMessage response) =>
        JsonNode.Parse(await response.Content.ReadAsStringAsync(Token))!.AsObject();
}
