using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using DirectorsConsole.Testing;

namespace DirectorsConsole.JobService.Tests.Workflows;

/// <summary>The workflows API over a temporary library folder seeded with the shipped examples.</summary>
public sealed class WorkflowsApiTests(GarnetFixture garnet) : IClassFixture<GarnetFixture>, IAsyncLifetime
{
    private readonly string _folder = Directory.CreateTempSubdirectory("dc-workflows-api-").FullName;
    private ServiceFactory<Program>? _factory;
    private HttpClient? _client;

    private HttpClient Client => _client!;

    private static CancellationToken Cancellation => TestContext.Current.CancellationToken;

    public ValueTask InitializeAsync()
    {
        foreach (var file in Directory.GetFiles(ShippedWorkflows.Folder))
        {
            File.Copy(file, Path.Combine(_folder, Path.GetFileName(file)));
        }

        _factory = new ServiceFactory<Program>(garnet.ConnectionString, new Dictionary<string, string?> { ["workflows_dir"] = _folder });
        _client = _factory.CreateClient();
        return ValueTask.CompletedTask;
    }

    public async ValueTask DisposeAsync()
    {
        _client?.Dispose();
        if (_factory is not null)
        {
            await _factory.DisposeAsync();
        }

        Directory.Delete(_folder, recursive: true);
    }

    private static async Task<JsonNode> BodyAsync(HttpResponseMessage response) =>
        JsonNode.Parse(await response.Content.ReadAsStringAsync(Cancellation))!;

    [Fact]
    public async Task ListShowsTheExamplesWithNamesParametersAndNodeCounts()
    {
        // Act
        using var response = await Client.GetAsync("/api/workflows", Cancellation);

        // Assert
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await BodyAsync(response);
        var workflows = body["workflows"]!.AsArray();
        Assert.Equal(["empty_image", "test_progress", "txt2img_sdxl"], workflows.Select(w => (string?)w!["id"]));
        var sdxl = workflows[2]!;
        Assert.Equal("Text to image (SDXL)", (string?)sdxl["name"]);
        Assert.Equal(7, (int)sdxl["node_count"]!);
        Assert.Contains("prompt", sdxl["parameters"]!.AsArray().Select(p => (string?)p));
        Assert.Equal(3, (int)body["total"]!);
    }

    [Fact]
    public async Task GetReturnsTheApiJsonAndTheSidecar()
    {
        // Act
        using var response = await Client.GetAsync("/api/workflows/txt2img_sdxl", Cancellation);

        // Assert
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await BodyAsync(response);
        Assert.Equal("KSampler", (string?)body["workflow"]!["3"]!["class_type"]);
        Assert.Equal("6.text", (string?)body["sidecar"]!["parameters"]!["prompt"]!["targets"]![0]);
        Assert.Equal("3", (string?)body["sidecar"]!["seed_nodes"]![0]);
    }

    [Fact]
    public async Task UnknownWorkflowIs404WithDetail()
    {
        // Act
        using var get = await Client.GetAsync("/api/workflows/nope", Cancellation);
        using var delete = await Client.DeleteAsync("/api/workflows/nope", Cancellation);

        // Assert
        Assert.Equal(HttpStatusCode.NotFound, get.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, delete.StatusCode);
        Assert.Equal("Workflow not found: nope", (string?)(await BodyAsync(get))["detail"]);
    }

    [Fact]
    public async Task PutCreatesThenReplacesAndWritesTheSidecarAsYaml()
    {
        // Arrange
        var workflow = JsonNode.Parse("""
            {"workflow": {"1": {"class_type": "EmptyImage", "inputs": {"width": 64, "height": 64, "batch_size": 1, "color": 0}},
                          "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "x"}}},
             "sidecar": {"name": "Square", "parameters": {"size": {"targets": ["1.width", "1.height"], "type": "resolution"}}}}
            """);

        // Act
        using var created = await Client.PutAsJsonAsync("/api/workflows/square", workflow, Cancellation);
        using var replaced = await Client.PutAsJsonAsync("/api/workflows/square", workflow!["workflow"], Cancellation);

        // Assert
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        Assert.Equal("/api/workflows/square", created.Headers.Location?.OriginalString);
        Assert.Equal(HttpStatusCode.OK, replaced.StatusCode);
        Assert.Equal("Square", (string?)(await BodyAsync(replaced))["name"]);
        Assert.Contains("size:", await File.ReadAllTextAsync(Path.Combine(_folder, "square.yaml"), Cancellation));
        Assert.True(File.Exists(Path.Combine(_folder, "square.json")));
    }

    [Fact]
    public async Task SidecarNullRemovesIt()
    {
        // Arrange
        var prompt = await File.ReadAllTextAsync(Path.Combine(_folder, "empty_image.json"), Cancellation);
        var body = new JsonObject { ["workflow"] = JsonNode.Parse(prompt), ["sidecar"] = null };

        // Act
        using var response = await Client.PutAsJsonAsync("/api/workflows/empty_image", body, Cancellation);

        // Assert
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.False(File.Exists(Path.Combine(_folder, "empty_image.yaml")));
        Assert.Equal("empty_image", (string?)(await BodyAsync(response))["name"]);
    }

    [Fact]
    public async Task InvalidGraphIs422WithLocations()
    {
        // Arrange
        var workflow = JsonNode.Parse("""{"workflow": {"1": {"class_type": "SaveImage", "inputs": {"images": ["7", 0]}}, "2": {"inputs": {}}}}""");

        // Act
        using var response = await Client.PutAsJsonAsync("/api/workflows/broken", workflow, Cancellation);

        // Assert
        Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
        var detail = (await BodyAsync(response))["detail"]!.AsArray();
        Assert.Equal(["body.workflow.1.inputs.images", "body.workflow.2.class_type"],
            detail.Select(e => string.Join('.', e!["loc"]!.AsArray().Select(part => part!.ToString()))));
        Assert.False(File.Exists(Path.Combine(_folder, "broken.json")));
    }

