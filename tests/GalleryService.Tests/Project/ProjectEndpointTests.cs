using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using DirectorsConsole.Testing;
using Xunit;

namespace DirectorsConsole.GalleryService.Tests.Project;

/// <summary>The project endpoints doing their work inside the root (the refusals are in <see cref="HostilePathTests"/>).</summary>
public sealed class ProjectEndpointTests(ProjectEnvironment environment) : IClassFixture<ProjectEnvironment>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task CurrentProjectIsSharedByTwoReplicas()
    {
        // Arrange
        var other = Directory.CreateDirectory(Path.Combine(environment.Root, "Other")).FullName;
        await using var replica = environment.CreateReplica();
        using var second = replica.CreateClient();

        // Act
        using var set = await second.PostAsJsonAsync("/api/project", new { project = new { path = other, name = "Other", naming_template = "{panel}_{version}" } }, Ct);
        using var seenByFirst = await environment.Client.GetAsync("/api/project", Ct);
        using var relative = await environment.Client.PostAsJsonAsync("/api/scan-folder-images", new { folderPath = "." }, Ct);
        using var restore = await environment.Client.PostAsJsonAsync("/api/project", new { path = environment.ProjectFolder }, Ct);

        // Assert
        Assert.Equal(HttpStatusCode.OK, set.StatusCode);
        var project = (await ProjectEnvironment.ReadJsonAsync(seenByFirst))["project"]!;
        Assert.Equal(other, (string?)project["path"]);
        Assert.Equal("Other", (string?)project["name"]);
        Assert.Equal("{panel}_{version}", (string?)project["naming_template"]);
        Assert.Equal(other, (string?)(await ProjectEnvironment.ReadJsonAsync(relative))["folder_path"]);
        Assert.Equal(HttpStatusCode.OK, restore.StatusCode);
    }

    [Fact]
    public async Task SettingAMissingProjectFolderIsNotFound()
    {
        // Act
        using var response = await environment.Client.PostAsJsonAsync("/api/project", new { path = Path.Combine(environment.Root, "missing") }, Ct);

        // Assert
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Contains("not found", (string?)(await ProjectEnvironment.ReadJsonAsync(response))["detail"], StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task SaveProjectKeepsTheFormerVersionAndLoadFallsBackToIt()
    {
        // Arrange
        var file = Path.Combine(environment.ProjectFolder, "saved_project.json");
        using var first = await environment.Client.PostAsJsonAsync("/api/save-project",
            new { folder_path = environment.ProjectFolder, filename = "saved_project.json", state = new { panels = new[] { 1 }, saved_at = "one" } }, Ct);
        using var second = await environment.Client.PostAsJsonAsync("/api/save-project",
            new { folderPath = environment.ProjectFolder, filename = "saved_project.json", state = new { panels = new[] { 1, 2 }, saved_at = "two" } }, Ct);
        using var loaded = await environment.Client.PostAsJsonAsync("/api/load-project", new { filePath = file }, Ct);
        await File.WriteAllTextAsync(file, "{\"panels\": [1, 2", Ct);

        // Act
        using var fallback = await environment.Client.PostAsJsonAsync("/api/load-project", new { file_path = file }, Ct);

        // Assert
        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        Assert.Null((string?)(await ProjectEnvironment.ReadJsonAsync(first))["backup_path"]);
        Assert.Equal(file + ".bak", (string?)(await ProjectEnvironment.ReadJsonAsync(second))["backup_path"]);
        Assert.Equal("one", (string?)JsonNode.Parse(await File.ReadAllTextAsync(file + ".bak", Ct))!["saved_at"]);
        var current = await ProjectEnvironment.ReadJsonAsync(loaded);
        Assert.False((bool)current["loaded_from_backup"]!);
        Assert.Equal("two", (string?)current["state"]!["saved_at"]);
        Assert.Equal(HttpStatusCode.OK, fallback.StatusCode);
        var restored = await ProjectEnvironment.ReadJsonAsync(fallback);
        Assert.True((bool)restored["loaded_from_backup"]!);
        Assert.Equal("one", (string?)restored["state"]!["saved_at"]);
        Assert.Contains("backup", (string?)restored["message"], StringComparison.OrdinalIgnoreCase);
        Assert.Empty(Directory.GetFiles(environment.ProjectFolder, "*.tmp"));
    }

    [Fact]
    public async Task LoadingAMissingProjectIsNotFound()
    {
        // Act
        using var response = await environment.Client.PostAsJsonAsync("/api/load-project", new { filePath = Path.Combine(environment.ProjectFolder, "nothing.json") }, Ct);

        // Assert
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.NotNull((string?)(await ProjectEnvironment.ReadJsonAsync(response))["detail"]);
    }

    [Fact]
    public async Task ListProjectsFindsProjectFilesUnderTheRoots()
    {
        // Act
        using var response = await environment.Client.GetAsync("/api/list-projects", Ct);

        // Assert
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var projects = (await ProjectEnvironment.ReadJsonAsync(response))["projects"]!.AsArray();
        var eliot = Assert.Single(projects, p => (string?)p!["path"] == Path.Combine(environment.ProjectFolder, "project.json"))!;
        Assert.Equal("Eliot", (string?)eliot["name"]);
        Assert.Equal(2, (int)eliot["panel_count"]!);
        Assert.DoesNotContain(projects, p => ((string?)p!["path"])!.StartsWith(environment.Outside, StringComparison.Ordinal));
    }

    [Fact]
    public async Task SaveBase64ImageWritesOnceAndOverwritesOnlyWhenAsked()
    {
        // Arrange
        var png = TestPng.WithPrompt("saved");
        var dataUrl = "data:image/png;base64," + Convert.ToBase64String(png);
        var target = Path.Combine(environment.ProjectFolder, "Panel_03", "render.png");
        var request = new { dataUrl, folderPath = environment.ProjectFolder, filename = "Panel_03/render.png" };

        // Act
        using var created = await environment.Client.PostAsJsonAsync("/api/save-base64-image", request, Ct);
        using var again = await environment.Client.PostAsJsonAsync("/api/save-base64-image",
            new { data_url = "data:image/png;base64," + Convert.ToBase64String(TestPng.WithPrompt("other")), folder_path = environment.ProjectFolder, filename = "Panel_03/render.png" }, Ct);
        var afterConflict = await File.ReadAllBytesAsync(target, Ct);
        using var overwritten = await environment.Client.PostAsJsonAsync("/api/save-base64-image",
            new { dataUrl = "data:image/png;base64," + Convert.ToBase64String(TestPng.WithPrompt("third")), folderPath = environment.ProjectFolder, filename = "Panel_03/render.png", overwrite = true }, Ct);

        // Assert
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        Assert.Equal(target, (string?)(await ProjectEnvironment.ReadJsonAsync(created))["path"]);
        Assert.Equal(HttpStatusCode.Conflict, again.StatusCode);
        Assert.Equal(png, afterConflict);
        Assert.Equal(HttpStatusCode.Created, overwritten.StatusCode);
        Assert.True((bool)(await ProjectEnvironment.ReadJsonAsync(overwritten))["overwritten"]!);
        Assert.Equal(TestPng.WithPrompt("third"), await File.ReadAllBytesAsync(target, Ct));
    }

    [Fact]
    public async Task SaveImageTakesADataUrlAndRefusesAnArbitraryHost()
    {
        // Arrange
        var png = TestPng.WithPrompt("data");

        // Act
        using var saved = await environment.Client.PostAsJsonAsync("/api/save-image",
            new { image_url = "data:image/png;base64," + Convert.ToBase64String(png), folder_path = environment.ProjectFolder, filename = "from-data.png" }, Ct);
        using var refused = await environment.Client.PostAsJsonAsync("/api/save-image",
            new { imageUrl = "http://example.com/images/cat.png", folderPath = environment.ProjectFolder, filename = "cat.png" }, Ct);
        using var badBase64 = await environment.Client.PostAsJsonAsync("/api/save-base64-image",
            new { dataUrl = "data:image/png;base64,***", folderPath = environment.ProjectFolder, filename = "bad.png" }, Ct);

        // Assert
        Assert.Equal(HttpStatusCode.Created, saved.StatusCode);
        Assert.Equal(png, await File.ReadAllBytesAsync(Path.Combine(environment.ProjectFolder, "from-data.png"), Ct));
        Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
        Assert.Contains("registered backend", (string?)(await ProjectEnvironment.ReadJsonAsync(refused))["detail"], StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(environment.ProjectFolder, "cat.png")));
        Assert.Equal(HttpStatusCode.UnprocessableEntity, badBase64.StatusCode);
        Assert.False(File.Exists(Path.Combine(environment.ProjectFolder, "bad.png")));
    }

    [Theory]
    [InlineData("Panel_01/Eliot_Panel01_v001.png", "image/png")]
    [InlineData("Panel_01/clip.mp4", "video/mp4")]
    [InlineData("Panel_01/take.mov", "video/quicktime")]
    public async Task ServeImageSendsTheRightMediaType(string relative, string contentType)
    {
        // Act
        using var response = await environment.Client.GetAsync(ServeUrl(relative), Ct);

        // Assert
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(contentType, response.Content.Headers.ContentType?.MediaType);
        Assert.Equal(await File.ReadAllBytesAsync(Path.Combine(environment.ProjectFolder, relative), Ct), await response.Content.ReadAsByteArrayAsync(Ct));
        Assert.NotNull(response.Headers.ETag);
        Assert.NotNull(response.Content.Headers.LastModified);
    }

    [Fact]
    public async Task ServeImageAnswersRangesWith206()
    {
        // Arrange
        using var request = new HttpRequestMessage(HttpMethod.Get, ServeUrl("Panel_01/clip.mp4"));
        request.Headers.Range = new RangeHeaderValue(100, 199);

        // Act
        using var response = await environment.Client.SendAsync(request, Ct);

        // Assert
        Assert.Equal(HttpStatusCode.PartialContent, response.StatusCode);
        Assert.Equal("bytes 100-199/4096", response.Content.Headers.ContentRange?.ToString());
        Assert.Equal(Enumerable.Range(100, 100).Select(i => (byte)i).ToArray(), await response.Content.ReadAsByteArrayAsync(Ct));
        Assert.Equal("bytes", Assert.Single(response.Headers.AcceptRanges));
    }

    [Fact]
    public async Task ServeImageAnswers304ForAKnownETag()
    {
        // Arrange
        using var first = await environment.Client.GetAsync(ServeUrl("Panel_02/Eliot_Panel02_v003.png"), Ct);
        using var request = new HttpRequestMessage(HttpMethod.Get, ServeUrl("Panel_02/Eliot_Panel02_v003.png"));
        request.Headers.IfNoneMatch.Add(first.Headers.ETag!);

        // Act
        using var response = await environment.Client.SendAsync(request, Ct);

        // Assert
        Assert.Equal(HttpStatusCode.NotModified, response.StatusCode);
        Assert.Empty(await response.Content.ReadAsByteArrayAsync(Ct));
    }

    [Fact]
    public async Task ServeImageRefusesFilesThatAreNotMediaAndReportsMissingOnes()
    {
        // Act
        using var notMedia = await environment.Client.GetAsync($"/api/serve-image?path={Uri.EscapeDataString(Path.Combine(environment.ProjectFolder, "project.json"))}", Ct);
        using var missing = await environment.Client.GetAsync(ServeUrl("Panel_01/none.png"), Ct);

        // Assert
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, notMedia.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
    }

    [Fact]
    public async Task PngMetadataReturnsThePromptAsJson()
    {
        // Arrange
        var file = Path.Combine(environment.ProjectFolder, "Panel_02", "meta.png");
        await File.WriteAllBytesAsync(file, TestPng.Create([
            TestPng.CompressedText("prompt", """{"3":{"class_type":"KSampler"}}"""),
            TestPng.InternationalText("workflow", """{"nodes":[]}""", compressed: true),
            TestPng.Text("parameters", "a cat, Steps: 20")]), Ct);

        // Act
        using var response = await environment.Client.GetAsync($"/api/png-metadata?path={Uri.EscapeDataString(file)}", Ct);

        // Assert
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await ProjectEnvironment.ReadJsonAsync(response);
        Assert.Equal("KSampler", (string?)body["prompt"]!["3"]!["class_type"]);
        Assert.Empty(body["workflow"]!["nodes"]!.AsArray());
        Assert.Equal("a cat, Steps: 20", (string?)body["parameters"]);
    }

    [Fact]
    public async Task ScanProjectImagesMatchesTheNamingPatternByPanelAndVersion()
    {
        // Act
        using var response = await environment.Client.PostAsJsonAsync("/api/scan-project-images", new { path = environment.ProjectFolder }, Ct);
        using var original = await environment.Client.PostAsJsonAsync("/api/scan-project-images",
            new { folder_path = environment.ProjectFolder, naming_pattern = "{project}_Panel{panel}_{version}", project_name = "Eliot" }, Ct);

        // Assert
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var images = (await ProjectEnvironment.ReadJsonAsync(response))["images"]!.AsArray();
        Assert.Equal(["Eliot_Panel01_v001.png", "Eliot_Panel01_v002.png", "Eliot_Panel02_v003.png"], images.Select(i => (string?)i!["filename"]));
        Assert.Equal([1, 1, 2], images.Select(i => (int)i!["panel_number"]!));
        Assert.Equal([1, 2, 3], images.Select(i => (int)i!["version"]!));
        Assert.Equal(3, (int)(await ProjectEnvironment.ReadJsonAsync(original))["total"]!);
    }

    [Fact]
    public async Task ScanProjectPanelsListsVisiblePanelsWithTheirMediaOldestFirst()
    {
        // Act
        using var response = await environment.Client.PostAsJsonAsync("/api/scan-project-panels", new { project_path = environment.ProjectFolder }, Ct);

        // Assert
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await ProjectEnvironment.ReadJsonAsync(response);
        var panels = body["panels"]!.AsArray().Select(p => (string?)p!["panel_name"]).ToList();
        Assert.Contains("Panel_01", panels);
        Assert.DoesNotContain(".hidden", panels);
        Assert.DoesNotContain("escape", panels);
        var panel1 = body["panels"]!.AsArray().Single(p => (string?)p!["panel_name"] == "Panel_01")!["images"]!.AsArray();
        Assert.DoesNotContain(panel1, i => (string?)i!["filename"] == "link.png");
        Assert.Contains(panel1, i => (string?)i!["filename"] == "clip.mp4" && (string?)i["type"] == "video");
    }

    [Fact]
    public async Task ScanVersionsFindsTheHighestVersionOfEachPanel()
    {
        // Act
        using var viaGet = await environment.Client.GetAsync($"/api/scan-versions?folderPath={Uri.EscapeDataString(environment.ProjectFolder)}", Ct);
        using var viaPost = await environment.Client.PostAsJsonAsync("/api/scan-versions", new { folder_path = environment.ProjectFolder, pattern = "{project}_Panel{panel}_{version}" }, Ct);

        // Assert
        Assert.Equal(HttpStatusCode.OK, viaGet.StatusCode);
        var versions = (await ProjectEnvironment.ReadJsonAsync(viaGet))["panel_versions"]!;
        Assert.Equal("002", (string?)versions["Panel_01"]);
        Assert.Equal("003", (string?)versions["Panel_02"]);
        Assert.Equal("002", (string?)(await ProjectEnvironment.ReadJsonAsync(viaPost))["panel_versions"]!["Panel_01"]);
    }

    [Fact]
    public async Task CreateFolderCreatesOneFolderAndRefusesADuplicate()
    {
        // Act
        using var created = await environment.Client.PostAsJsonAsync("/api/create-folder", new { parentPath = environment.ProjectFolder, folderName = "Panel_09" }, Ct);
        using var duplicate = await environment.Client.PostAsJsonAsync("/api/create-folder", new { parent_path = environment.ProjectFolder, folder_name = "Panel_09" }, Ct);

        // Assert
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        Assert.True(Directory.Exists(Path.Combine(environment.ProjectFolder, "Panel_09")));
        Assert.Equal(HttpStatusCode.Conflict, duplicate.StatusCode);
    }

    [Fact]
    public async Task DeleteImageRemovesTheFileAndItsSidecar()
    {
        // Arrange
        var image = Path.Combine(environment.ProjectFolder, "Panel_02", "doomed.png");
        await File.WriteAllBytesAsync(image, TestPng.WithPrompt("x"), Ct);
        await File.WriteAllTextAsync(Path.ChangeExtension(image, ".json"), "{}", Ct);
        using var request = new HttpRequestMessage(HttpMethod.Delete, "/api/delete-image") { Content = JsonContent.Create(new { image_path = image }) };

        // Act
        using var response = await environment.Client.SendAsync(request, Ct);
        using var again = await environment.Client.DeleteAsync($"/api/delete-image?path={Uri.EscapeDataString(image)}", Ct);

        // Assert
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(2, (await ProjectEnvironment.ReadJsonAsync(response))["deleted_files"]!.AsArray().Count);
        Assert.False(File.Exists(image));
        Assert.False(File.Exists(Path.ChangeExtension(image, ".json")));
        Assert.Equal(HttpStatusCode.NotFound, again.StatusCode);
    }

    [Fact]
    public async Task BrowseFoldersListsRootsThenVisibleFolders()
    {
        // Act
        using var roots = await environment.Client.GetAsync("/api/browse-folders", Ct);
        using var folder = await environment.Client.GetAsync($"/api/browse-folders?path={Uri.EscapeDataString(environment.ProjectFolder)}&show_files=.json", Ct);

        // Assert
        Assert.Equal(HttpStatusCode.OK, roots.StatusCode);
        // The current project lies inside the root, so it is not listed as a root of its own.
        Assert.Equal([environment.Root], (await ProjectEnvironment.ReadJsonAsync(roots))["items"]!.AsArray().Select(i => (string?)i!["path"]));
        var body = await ProjectEnvironment.ReadJsonAsync(folder);
        var items = body["items"]!.AsArray();
        Assert.Contains(items, i => (string?)i!["name"] == "Panel_01" && (string?)i["type"] == "folder");
        Assert.Contains(items, i => (string?)i!["name"] == "project.json" && (string?)i["type"] == "file");
        Assert.DoesNotContain(items, i => (string?)i!["name"] is ".hidden" or "escape");
        Assert.Equal(environment.Root, (string?)body["parent"]);
    }

    [Fact]
    public async Task ProjectEndpointsAppearInTheOpenApiDocument()
    {
        // Act
        using var response = await environment.Client.GetAsync("/openapi/v1.json", Ct);

        // Assert
        var paths = (await ProjectEnvironment.ReadJsonAsync(response))["paths"]!.AsObject();
        foreach (var path in new[] { "/api/project", "/api/save-project", "/api/load-project", "/api/list-projects", "/api/scan-project-images",
                     "/api/scan-project-panels", "/api/scan-folder-images", "/api/scan-versions", "/api/serve-image", "/api/delete-image",
                     "/api/create-folder", "/api/browse-folders", "/api/png-metadata", "/api/save-image", "/api/save-base64-image" })
        {
            Assert.True(paths.ContainsKey(path), $"{path} is missing from the OpenAPI document");
        }

        Assert.Equal("Project Management", (string?)paths["/api/save-project"]!["post"]!["tags"]![0]);
        var unprocessable = paths["/api/create-folder"]!["post"]!["responses"]!["422"]!["content"]!;
        Assert.Equal("#/components/schemas/ValidationErrorResponse", (string?)unprocessable["application/json"]?["schema"]?["$ref"]);
    }

    private string ServeUrl(string relative) => $"/api/serve-image?path={Uri.EscapeDataString(Path.Combine(environment.ProjectFolder, relative))}";
}
