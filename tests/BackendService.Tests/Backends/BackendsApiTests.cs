using System.Net;
using System.Net.Http.Json;
using System.Text;
using DirectorsConsole.Testing;

namespace DirectorsConsole.BackendService.Tests.Backends;

public sealed class BackendsApiTests(GarnetFixture garnet) : IClassFixture<GarnetFixture>
{
    [Fact]
    public async Task BackendsCanBeCreatedListedReadUpdatedAndDeleted()
    {
        // Arrange
        var ct = TestContext.Current.CancellationToken;
        await using var factory = BackendTestClient.CreateFactory(garnet);
        using var client = factory.CreateClient();
        var id = $"beast-{BackendTestClient.Unique()}";
        var port = BackendTestClient.DeadPort();

        // Act
        using var created = await client.PostAsJsonAsync("/api/backends", new
        {
            id, name = "Beast (5090)", host = "127.0.0.1", port, capabilities = new[] { "flux", "sdxl" }, max_concurrent_jobs = 2, prefetch = 3, tags = new[] { "gpu" },
        }, ct);
        using var listed = await client.GetAsync("/api/backends", ct);
        using var fetched = await client.GetAsync($"/api/backends/{id}", ct);
        using var status = await client.GetAsync($"/api/backends/{id}/status", ct);
        using var updated = await client.PutAsJsonAsync($"/api/backends/{id}", new { host = "localhost", port = port + 1 }, ct);
        using var deleted = await client.DeleteAsync($"/api/backends/{id}", ct);
        using var gone = await client.GetAsync($"/api/backends/{id}", ct);

        // Assert
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        Assert.Equal($"/api/backends/{id}", created.Headers.Location?.OriginalString);
        var backend = await created.ReadJsonAsync(ct);
        Assert.Equal(id, (string?)backend["id"]);
        Assert.Equal("Beast (5090)", (string?)backend["name"]);
        Assert.Equal(port, (int)backend["port"]!);
        Assert.True((bool)backend["enabled"]!);
        Assert.Equal(["flux", "sdxl"], backend["capabilities"]!.AsArray().Select(c => (string?)c));
        Assert.Equal(2, (int)backend["max_concurrent_jobs"]!);
        Assert.Equal(3, (int)backend["prefetch"]!);
        Assert.Equal("api", (string?)backend["source"]);
        Assert.Equal("offline", (string?)backend["status"]);
        Assert.False((bool)backend["online"]!);
        Assert.Equal(0, (int)backend["queue_depth"]!);
        Assert.NotNull(backend["discovered"]!["node_classes"]);

        var list = await listed.ReadJsonAsync(ct);
        Assert.Contains(list["backends"]!.AsArray(), b => (string?)b!["id"] == id);
        Assert.Equal(list["backends"]!.AsArray().Count, (int)list["total"]!);
        Assert.Equal((int)list["total"]!, (int)list["online"]! + (int)list["offline"]!);

        Assert.Equal(HttpStatusCode.OK, fetched.StatusCode);
        Assert.Equal(HttpStatusCode.OK, status.StatusCode);
        var runtime = await status.ReadJsonAsync(ct);
        Assert.Equal(id, (string?)runtime["id"]);
        Assert.Equal("offline", (string?)runtime["status"]);
        Assert.Null(runtime["host"]);

        Assert.Equal(HttpStatusCode.OK, updated.StatusCode);
        var replaced = await updated.ReadJsonAsync(ct);
        Assert.Equal("localhost", (string?)replaced["host"]);
        Assert.Equal(id, (string?)replaced["name"]);
        Assert.Empty(replaced["capabilities"]!.AsArray());
        Assert.Equal(1, (int)replaced["max_concurrent_jobs"]!);
        Assert.Null(replaced["prefetch"]);

        Assert.Equal(HttpStatusCode.OK, deleted.StatusCode);
        var deletion = await deleted.ReadJsonAsync(ct);
        Assert.True((bool)deletion["deleted"]!);
        Assert.Equal(id, (string?)deletion["id"]);
        Assert.Equal(HttpStatusCode.NotFound, gone.StatusCode);
    }

    [Fact]
    public async Task APostWithoutIdUsesHostAndPort()
    {
        // Arrange
        var ct = TestContext.Current.CancellationToken;
        await using var factory = BackendTestClient.CreateFactory(garnet);
        using var client = factory.CreateClient();
        var port = BackendTestClient.DeadPort();

        // Act
        var backend = await client.CreateBackendAsync(new { host = "127.0.0.1", port }, ct);

        // Assert
        Assert.Equal($"127.0.0.1_{port}", (string?)backend["id"]);
        Assert.Equal($"127.0.0.1_{port}", (string?)backend["name"]);
    }

