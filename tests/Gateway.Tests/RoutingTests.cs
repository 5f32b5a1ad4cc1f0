using System.Net;
using System.Net.Http.Json;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json.Nodes;

namespace DirectorsConsole.Gateway.Tests;

public sealed class RoutingTests(GatewayFixture gateway) : IClassFixture<GatewayFixture>
{
    /// <summary>Every path of API docs 1–5 (with sample ids) and the service that must answer it.</summary>
    public static TheoryData<string, string, string> SpecPaths => new()
    {
        { "POST", "/api/job", "job-service" },
        { "DELETE", "/api/job/0f6b2a9e", "job-service" },
        { "GET", "/api/job/0f6b2a9e/outputs", "job-service" },
        { "GET", "/api/jobs", "job-service" },
        { "GET", "/api/jobs/0f6b2a9e", "job-service" },
        { "POST", "/api/jobs/0f6b2a9e/cancel", "job-service" },
        { "POST", "/api/job-group", "job-service" },
        { "POST", "/api/job-groups", "job-service" },
        { "GET", "/api/job-groups", "job-service" },
        { "GET", "/api/job-groups/jg_abc123def456", "job-service" },
        { "DELETE", "/api/job-groups/jg_abc123def456", "job-service" },
        { "GET", "/ws/job-groups/jg_abc123def456", "job-service" },
        { "GET", "/api/workflows", "job-service" },
        { "GET", "/api/workflows/txt2img", "job-service" },
        { "POST", "/api/v1/jobs/simple_flow", "job-service" },
        { "GET", "/api/v1/jobs/0f6b2a9e", "job-service" },
        { "POST", "/api/v1/jobs/0f6b2a9e/cancel", "job-service" },
        { "GET", "/api/v1/jobs/0f6b2a9e/history", "job-service" },
        { "GET", "/api/v1/blueprints/simple_flow/graph", "job-service" },
        { "GET", "/api/v1/workers", "job-service" },
        { "GET", "/api/v1/dashboard", "job-service" },
        { "POST", "/_worker/workers/register", "backend-service" },
        { "PATCH", "/_worker/workers/worker-123", "backend-service" },
        { "GET", "/_worker/workers/worker-123/tasks/next", "backend-service" },
        { "PUT", "/_worker/tasks/0f6b2a9e/outputs", "backend-service" },
        { "POST", "/_worker/tasks/result", "backend-service" },
        { "GET", "/_worker/ws/worker-123", "backend-service" },
        { "POST", "/_public/webhooks/approval/0f6b2a9e", "job-service" },
        { "POST", "/_public/debug/flush_db", "job-service" },
        { "GET", "/api/backends/node1", "backend-service" },
        { "GET", "/api/backends/node1/status", "backend-service" },
        { "POST", "/api/backends/node1/restart", "backend-service" },
        { "POST", "/api/gallery/scan-tree", "gallery-service" },
        { "POST", "/api/gallery/scan-folder", "gallery-service" },
        { "POST", "/api/gallery/scan-recursive", "gallery-service" },
        { "POST", "/api/gallery/file-info", "gallery-service" },
        { "POST", "/api/gallery/move-files", "gallery-service" },
        { "POST", "/api/gallery/rename-file", "gallery-service" },
        { "POST", "/api/gallery/batch-rename", "gallery-service" },
        { "POST", "/api/gallery/auto-rename", "gallery-service" },
        { "POST", "/api/gallery/trash", "gallery-service" },
        { "GET", "/api/gallery/trash", "gallery-service" },
        { "POST", "/api/gallery/restore", "gallery-service" },
        { "POST", "/api/gallery/empty-trash", "gallery-service" },
        { "GET", "/api/gallery/ratings", "gallery-service" },
        { "POST", "/api/gallery/ratings", "gallery-service" },
        { "GET", "/api/gallery/tags", "gallery-service" },
        { "DELETE", "/api/gallery/tags", "gallery-service" },
        { "POST", "/api/gallery/file-tags", "gallery-service" },
        { "GET", "/api/gallery/views", "gallery-service" },
        { "POST", "/api/gallery/search", "gallery-service" },
        { "POST", "/api/gallery/find-duplicates", "gallery-service" },
        { "POST", "/api/gallery/folder-stats", "gallery-service" },
        { "GET", "/api/project", "gallery-service" },
        { "POST", "/api/project", "gallery-service" },
        { "POST", "/api/save-project", "gallery-service" },
        { "POST", "/api/load-project", "gallery-service" },
        { "GET", "/api/list-projects", "gallery-service" },
        { "POST", "/api/scan-project-images", "gallery-service" },
        { "POST", "/api/scan-project-panels", "gallery-service" },
        { "POST", "/api/scan-folder-images", "gallery-service" },
        { "GET", "/api/scan-versions", "gallery-service" },
        { "GET", "/api/serve-image", "gallery-service" },
        { "DELETE", "/api/delete-image", "gallery-service" },
        { "POST", "/api/create-folder", "gallery-service" },
        { "GET", "/api/browse-folders", "gallery-service" },
        { "GET", "/api/png-metadata", "gallery-service" },
        { "POST", "/api/save-image", "gallery-service" },
        { "POST", "/api/save-base64-image", "gallery-service" },
        { "GET", "/api/path-mappings", "path-service" },
        { "POST", "/api/path-mappings", "path-service" },
        { "PUT", "/api/path-mappings/m1", "path-service" },
        { "DELETE", "/api/path-mappings/m1", "path-service" },
        { "POST", "/api/translate-path", "path-service" },
    };

