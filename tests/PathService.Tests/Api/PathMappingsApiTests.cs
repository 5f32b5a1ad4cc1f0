using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using DirectorsConsole.ServiceDefaults.Paths;
using DirectorsConsole.Testing;

namespace DirectorsConsole.PathService.Tests.Api;

public sealed class PathMappingsApiTests(GarnetFixture garnet) : IClassFixture<GarnetFixture>
{
    [Fact]
    public async Task MappingsCanBeCreatedReadUpdatedAndDeleted()
    {
        // Arrange
        var ct = TestContext.Current.CancellationToken;
        await using var factory = new ServiceFactory<Program>(garnet.ConnectionString);
        using var client = factory.CreateClient();
        var token = PathServiceClient.Unique();

        // Act
        using var created = await client.PostAsJsonAsync("/api/path-mappings",
            new { name = $"Mandalore {token}", windows = "W:/", linux = $"/mnt/{token}/" }, ct);
        var mapping = (await created.ReadJsonAsync(ct))["mapping"]!;
        var id = (string)mapping["id"]!;
        using var listed = await client.GetAsync("/api/path-mappings", ct);
        using var fetched = await client.GetAsync($"/api/path-mappings/{id}", ct);
        using var updated = await client.PutAsJsonAsync($"/api/path-mappings/{id}",
            new { name = $"Kessel {token}", linux = $"/mnt/{token}", macos = $"/Volumes/{token}", enabled = false }, ct);
        using var deleted = await client.DeleteAsync($"/api/path-mappings/{id}", ct);
        using var gone = await client.GetAsync($"/api/path-mappings/{id}", ct);

        // Assert
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        Assert.Equal($"/api/path-mappings/{id}", created.Headers.Location?.OriginalString);
        Assert.Matches("^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", id);
        Assert.Equal("W:\\", (string?)mapping["windows"]);
        Assert.Equal($"/mnt/{token}", (string?)mapping["linux"]);
        Assert.Equal("", (string?)mapping["macos"]);
        Assert.True((bool)mapping["enabled"]!);

        var list = await listed.ReadJsonAsync(ct);
        Assert.Equal(PathOs.Current.WireName, (string?)list["current_os"]);
        Assert.Contains(list["mappings"]!.AsArray(), m => (string?)m!["id"] == id);

        Assert.Equal(HttpStatusCode.OK, fetched.StatusCode);
        Assert.Equal($"Mandalore {token}", (string?)(await fetched.ReadJsonAsync(ct))["mapping"]!["name"]);

        Assert.Equal(HttpStatusCode.OK, updated.StatusCode);
        var replaced = (await updated.ReadJsonAsync(ct))["mapping"]!;
        Assert.Equal(id, (string?)replaced["id"]);
        Assert.Equal($"Kessel {token}", (string?)replaced["name"]);
        Assert.Equal("", (string?)replaced["windows"]);
        Assert.False((bool)replaced["enabled"]!);

        Assert.Equal(HttpStatusCode.OK, deleted.StatusCode);
        var deletion = await deleted.ReadJsonAsync(ct);
        Assert.True((bool)deletion["deleted"]!);
        Assert.Equal(id, (string?)deletion["id"]);
        Assert.Equal(HttpStatusCode.NotFound, gone.StatusCode);
    }

    [Theory]
    [InlineData("GET")]
    [InlineData("PUT")]
    [InlineData("DELETE")]
    public async Task UnknownIdsAnswerNotFoundWithADetail(string method)
    {
        // Arrange
        var ct = TestContext.Current.CancellationToken;
        await using var factory = new ServiceFactory<Program>(garnet.ConnectionString);
        using var client = factory.CreateClient();
        using var request = new HttpRequestMessage(new HttpMethod(method), "/api/path-mappings/no-such-id");
        if (method == "PUT")
        {
            request.Content = JsonContent.Create(new { name = $"n {PathServiceClient.Unique()}", windows = "W:\\", linux = "/mnt/w" });
        }

        // Act
        using var response = await client.SendAsync(request, ct);

        // Assert
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("Path mapping not found: no-such-id", (string?)(await response.ReadJsonAsync(ct))["detail"]);
    }