    [Fact]
    public async Task SidecarNamingMissingInputsIs422()
    {
        // Arrange
        var workflow = JsonNode.Parse("""
            {"workflow": {"1": {"class_type": "EmptyImage", "inputs": {"width": 64, "height": 64, "batch_size": 1, "color": 0}}},
             "sidecar": {"parameters": {"prompt": "6.text", "w": "1.depth"}}}
            """);

        // Act
        using var response = await Client.PutAsJsonAsync("/api/workflows/mismatch", workflow, Cancellation);

        // Assert
        Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
        var detail = (await BodyAsync(response))["detail"]!.AsArray();
        Assert.Equal(2, detail.Count);
        Assert.All(detail, e => Assert.Equal("body", (string?)e!["loc"]![0]));
        Assert.Contains("node 6", (string?)detail[0]!["msg"]);
    }

    [Theory]
    [InlineData("_bad")]
    [InlineData("a%20b")]
    public async Task InvalidIdIs422(string id)
    {
        // Arrange
        var workflow = JsonNode.Parse("""{"1": {"class_type": "EmptyImage", "inputs": {"width": 64}}}""");

        // Act
        using var response = await Client.PutAsJsonAsync($"/api/workflows/{id}", workflow, Cancellation);

        // Assert
        Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
        Assert.Equal(["path", "id"], (await BodyAsync(response))["detail"]![0]!["loc"]!.AsArray().Select(p => (string?)p));
    }

    [Theory]
    [InlineData("CON", "Windows device name")]
    [InlineData("nul", "Windows device name")]
    [InlineData("Com1", "Windows device name")]
    [InlineData("LPT9.backup", "Windows device name")]
    [InlineData("aux.v2", "Windows device name")]
    [InlineData("a..b", "cannot be a path")]
    [InlineData("a%5Cb", "cannot be a path")]
    [InlineData("a%2Fb", "letters, digits, '.', '_' or '-'")]
    [InlineData("shot.", "ends with a dot or a space")]
    [InlineData("shot%20", "ends with a dot or a space")]
    [InlineData("shot%0A", "control character U+000A")]
    [InlineData("a%3Ab", "Windows does not allow")]
    [InlineData("a2345678901234567890123456789012345678901234567890123456789012345", "more than the 64 allowed")]
    public async Task NameThatIsNoPortableFileNameIs422SayingWhyAndWritesNothing(string id, string reason)
    {
        // Arrange
        var workflow = JsonNode.Parse("""{"1": {"class_type": "EmptyImage", "inputs": {"width": 64}}}""");
        var before = Directory.GetFiles(_folder).Order().ToArray();

        // Act
        using var response = await Client.PutAsJsonAsync($"/api/workflows/{id}", workflow, Cancellation);

        // Assert
        Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
        var error = Assert.Single((await BodyAsync(response))["detail"]!.AsArray())!;
        Assert.Equal(["path", "id"], error["loc"]!.AsArray().Select(p => (string?)p));
        Assert.Equal("value_error", (string?)error["type"]);
        Assert.Contains(reason, (string?)error["msg"]);
        Assert.Equal(before, Directory.GetFiles(_folder).Order().ToArray());
    }

    [Fact]
    public async Task NonObjectBodyIs422()
    {
        // Act
        using var response = await Client.PutAsync("/api/workflows/x", new StringContent("[1, 2]", System.Text.Encoding.UTF8, "application/json"), Cancellation);

        // Assert
        Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
    }

    [Fact]
    public async Task DeleteRemovesTheWorkflowAndItsSidecar()
    {
        // Act
        using var response = await Client.DeleteAsync("/api/workflows/test_progress", Cancellation);
        using var after = await Client.GetAsync("/api/workflows/test_progress", Cancellation);

        // Assert
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.True((bool)(await BodyAsync(response))["deleted"]!);
        Assert.Equal(HttpStatusCode.NotFound, after.StatusCode);
        Assert.False(File.Exists(Path.Combine(_folder, "test_progress.yaml")));
    }

    [Fact]
    public async Task BrokenStoredFileIs409NotAServerError()
    {
        // Arrange
        await File.WriteAllTextAsync(Path.Combine(_folder, "hand_edited.json"), "{ not json", Cancellation);

        // Act
        using var get = await Client.GetAsync("/api/workflows/hand_edited", Cancellation);
        using var list = await Client.GetAsync("/api/workflows", Cancellation);

        // Assert
        Assert.Equal(HttpStatusCode.Conflict, get.StatusCode);
        Assert.Contains("not valid JSON", (string?)(await BodyAsync(get))["detail"]);
        var entry = (await BodyAsync(list))["workflows"]!.AsArray().Single(w => (string?)w!["id"] == "hand_edited")!;
        Assert.Contains("not valid JSON", (string?)entry["error"]);
    }

    [Fact]
    public async Task OpenApiDocumentsEveryWorkflowEndpoint()
    {
        // Act
        using var response = await Client.GetAsync("/openapi/v1.json", Cancellation);

        // Assert
        var paths = (await BodyAsync(response))["paths"]!;
        Assert.NotNull(paths["/api/workflows"]!["get"]);
        var item = paths["/api/workflows/{id}"]!;
        Assert.NotNull(item["get"]);
        Assert.NotNull(item["delete"]);
        Assert.NotNull(item["put"]!["requestBody"]);
        Assert.Equal("Workflows", (string?)item["put"]!["tags"]![0]);
    }
}