    [Theory]
    [MemberData(nameof(SpecPaths))]
    public async Task SpecPathReachesItsService(string method, string path, string service)
    {
        // Act
        using var request = new HttpRequestMessage(new HttpMethod(method), path + "?x=1");
        if (path.StartsWith("/_worker/", StringComparison.Ordinal))
        {
            // The render agents' routes open to a worker token only.
            request.Headers.Add("X-Worker-Token", GatewayFixture.WorkerToken);
        }

        using var response = await gateway.Client.SendAsync(request, TestContext.Current.CancellationToken);

        // Assert
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var echo = (await response.Content.ReadFromJsonAsync<JsonObject>(TestContext.Current.CancellationToken))!;
        Assert.Equal(service, (string?)echo["service"]);
        Assert.Equal(method, (string?)echo["method"]);
        Assert.Equal(path, (string?)echo["path"]);
    }

    [Fact]
    public async Task BackendListReachesBackendService()
    {
        // Act
        var body = await gateway.GetJsonAsync("/api/backends");

        // Assert
        Assert.Equal("backend-service", (string?)body["service"]);
    }

    [Theory]
    [InlineData("/api/unknown-thing")]
    [InlineData("/api/jobsx")]
    [InlineData("/api")]
    public async Task UnknownApiPathAnswers404WithDetail(string path)
    {
        // Act
        using var response = await gateway.Client.GetAsync(path, TestContext.Current.CancellationToken);

        // Assert
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        var problem = (await response.Content.ReadFromJsonAsync<JsonObject>(TestContext.Current.CancellationToken))!;
        Assert.Equal($"No route for {path}", (string?)problem["detail"]);
    }

    [Fact]
    public async Task BothReplicasReceiveTraffic()
    {
        // Act
        var replicas = new List<int>();
        for (var i = 0; i < 30; i++)
        {
            replicas.Add((int)(await gateway.GetJsonAsync("/api/jobs"))["replica"]!);
        }

        // Assert
        Assert.Contains(0, replicas);
        Assert.Contains(1, replicas);
    }

    [Fact]
    public async Task ForwardedHeadersReachTheService()
    {
        // Act
        var echo = await gateway.GetJsonAsync("/api/path-mappings");

        // Assert
        Assert.Equal("127.0.0.1", (string?)echo["x_forwarded_for"]);
        Assert.Equal("http", (string?)echo["x_forwarded_proto"]);
        Assert.Equal(gateway.GatewayAddress.Authority, (string?)echo["x_forwarded_host"]);
    }

    [Theory]
    [InlineData("/ws/job-groups/jg_abc123def456")]
    [InlineData("/api/job/0f6b2a9e/stream")]
    public async Task WebSocketEchoesThroughTheGateway(string path)
    {
        // Arrange
        var cancellationToken = TestContext.Current.CancellationToken;
        using var socket = new ClientWebSocket();
        await socket.ConnectAsync(new Uri($"ws://{gateway.GatewayAddress.Authority}{path}"), cancellationToken);

        // Act
        await socket.SendAsync(Encoding.UTF8.GetBytes("{\"type\":\"ping\"}"), WebSocketMessageType.Text, true, cancellationToken);
        var buffer = new byte[1024];
        var received = await socket.ReceiveAsync(buffer, cancellationToken);
        await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, null, cancellationToken);