    [Theory]
    [InlineData("GET", "")]
    [InlineData("GET", "/status")]
    [InlineData("PUT", "")]
    [InlineData("DELETE", "")]
    [InlineData("POST", "/enable")]
    [InlineData("POST", "/disable")]
    [InlineData("POST", "/restart")]
    public async Task UnknownIdsAnswerNotFoundWithADetail(string method, string suffix)
    {
        // Arrange
        var ct = TestContext.Current.CancellationToken;
        await using var factory = BackendTestClient.CreateFactory(garnet);
        using var client = factory.CreateClient();
        using var request = new HttpRequestMessage(new HttpMethod(method), $"/api/backends/no-such-node{suffix}");
        if (method == "PUT")
        {
            request.Content = JsonContent.Create(new { host = "127.0.0.1" });
        }

        // Act
        using var response = await client.SendAsync(request, ct);

        // Assert
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("Backend 'no-such-node' not found", (string?)(await response.ReadJsonAsync(ct))["detail"]);
    }

    [Fact]
    public async Task AnExistingIdIsAConflict()
    {
        // Arrange
        var ct = TestContext.Current.CancellationToken;
        await using var factory = BackendTestClient.CreateFactory(garnet);
        using var client = factory.CreateClient();
        var id = $"dup-{BackendTestClient.Unique()}";
        await client.CreateBackendAsync(new { id, host = "127.0.0.1", port = BackendTestClient.DeadPort() }, ct);

        // Act
        using var response = await client.PostAsJsonAsync("/api/backends", new { id, host = "10.0.0.2" }, ct);

        // Assert
        Assert.Equal(HttpStatusCode.Conflict, response.StatusCode);
        Assert.Contains($"'{id}' already exists", (string?)(await response.ReadJsonAsync(ct))["detail"]);
        Assert.Equal("127.0.0.1", (string?)(await client.GetBackendAsync(id, ct))!["host"]);
    }

    [Fact]
    public async Task InvalidFieldsAreReportedInTheFastApiListForm()
    {
        // Arrange
        var ct = TestContext.Current.CancellationToken;
        await using var factory = BackendTestClient.CreateFactory(garnet);
        using var client = factory.CreateClient();

        // Act
        using var response = await client.PostAsJsonAsync("/api/backends",
            new { id = "-bad", host = "169.254.169.254", port = 70000, max_concurrent_jobs = 0, prefetch = 17 }, ct);

        // Assert
        Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
        var errors = (await response.ReadJsonAsync(ct))["detail"]!.AsArray();
        Assert.Equal(["id", "host", "port", "max_concurrent_jobs", "prefetch"], errors.Select(e => (string?)e!["loc"]![1]));
        Assert.All(errors, e => Assert.Equal("value_error", (string?)e!["type"]));
        Assert.All(errors, e => Assert.Equal("body", (string?)e!["loc"]![0]));
        Assert.Equal("169.254.169.254", (string?)errors[1]!["input"]);
        Assert.Contains("metadata", (string?)errors[1]!["msg"]);
    }

    [Fact]
    public async Task AMissingHostIsAMissingField()
    {
        // Arrange
        var ct = TestContext.Current.CancellationToken;
        await using var factory = BackendTestClient.CreateFactory(garnet);
        using var client = factory.CreateClient();

        // Act
        using var response = await client.PostAsJsonAsync("/api/backends", new { id = "nohost", port = 8188 }, ct);

        // Assert
        Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
        var error = Assert.Single((await response.ReadJsonAsync(ct))["detail"]!.AsArray())!;
        Assert.Equal("missing", (string?)error["type"]);
        Assert.Equal(["body", "host"], error["loc"]!.AsArray().Select(part => (string?)part));
        Assert.Equal("nohost", (string?)error["input"]!["id"]);
    }

    [Fact]
    public async Task APortOfTheWrongTypeIsAValidationError()
    {
        // Arrange
        var ct = TestContext.Current.CancellationToken;
        await using var factory = BackendTestClient.CreateFactory(garnet);
        using var client = factory.CreateClient();
        using var body = new StringContent("""{"host": "10.0.0.3", "port": "eighty"}""", Encoding.UTF8, "application/json");

        // Act
        using var response = await client.PostAsync("/api/backends", body, ct);

        // Assert
        Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
        var error = (await response.ReadJsonAsync(ct))["detail"]!.AsArray()[0]!;
        Assert.Equal(["body", "port"], error["loc"]!.AsArray().Select(part => (string?)part));
    }