    [Fact]
    public async Task AMissingNameIsReportedAsAMissingField()
    {
        // Arrange
        var ct = TestContext.Current.CancellationToken;
        await using var factory = new ServiceFactory<Program>(garnet.ConnectionString);
        using var client = factory.CreateClient();

        // Act
        using var response = await client.PostAsJsonAsync("/api/path-mappings", new { windows = "W:\\", linux = "/mnt/w" }, ct);

        // Assert
        Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
        var error = Assert.Single((await response.ReadJsonAsync(ct))["detail"]!.AsArray())!;
        Assert.Equal("missing", (string?)error["type"]);
        Assert.Equal(["body", "name"], error["loc"]!.AsArray().Select(part => (string?)part));
        Assert.Equal("Field required", (string?)error["msg"]);
        Assert.Equal("W:\\", (string?)error["input"]!["windows"]);
    }

    [Fact]
    public async Task UnusablePrefixesAreStoredAsTypedAndIgnoredWhenTranslating()
    {
        // Arrange
        var ct = TestContext.Current.CancellationToken;
        await using var factory = new ServiceFactory<Program>(garnet.ConnectionString);
        using var client = factory.CreateClient();
        var token = PathServiceClient.Unique();

        // Act
        using var created = await client.PostAsJsonAsync("/api/path-mappings",
            new { name = $"Bad {token}", windows = $"/mnt/{token}", linux = $"mnt/{token}", macos = $"/Volumes/{token}/../x" }, ct);
        var mapping = (await created.ReadJsonAsync(ct))["mapping"]!;
        using var translated = await client.PostAsJsonAsync("/api/translate-path", new { path = $"/mnt/{token}/a", target_os = "windows" }, ct);

        // Assert
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        Assert.Equal($"mnt/{token}", (string?)mapping["linux"]);
        Assert.Equal($"/Volumes/{token}/../x", (string?)mapping["macos"]);
        var translation = await translated.ReadJsonAsync(ct);
        Assert.Equal(HttpStatusCode.OK, translated.StatusCode);
        Assert.Equal($"/mnt/{token}/a", (string?)translation["translated"]);
        Assert.Null(translation["mapping_id"]);
        var ignored = translation["ignored_prefixes"]!.AsArray().Select(p => (string?)p).Where(p => p!.Contains(token, StringComparison.Ordinal)).ToArray();
        Assert.Equal(3, ignored.Length);
    }

    [Fact]
    public async Task AnUnreadableJsonBodyIsAValidationError()
    {
        // Arrange
        var ct = TestContext.Current.CancellationToken;
        await using var factory = new ServiceFactory<Program>(garnet.ConnectionString);
        using var client = factory.CreateClient();
        using var body = new StringContent("{\"name\": \"x\", ", Encoding.UTF8, "application/json");

        // Act
        using var response = await client.PostAsync("/api/path-mappings", body, ct);

        // Assert
        Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
        var detail = (await response.ReadJsonAsync(ct))["detail"]!.AsArray();
        Assert.NotEmpty(detail);
        Assert.Equal("body", (string?)detail[0]!["loc"]![0]);
    }

    [Fact]
    public async Task OpenApiDescribesRequestsAndResponses()
    {
        // Arrange
        var ct = TestContext.Current.CancellationToken;
        await using var factory = new ServiceFactory<Program>(garnet.ConnectionString);
        using var client = factory.CreateClient();

        // Act
        using var response = await client.GetAsync("/openapi/v1.json", ct);

        // Assert
        var paths = (await response.ReadJsonAsync(ct))["paths"]!;
        var create = paths["/api/path-mappings"]!["post"]!;
        Assert.Equal("CreatePathMapping", (string?)create["operationId"]);
        Assert.NotNull(create["requestBody"]!["content"]!["application/json"]!["schema"]);
        Assert.NotNull(create["responses"]!["201"]!["content"]);
        Assert.NotNull(create["responses"]!["422"]!["content"]);
        Assert.NotNull(paths["/api/translate-path"]!["post"]!["responses"]!["200"]!["content"]);
        Assert.NotNull(paths["/api/path-mappings/{id}"]!["delete"]);
        Assert.Equal("Path Translation", (string?)create["tags"]![0]);
    }

    [Fact]
    public async Task HealthReportsReadyWithRedis()
    {
        // Arrange
        var ct = TestContext.Current.CancellationToken;
        await using var factory = new ServiceFactory<Program>(garnet.ConnectionString);
        using var client = factory.CreateClient();

        // Act
        using var response = await client.GetAsync("/health", ct);

        // Assert
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await response.ReadJsonAsync(ct);
        Assert.Equal("path-service", (string?)body["service"]);
        Assert.Equal("healthy", (string?)body["checks"]!["redis"]!["status"]);
    }
}
