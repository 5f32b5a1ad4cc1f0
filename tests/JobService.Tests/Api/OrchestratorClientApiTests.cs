using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using DirectorsConsole.JobService.Apis;
using DirectorsConsole.JobService.Workflows;
using DirectorsConsole.Messaging;
using DirectorsConsole.ServiceDefaults.Backends;
using DirectorsConsole.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace DirectorsConsole.JobService.Tests.Api;

/// <summary>The worker orchestrator's client routes over the suite's jobs, with no render node behind them (jobs stay queued).</summary>
public sealed class OrchestratorClientApiTests(ApiFixture fixture) : IClassFixture<ApiFixture>
{
    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Fact]
    public async Task SubmitThroughTheSidecarsEndpointIsAcceptedAndShownInTheOrchestratorsShape()
    {
        // Arrange
        using var client = fixture.CreateClient();

        // Act
        using var response = await PostAsync(client, $"/api/v1/{ApiFixture.WorkflowEndpoint}",
            """{"initial_data": {"steps": 7, "resolution": "64x32"}, "webhook_url": "https://hooks.example.com/done?x=1"}""");

        // Assert
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var accepted = await ReadAsync(response);
        Assert.Equal("accepted", (string?)accepted["status"]);
        var jobId = (string)accepted["job_id"]!;
        Assert.Equal($"/api/v1/jobs/{jobId}", response.Headers.Location?.OriginalString);
        var job = (await client.GetFromJsonAsync<JsonObject>($"/api/v1/jobs/{jobId}", Token))!;
        Assert.Equal(jobId, (string?)job["id"]);
        Assert.Equal("job", (string?)job["kind"]);
        Assert.Equal("pending", (string?)job["status"]);
        Assert.Equal("queued", (string?)job["suite_status"]);
        Assert.Equal(ApiFixture.WorkflowId, (string?)job["blueprint_name"]);
        Assert.Equal(7, (int)job["initial_data"]!["steps"]!);
        Assert.Equal("https://hooks.example.com/done?x=1", (string?)job["webhook_url"]);
        Assert.Null(job["result"]);
        var suiteView = (await client.GetFromJsonAsync<JsonObject>($"/api/jobs/{jobId}", Token))!;
        Assert.Equal(7, (int)suiteView["parameters"]!["steps"]!);
    }

    public static TheoryData<string, string> BadSubmitBodies => new()
    {
        { """{"initial_data": {"resolution": "huge"}}""", "body.initial_data.resolution" },
        { """{"initial_data": [1, 2]}""", "body.initial_data" },
        { """{"webhook_url": "ftp://files.example.com/x"}""", "body.webhook_url" },
        { """{"webhook_url": "/relative/path"}""", "body.webhook_url" },
        { """{"webhook_url": 42}""", "body.webhook_url" },
        { """{"webhook_url": "http://169.254.169.254/latest/meta-data/"}""", "body.webhook_url" },
        { """{"webhook_url": "https://user:secret@hooks.example.com/x"}""", "body.webhook_url" },
        { """{"initial_data": {}, "dispatch_timeout": 5}""", "body.dispatch_timeout" },
        { "[1]", "body" },
    };

    [Theory]
    [MemberData(nameof(BadSubmitBodies))]
    public async Task BadSubmitBodiesAre422NamingTheField(string body, string expectedLocation)
    {
        // Arrange
        using var client = fixture.CreateClient();

        // Act
        using var response = await PostAsync(client, $"/api/v1/{ApiFixture.WorkflowEndpoint}", body);

        // Assert
        Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
        var error = (await ReadAsync(response))["detail"]![0]!;
        Assert.Equal(expectedLocation, string.Join('.', error["loc"]!.AsArray().Select(part => part!.ToString())));
    }

    [Theory]
    [InlineData("/api/v1/jobs/no_such_flow")]
    [InlineData("/api/v2/jobs/progress_flow")]
    public async Task AnUnknownEndpointOrVersionIs404WithADetail(string path)
    {
        // Arrange
        using var client = fixture.CreateClient();

        // Act
        using var response = await PostAsync(client, path, """{"initial_data": {}}""");

        // Assert
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.False(string.IsNullOrWhiteSpace((string?)(await ReadAsync(response))["detail"]));
    }

    [Fact]
    public async Task CancelSendsTheRequestOnceThenSaysTheJobHasEnded()
    {
        // Arrange
        using var client = fixture.CreateClient();
        var jobId = await SubmitAsync(client);

        // Act
        using var first = await PostAsync(client, $"/api/v1/jobs/{jobId}/cancel", "");
        using var second = await PostAsync(client, $"/api/v1/jobs/{jobId}/cancel", "");
        using var unknown = await PostAsync(client, "/api/v1/jobs/no-such-job/cancel", "");

        // Assert
        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        Assert.Equal("cancellation_request_sent", (string?)(await ReadAsync(first))["status"]);
        Assert.Equal(HttpStatusCode.Conflict, second.StatusCode);
        Assert.Contains("cancelled", (string?)(await ReadAsync(second))["detail"]);
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        Assert.False(string.IsNullOrWhiteSpace((string?)(await ReadAsync(unknown))["detail"]));
        var job = (await client.GetFromJsonAsync<JsonObject>($"/api/v1/jobs/{jobId}", Token))!;
        Assert.Equal("cancelled", (string?)job["status"]);
    }

    [Fact]
    public async Task HistoryListsEveryChangeWithItsTimeOldestFirst()
    {
        // Arrange
        using var client = fixture.CreateClient();
        var jobId = await SubmitAsync(client);
        using var cancel = await PostAsync(client, $"/api/v1/jobs/{jobId}/cancel", "");

        // Act
        var history = (await client.GetFromJsonAsync<JsonArray>($"/api/v1/jobs/{jobId}/history", Token))!;

        // Assert
        Assert.Equal(["submitted", "status_changed", "cancelled"], history.Select(e => (string)e!["event"]!).ToArray());
        Assert.Equal(("queued", "cancelled"), ((string?)history[1]!["from_status"], (string?)history[1]!["status"]));
        Assert.All(history, e =>
        {
            Assert.Equal(jobId, (string?)e!["job_id"]);
            Assert.EndsWith("+00:00", (string)e["at"]!);
            Assert.True(DateTimeOffset.TryParse((string)e["at"]!, CultureInfo.InvariantCulture, out _));
        });
    }

    [Fact]
    public async Task HistoryIsKeptForTheRetentionAndTrimmedToTheLimit()
    {
        // Arrange
        using var client = fixture.CreateClient();
        var jobId = await SubmitAsync(client);
        var redis = fixture.Service.Services.GetRequiredService<IRedisConnection>();

        // Act
        var ttl = (await redis.ExecuteAsync(["PTTL", $"dc:jobs:history:{jobId}"], Token)).AsInt64();

        // Assert: the default seven days, renewed by each entry
        Assert.InRange(ttl, (long)TimeSpan.FromDays(7).TotalMilliseconds - 60_000, (long)TimeSpan.FromDays(7).TotalMilliseconds);
    }

    [Fact]
    public async Task UnknownIdsAre404ForStateAndHistory()
    {
        // Arrange
        using var client = fixture.CreateClient();

        // Act
        using var state = await client.GetAsync("/api/v1/jobs/no-such-job", Token);
        using var history = await client.GetAsync("/api/v1/jobs/no-such-job/history", Token);

        // Assert
        Assert.Equal(HttpStatusCode.NotFound, state.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, history.StatusCode);
        Assert.False(string.IsNullOrWhiteSpace((string?)(await ReadAsync(history))["detail"]));
    }

    [Fact]
    public async Task AGroupIsShownWithItsChildrenAndItsHistoryHoldsTheirs()
    {
        // Arrange
        using var client = fixture.CreateClient();
        using var created = await client.PostAsJsonAsync("/api/job-groups", ApiFixture.GroupRequest(ApiFixture.Online, ApiFixture.OnlineFlux), Token);
        var groupId = (string)(await ReadAsync(created))["job_group_id"]!;

        // Act
        var group = (await client.GetFromJsonAsync<JsonObject>($"/api/v1/jobs/{groupId}", Token))!;
        using var cancel = await PostAsync(client, $"/api/v1/jobs/{groupId}/cancel", "");
        var history = (await client.GetFromJsonAsync<JsonArray>($"/api/v1/jobs/{groupId}/history", Token))!;

        // Assert
        Assert.Equal(("job_group", "running"), ((string?)group["kind"], (string?)group["status"]));
        var children = group["child_jobs"]!.AsArray();
        Assert.Equal(2, children.Count);
        Assert.All(children, c => Assert.Equal(groupId, (string?)c!["parent_job_id"]));
        Assert.Equal("cancellation_request_sent", (string?)(await ReadAsync(cancel))["status"]);
        var events = history.Select(e => ((string?)e!["event"], (string?)e["job_id"], (string?)e["job_group_id"])).ToList();
        Assert.Contains(("submitted", null, groupId), events);
        Assert.All(children, c => Assert.Contains(("submitted", (string?)c!["id"], groupId), events));
        Assert.Contains(history, e => (string?)e!["event"] == "status_changed" && (string?)e["job_group_id"] == groupId && (string?)e["status"] == "cancelled" && e["job_id"] is null);
    }

    [Fact]
    public async Task TheGraphIsDotThatGraphvizRenders()
    {
        // Arrange
        using var client = fixture.CreateClient();

        // Act
        using var response = await client.GetAsync($"/api/v1/blueprints/{ApiFixture.WorkflowId}/graph", Token);
        using var missing = await client.GetAsync("/api/v1/blueprints/no_such_workflow/graph", Token);

        // Assert
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(WorkflowGraph.ContentType, response.Content.Headers.ContentType?.MediaType);
        var dot = await response.Content.ReadAsStringAsync(Token);
        Assert.Contains("\"1\" -> \"2\"", dot);
        Assert.Contains("TestProgressImage", dot);
        Assert.Contains("steps = {steps}", dot);
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        await GraphvizRendersAsync(dot);
    }

    [Fact]
    public async Task QuotesBackslashesAndNewlinesInLabelsStayValidDot()
    {
        // Arrange: a class name and a bound text value with every character DOT's quoted strings treat specially
        var prompt = new JsonObject
        {
            ["6"] = new JsonObject { ["class_type"] = "CLIPTextEncode", ["inputs"] = new JsonObject { ["text"] = "a \"quoted\" C:\\path\\n\r\nsecond line {x}" } },
            ["7"] = new JsonObject { ["class_type"] = "Odd\"Class\\", ["inputs"] = new JsonObject { ["conditioning"] = new JsonArray("6", 0) } },
        };
        var sidecar = WorkflowSidecar.ParseYaml("name: \"Tricky \\\"name\\\"\"\nparameters:\n  prompt: 6.text\n");
        var workflow = new WorkflowDefinition("tricky", prompt, sidecar, DateTimeOffset.UtcNow);

        // Act
        var dot = WorkflowGraph.ToDot(workflow);

        // Assert
        Assert.Contains("a \\\"quoted\\\" C:\\\\path\\\\n\\nsecond line {x}", dot);
        Assert.Contains("Odd\\\"Class\\\\", dot);
        Assert.DoesNotContain('\r', dot);
        await GraphvizRendersAsync(dot, "Odd&quot;Class\\");
    }

    [Fact]
    public void AWorkerWithPromptsWaitingInItsQueueCountsThemAsActiveButItsLoadStopsAtOne()
    {
        // Arrange: a one-slot node holding a running job and one posted ahead (prefetch)
        var definition = new BackendDefinition("gpu-1", "gpu-1", "127.0.0.1", 8188, true, [], 1, [], BackendSource.Config) { Prefetch = 1 };
        var state = new BackendRuntimeState("gpu-1", BackendStatuses.Busy, DateTimeOffset.UtcNow);

        // Act
        var worker = OrchestratorWorker.From(new BackendEntry(definition, state), activeJobs: 2);

        // Assert
        Assert.Equal(2, worker.ActiveJobs);
        Assert.Equal(1, worker.Load);
    }

    [Fact]
    public async Task WorkersListEveryRenderNodeWithStatusAndLoad()
    {
        // Arrange
        using var client = fixture.CreateClient();

        // Act
        var workers = (await client.GetFromJsonAsync<JsonArray>("/api/v1/workers", Token))!;

        // Assert
        var byId = workers.ToDictionary(w => (string)w!["worker_id"]!, w => w!.AsObject());
        Assert.Equal([ApiFixture.Disabled, ApiFixture.Offline, ApiFixture.Online, ApiFixture.OnlineFlux], byId.Keys.Order(StringComparer.Ordinal));
        Assert.Equal(("idle", true), ((string?)byId[ApiFixture.Online]["status"], (bool)byId[ApiFixture.Online]["online"]!));
        Assert.Equal(("offline", false), ((string?)byId[ApiFixture.Offline]["status"], (bool)byId[ApiFixture.Offline]["online"]!));
        Assert.Equal(("disabled", false), ((string?)byId[ApiFixture.Disabled]["status"], (bool)byId[ApiFixture.Disabled]["enabled"]!));
        Assert.All(byId.Values, w =>
        {
            Assert.Equal(1, (int)w["max_concurrent_jobs"]!);
            Assert.InRange((double)w["load"]!, 0, 1);
            Assert.Equal("comfyui_backend", (string?)w["kind"]);
        });
    }

    [Fact]
    public async Task TheDashboardCountsJobsByStatusAndListsEveryBackend()
    {
        // Arrange
        using var client = fixture.CreateClient();
        var before = (await client.GetFromJsonAsync<JsonObject>("/api/v1/dashboard", Token))!;
        await SubmitAsync(client);

        // Act
        var after = (await client.GetFromJsonAsync<JsonObject>("/api/v1/dashboard", Token))!;

        // Assert
        Assert.Equal((long)before["jobs"]!["queued"]! + 1, (long)after["jobs"]!["queued"]!);
        Assert.Equal((long)after["jobs"]!["queued"]!, (long)after["queue_depth"]!);
        Assert.Equal(["awaiting_approval", "cancelled", "completed", "failed", "queued", "rejected", "running", "timeout"], after["jobs"]!.AsObject().Select(p => p.Key).Order(StringComparer.Ordinal));
        Assert.Equal(3600, (int)after["window_seconds"]!);
        Assert.Equal((4, 2), ((int)after["workers_total"]!, (int)after["workers_online"]!));
        Assert.Equal(4, after["backends"]!.AsArray().Count);
        Assert.NotNull(after["render_seconds"]!["count"]);
    }

    [Fact]
    public async Task FlushDbIs404UnlessTheDebugEndpointsAreOn()
    {
        // Arrange
        using var client = fixture.CreateClient();

        // Act
        using var response = await PostAsync(client, "/_public/debug/flush_db", "");

        // Assert
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.False(string.IsNullOrWhiteSpace((string?)(await ReadAsync(response))["detail"]));
    }

    [Fact]
    public async Task TheServiceScrapeEndpointShowsJobsByStatusQueueDepthAndBackendsOnline()
    {
        // Arrange
        using var client = fixture.CreateClient();
        await SubmitAsync(client);

        // Act: the gauges show the sampler's last reading, taken every few seconds (the job may be queued, running or
        // done by then, and the fixture's nodes may come online after the first reading), and a request's duration is
        // recorded only after its response was sent
        const string JobsCounted = @"(?m)^dc_jobs\{[^}]*status=""(queued|running|completed)""[^}]*\} [1-9]";
        const string QueueDepth = @"(?m)^dc_jobs_queue_depth(\{[^}]*\})? [0-9]";
        const string BackendsOnline = @"(?m)^dc_backends_online(\{[^}]*\})? [1-9]";
        const string HttpDurations = "# TYPE http_server_request_duration_seconds histogram";
        var metrics = await Eventually.ReturnsAsync(() => client.GetStringAsync("/metrics", Token),
            text => Regex.IsMatch(text, JobsCounted) && Regex.IsMatch(text, QueueDepth) && Regex.IsMatch(text, BackendsOnline)
                && text.Contains(HttpDurations, StringComparison.Ordinal), TimeSpan.FromSeconds(60));

        // Assert
        Assert.Matches(JobsCounted, metrics);
        Assert.Matches(QueueDepth, metrics);
        Assert.Matches(BackendsOnline, metrics);
        Assert.Contains(HttpDurations, metrics);
    }

    [Fact]
    public async Task FlushDbRemovesOnlyTheJobEnginesStateAndNotWhileJobsAreActive()
    {
        // Arrange: a suite of its own with the debug endpoints on, a queued job and another service's key
        await using var garnet = await RedisServerProcess.StartGarnetAsync(cancellationToken: Token);
        await using var service = new ServiceFactory<Program>(garnet.ConnectionString, new Dictionary<string, string?> { ["debug_endpoints"] = "true" });
        using var client = service.CreateClient();
        var redis = service.Services.GetRequiredService<IRedisConnection>();
        await redis.HashSetAsync("dc:backends", "kept", "{}", Token);
        using var submitted = await client.PostAsJsonAsync("/api/job", new JsonObject { ["workflow_json"] = Engine.EngineRig.Prompt(2, 10) }, Token);
        var jobId = (string)(await ReadAsync(submitted))["job_id"]!;

        // Act
        using var whileQueued = await PostAsync(client, "/_public/debug/flush_db", "");
        using var cancelled = await PostAsync(client, $"/api/v1/jobs/{jobId}/cancel", "");
        using var flushed = await PostAsync(client, "/_public/debug/flush_db", "");

        // Assert
        Assert.Equal(HttpStatusCode.Conflict, whileQueued.StatusCode);
        Assert.Contains("queued or running", (string?)(await ReadAsync(whileQueued))["detail"]);
        Assert.Equal(HttpStatusCode.OK, flushed.StatusCode);
        var body = await ReadAsync(flushed);
        Assert.Equal("db_flushed", (string?)body["status"]);
        Assert.True((long)body["deleted_keys"]! > 0);
        using var gone = await client.GetAsync($"/api/v1/jobs/{jobId}", Token);
        Assert.Equal(HttpStatusCode.NotFound, gone.StatusCode);
        using var noHistory = await client.GetAsync($"/api/v1/jobs/{jobId}/history", Token);
        Assert.Equal(HttpStatusCode.NotFound, noHistory.StatusCode);
        Assert.Equal("{}", await redis.HashGetAsync("dc:backends", "kept", Token));
    }

    [Theory]
    [InlineData(new double[0], 0, null, null, null)]
    [InlineData(new[] { 3.0 }, 1, 3.0, 3.0, 3.0)]
    [InlineData(new[] { 5.0, 1, 2, 3, 4, 6, 7, 8, 9, 10 }, 10, 5.0, 9.0, 10.0)]
    public void PercentilesAreNearestRank(double[] seconds, int count, double? p50, double? p90, double? p99)
    {
        // Act
        var percentiles = RenderTimePercentiles.From(seconds);

        // Assert
        Assert.Equal(new RenderTimePercentiles(count, p50, p90, p99), percentiles);
    }

    /// <summary>Renders with Debian's graphviz; <paramref name="expectedInSvg"/> must come out as text of the drawing.</summary>
    private static async Task GraphvizRendersAsync(string dot, string? expectedInSvg = null)
    {
        var dotPath = new[] { "/usr/bin/dot", "/usr/local/bin/dot" }.FirstOrDefault(File.Exists);
        if (dotPath is null)
        {
            Assert.Skip("Graphviz's dot is not installed (apt-get install graphviz); the DOT text was checked, not rendered");
        }

        using var process = Process.Start(new ProcessStartInfo(dotPath, "-Tsvg")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        })!;
        await process.StandardInput.WriteAsync(dot);
        process.StandardInput.Close();
        var svg = process.StandardOutput.ReadToEndAsync(Token);
        var errors = await process.StandardError.ReadToEndAsync(Token);
        await process.WaitForExitAsync(Token);
        Assert.True(process.ExitCode == 0 && errors.Length == 0, $"dot exited {process.ExitCode}: {errors}\n{dot}");
        Assert.Contains("<svg", await svg);
        if (expectedInSvg is not null)
        {
            Assert.Contains(expectedInSvg, await svg);
        }
    }

    private static async Task<string> SubmitAsync(HttpClient client)
    {
        using var response = await PostAsync(client, $"/api/v1/{ApiFixture.WorkflowEndpoint}", """{"initial_data": {"steps": 2}}""");
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        return (string)(await ReadAsync(response))["job_id"]!;
    }

    private static Task<HttpResponseMessage> PostAsync(HttpClient client, string path, string body) =>
        client.PostAsync(path, new StringContent(body, Encoding.UTF8, "application/json"), Token);

    private static async Task<JsonNode> ReadAsync(HttpResponseMessage response) =>
        JsonNode.Parse(await response.Content.ReadAsStringAsync(Token))!;
}