    [Fact]
    public async Task APutCannotChangeTheIdAndValidatesLikeAPost()
    {
        // Arrange
        var ct = TestContext.Current.CancellationToken;
        await using var factory = BackendTestClient.CreateFactory(garnet);
        using var client = factory.CreateClient();
        var id = $"edit-{BackendTestClient.Unique()}";
        await client.CreateBackendAsync(new { id, host = "127.0.0.1", port = BackendTestClient.DeadPort() }, ct);

        // Act
        using var renamed = await client.PutAsJsonAsync($"/api/backends/{id}", new { id = "other", host = "127.0.0.1" }, ct);
        using var linkLocal = await client.PutAsJsonAsync($"/api/backends/{id}", new { host = "fe80::1" }, ct);

        // Assert
        Assert.Equal(HttpStatusCode.UnprocessableEntity, renamed.StatusCode);
        Assert.Equal("id", (string?)(await renamed.ReadJsonAsync(ct))["detail"]![0]!["loc"]![1]);
        Assert.Equal(HttpStatusCode.UnprocessableEntity, linkLocal.StatusCode);
        Assert.Contains("link-local", (string?)(await linkLocal.ReadJsonAsync(ct))["detail"]![0]!["msg"]);
    }

    [Fact]
    public async Task DisablingShowsDisabledAtOnceAndEnablingProbesAgain()
    {
        // Arrange
        var ct = TestContext.Current.CancellationToken;
        await using var factory = BackendTestClient.CreateFactory(garnet);
        using var client = factory.CreateClient();
        var id = $"toggle-{BackendTestClient.Unique()}";
        await client.CreateBackendAsync(new { id, host = "127.0.0.1", port = BackendTestClient.DeadPort() }, ct);

        // Act
        using var disabled = await client.PostAsync($"/api/backends/{id}/disable", null, ct);
        var disabledBody = await disabled.ReadJsonAsync(ct);
        var whileDisabled = await client.GetBackendAsync(id, ct);
        using var enabled = await client.PostAsync($"/api/backends/{id}/enable", null, ct);
        var enabledBody = await enabled.ReadJsonAsync(ct);
        var probedAgain = await Eventually.ReturnsAsync(
            () => client.GetBackendAsync(id, ct), b => ((string?)b!["last_error"])?.Contains("refused", StringComparison.OrdinalIgnoreCase) == true);

        // Assert
        Assert.Equal(HttpStatusCode.OK, disabled.StatusCode);
        Assert.False((bool)disabledBody["enabled"]!);
        Assert.Equal("disabled", (string?)disabledBody["status"]);
        Assert.Equal("disabled", (string?)whileDisabled!["status"]);
        Assert.Equal(HttpStatusCode.OK, enabled.StatusCode);
        Assert.True((bool)enabledBody["enabled"]!);
        Assert.Equal("offline", (string?)enabledBody["status"]);
        Assert.Equal("offline", (string?)probedAgain!["status"]);
        Assert.Contains("refused", (string?)probedAgain["last_error"], StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task RestartingAnUnreachableNodeIsABadGateway()
    {
        // Arrange
        var ct = TestContext.Current.CancellationToken;
        await using var factory = BackendTestClient.CreateFactory(garnet);
        using var client = factory.CreateClient();
        var id = $"restart-{BackendTestClient.Unique()}";
        await client.CreateBackendAsync(new { id, host = "127.0.0.1", port = BackendTestClient.DeadPort() }, ct);

        // Act
        using var response = await client.PostAsJsonAsync($"/api/backends/{id}/restart", new { interrupt_jobs = true, free_memory = true }, ct);

        // Assert
        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        var detail = (string?)(await response.ReadJsonAsync(ct))["detail"];
        Assert.Contains($"Backend '{id}'", detail);
        Assert.Contains("/interrupt", detail);
    }

    [Fact]
    public async Task TheEndpointsAreInTheOpenApiDocument()
    {
        // Arrange
        var ct = TestContext.Current.CancellationToken;
        await using var factory = BackendTestClient.CreateFactory(garnet);
        using var client = factory.CreateClient();

        // Act
        using var response = await client.GetAsync("/openapi/v1.json", ct);

        // Assert
        var paths = (await response.ReadJsonAsync(ct))["paths"]!.AsObject();
        Assert.Contains("/api/backends", paths.Select(p => p.Key));
        Assert.NotNull(paths["/api/backends/{id}"]!["put"]);
        Assert.NotNull(paths["/api/backends/{id}/restart"]!["post"]);
        Assert.Equal("ListBackends", (string?)paths["/api/backends"]!["get"]!["operationId"]);
    }

    [Fact]
    public async Task RedisDownIsServiceUnavailable()
    {
        // Arrange
        var ct = TestContext.Current.CancellationToken;
        await using var factory = new ServiceFactory<Program>($"127.0.0.1:{BackendTestClient.DeadPort()},connectTimeout=500",
            new Dictionary<string, string?> { ["Redis:CommandTimeout"] = "00:00:05" });
        using var client = factory.CreateClient();

        // Act
        using var response = await client.GetAsync("/api/backends", ct);

        // Assert
        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Contains("Redis", (string?)(await response.ReadJsonAsync(ct))["detail"]);
    }
}