        // Assert
        Assert.Equal("{\"type\":\"ping\"}", Encoding.UTF8.GetString(buffer, 0, received.Count));
        Assert.Equal(WebSocketCloseStatus.NormalClosure, socket.CloseStatus);
    }

    [Fact]
    public async Task OversizedBodyIsRejectedWith413()
    {
        // Arrange: with Expect: 100-continue the client waits for the verdict before sending the body, as
        // browsers and HTTP libraries do for large uploads; otherwise the early 413 can race the upload.
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/gallery/search")
        {
            Content = new ByteArrayContent(new byte[GatewayFixture.MaxRequestBodyMb * 1024 * 1024 + 1]),
        };
        request.Headers.ExpectContinue = true;

        // Act
        using var response = await gateway.Client.SendAsync(request, TestContext.Current.CancellationToken);

        // Assert
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        var problem = (await response.Content.ReadFromJsonAsync<JsonObject>(TestContext.Current.CancellationToken))!;
        Assert.Contains($"{GatewayFixture.MaxRequestBodyMb} MB", (string?)problem["detail"]);
    }

    [Fact]
    public async Task OversizedChunkedBodyIsRejectedWith413()
    {
        // Arrange: no Content-Length, so only Kestrel's limit, met while forwarding, can catch it.
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/gallery/search")
        {
            Content = new StreamContent(new MemoryStream(new byte[GatewayFixture.MaxRequestBodyMb * 1024 * 1024 * 2])),
        };
        request.Headers.TransferEncodingChunked = true;

        // Act
        using var response = await gateway.Client.SendAsync(request, TestContext.Current.CancellationToken);

        // Assert
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        var problem = (await response.Content.ReadFromJsonAsync<JsonObject>(TestContext.Current.CancellationToken))!;
        Assert.Contains($"{GatewayFixture.MaxRequestBodyMb} MB", (string?)problem["detail"]);
    }

    [Fact]
    public async Task RequestTargetOverTheLimitAnswers414WithDetail()
    {
        // Act: 10 KB of path, under Kestrel's raised limit and over the suite's own.
        using var response = await gateway.Client.GetAsync("/api/jobs/" + new string('a', 10 * 1024), TestContext.Current.CancellationToken);

        // Assert
        Assert.Equal(HttpStatusCode.RequestUriTooLong, response.StatusCode);
        var problem = (await response.Content.ReadFromJsonAsync<JsonObject>(TestContext.Current.CancellationToken))!;
        Assert.Contains("at most 8192", (string?)problem["detail"]);
    }

    [Fact]
    public async Task HeadersOverTheLimitAnswer431WithDetail()
    {
        // Arrange
        using var request = new HttpRequestMessage(HttpMethod.Get, "/api/jobs");
        request.Headers.Add("X-Large", new string('h', 40 * 1024));

        // Act
        using var response = await gateway.Client.SendAsync(request, TestContext.Current.CancellationToken);

        // Assert
        Assert.Equal(HttpStatusCode.RequestHeaderFieldsTooLarge, response.StatusCode);
        var problem = (await response.Content.ReadFromJsonAsync<JsonObject>(TestContext.Current.CancellationToken))!;
        Assert.Contains("at most 32768", (string?)problem["detail"]);
    }

    [Fact]
    public async Task JsonBodyInAnUnknownCharsetAnswers415WithDetail()
    {
        // Arrange
        using var content = new StringContent("{}");
        content.Headers.ContentType = System.Net.Http.Headers.MediaTypeHeaderValue.Parse("application/json; charset=bogus");

        // Act
        using var response = await gateway.Client.PostAsync("/api/job", content, TestContext.Current.CancellationToken);

        // Assert
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, response.StatusCode);
        var problem = (await response.Content.ReadFromJsonAsync<JsonObject>(TestContext.Current.CancellationToken))!;
        Assert.Contains("'bogus'", (string?)problem["detail"]);
    }

    [Fact]
    public async Task BodyWithinTheLimitIsForwarded()
    {
        // Arrange
        using var content = new ByteArrayContent(new byte[64 * 1024]);

        // Act
        using var response = await gateway.Client.PostAsync("/api/gallery/search", content, TestContext.Current.CancellationToken);

        // Assert
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(64 * 1024, (int)(await response.Content.ReadFromJsonAsync<JsonObject>(TestContext.Current.CancellationToken))!["body_length"]!);
    }

    [Fact]
    public async Task SlowServiceAnswers504NamingIt()
    {
        // Act
        using var response = await gateway.Client.GetAsync(FakeService.SlowPath, TestContext.Current.CancellationToken);

        // Assert
        Assert.Equal(HttpStatusCode.GatewayTimeout, response.StatusCode);
        var problem = (await response.Content.ReadFromJsonAsync<JsonObject>(TestContext.Current.CancellationToken))!;
        Assert.Equal("job-service did not answer in time", (string?)problem["detail"]);
    }

    [Theory]
    [InlineData("http://localhost:5173")]
    [InlineData("http://127.0.0.1:3000")]
    [InlineData("https://[::1]:8443")]
    public async Task PreflightFromTheLocalMachineIsAllowed(string origin)
    {
        // Act
        using var response = await gateway.Client.SendAsync(Preflight(origin), TestContext.Current.CancellationToken);

        // Assert
        Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
        Assert.Equal(origin, response.Headers.GetValues("Access-Control-Allow-Origin").Single());
        Assert.False(response.Headers.Contains("Access-Control-Allow-Credentials"));
    }

    [Fact]
    public async Task PreflightFromAnotherSiteIsRefused()
    {
        // Act
        using var response = await gateway.Client.SendAsync(Preflight("http://evil.example"), TestContext.Current.CancellationToken);

        // Assert
        Assert.False(response.Headers.Contains("Access-Control-Allow-Origin"));
    }

    [Theory]
    [InlineData("/docs")]
    [InlineData("/redoc")]
    [InlineData("/_public/docs")]
    public async Task DocumentationPagesAreHtml(string path)
    {
        // Act
        using var response = await gateway.Client.GetAsync(path, TestContext.Current.CancellationToken);

        // Assert
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/html", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains("<html", await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken), StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task MergedOpenApiHasEveryServiceAndResolvesSchemaClashes()
    {
        // Act
        var document = await gateway.GetJsonAsync("/openapi.json");

        // Assert
        Assert.Equal("3.0.1", (string?)document["openapi"]);
        Assert.Equal("DirectorsConsole API", (string?)document["info"]!["title"]);
        var paths = document["paths"]!.AsObject();
        foreach (var path in OpenApiDocuments.RoutedPath.Values.Append("/health").Append("/api/health").Append("/_public/status"))
        {
            Assert.True(paths.ContainsKey(path), $"{path} is missing");
        }

        Assert.False(paths.ContainsKey(OpenApiDocuments.InternalPath));
        var schemas = document["components"]!["schemas"]!.AsObject();
        Assert.True(schemas.ContainsKey("Item"));
        Assert.True(schemas.ContainsKey("backend-service_Item"));
        Assert.True(schemas.ContainsKey("SuiteHealth"));
        Assert.False(schemas.ContainsKey("backend-service_Problem"));
        Assert.Equal("#/components/schemas/backend-service_Item",
            (string?)paths["/api/backends"]!["get"]!["responses"]!["200"]!["content"]!["application/json"]!["schema"]!["$ref"]);
        Assert.Equal("#/components/schemas/Problem",
            (string?)paths["/api/backends"]!["get"]!["responses"]!["404"]!["content"]!["application/json"]!["schema"]!["$ref"]);
        Assert.DoesNotContain("Unavailable", (string?)document["info"]!["description"]);
    }

    [Fact]
    public async Task GatewayAnswersItsOwnStatusAndLiveness()
    {
        // Act
        var status = await gateway.GetJsonAsync("/_public/status");
        using var alive = await gateway.Client.GetAsync("/alive", TestContext.Current.CancellationToken);

        // Assert
        Assert.Equal("ok", (string?)status["status"]);
        Assert.Equal(HttpStatusCode.OK, alive.StatusCode);
    }

    private static HttpRequestMessage Preflight(string origin)
    {
        var request = new HttpRequestMessage(HttpMethod.Options, "/api/jobs");
        request.Headers.Add("Origin", origin);
        request.Headers.Add("Access-Control-Request-Method", "POST");
        request.Headers.Add("Access-Control-Request-Headers", "content-type");
        return request;
    }
}
