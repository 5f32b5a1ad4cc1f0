using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using DirectorsConsole.GalleryService.Tests.Project;
using DirectorsConsole.Testing;
using Xunit;

namespace DirectorsConsole.GalleryService.Tests.Contract;

/// <summary>
/// Every call the original Director's Console web app makes to the project, file and image endpoints, sent exactly as
/// the app sends it (snake_case bodies, forward-slash paths), with each field the app reads checked for its name and
/// JSON kind, and for its unit where the app computes with it. The inventory is docs/frontend-contract.md,
/// "Projects, files and images".
/// </summary>
public sealed class ProjectContractTests(BackendEnvironment environment) : IClassFixture<BackendEnvironment>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private HttpClient Client => environment.Client;

    // The app normalises Windows separators to '/' before it sends a path.
    private static string AppPath(string path) => path.Replace('\\', '/');

    [Fact]
    public async Task SetProjectAsTheProjectManagerSyncsIt()
    {
        // Act
        using var response = await Client.PostAsJsonAsync("/api/project", new
        {
            project = new
            {
                name = "Eliot",
                path = AppPath(environment.ProjectFolder),
                naming_template = "{project}_Panel{panel}_{version}",
                orchestrator_url = "http://localhost:9820",
                auto_save = true,
            },
        }, Ct);

        // Assert
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await ReadAsync(response);
        Field(JsonValueKind.True, body, "success");
        Field(JsonValueKind.String, body, "message");
    }

    [Fact]
    public async Task SaveProjectAnswersSuccessAndTheSavedPath()
    {
        // Arrange
        var state = AppProjectState("Contract Save");

        // Act
        using var response = await Client.PostAsJsonAsync("/api/save-project", new
        {
            folder_path = AppPath(environment.ProjectFolder),
            filename = "Contract_Save_project.json",
            state,
        }, Ct);

        // Assert
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await ReadAsync(response);
        Field(JsonValueKind.True, body, "success");
        Field(JsonValueKind.String, body, "saved_path");
        Field(JsonValueKind.String, body, "message");
        var file = Path.Combine(environment.ProjectFolder, "Contract_Save_project.json");
        Assert.Equal(file, (string?)body["saved_path"]);
        Assert.Equal("Contract Save", (string?)JsonNode.Parse(await File.ReadAllTextAsync(file, Ct))!["project_settings"]!["name"]);
    }

    [Fact]
    public async Task SaveProjectCreatesAProjectFolderNotMadeYetInsideTheRoot()
    {
        // Arrange
        var folder = Path.Combine(environment.Root, "Contract_NewFilm", "renders");

        // Act
        using var response = await Client.PostAsJsonAsync("/api/save-project", new
        {
            folder_path = AppPath(folder),
            filename = "New_Film_project.json",
            state = AppProjectState("New Film"),
        }, Ct);

        // Assert
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Field(JsonValueKind.True, (await ReadAsync(response)), "success");
        Assert.True(File.Exists(Path.Combine(folder, "New_Film_project.json")));
    }

    [Fact]
    public async Task LoadProjectAnswersSuccessAndTheStateAsSaved()
    {
        // Arrange
        var file = Path.Combine(environment.ProjectFolder, "Contract_Load_project.json");
        await File.WriteAllTextAsync(file, AppProjectState("Contract Load").ToJsonString(), Ct);

        // Act
        using var response = await Client.PostAsJsonAsync("/api/load-project", new { file_path = AppPath(file) }, Ct);

        // Assert
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await ReadAsync(response);
        Field(JsonValueKind.True, body, "success");
        Field(JsonValueKind.String, body, "message");
        Field(JsonValueKind.Object, body, "state");
        var state = body["state"]!;
        Field(JsonValueKind.Object, state, "project_settings");
        Assert.Equal("Contract Load", (string?)state["project_settings"]!["name"]);
        Field(JsonValueKind.String, state["project_settings"]!, "orchestratorUrl");
        Field(JsonValueKind.String, state["project_settings"]!, "created");
        Field(JsonValueKind.String, state["project_settings"]!, "lastModified");
        Field(JsonValueKind.Array, state, "panels");
        Assert.Equal("Panel_01", (string?)state["panels"]![0]!["name"]);
        Field(JsonValueKind.Array, state, "deleted_images");
        Field(JsonValueKind.Null, state, "parameter_values");
        Field(JsonValueKind.String, state, "saved_at");
    }

    [Fact]
    public async Task LoadProjectOfAMissingFileIsNotFoundWithSuccessFalseAndAMessage()
    {
        // Act
        using var response = await Client.PostAsJsonAsync("/api/load-project",
            new { file_path = AppPath(Path.Combine(environment.ProjectFolder, "Nobody_project.json")) }, Ct);

        // Assert
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        var body = await ReadAsync(response);
        Field(JsonValueKind.False, body, "success");
        Field(JsonValueKind.String, body, "message");
        Assert.Equal((string?)body["detail"], (string?)body["message"]);
    }

    [Fact]
    public async Task ListProjectsAnswersTheOriginalsProjectFields()
    {
        // Act
        using var response = await Client.GetAsync($"/api/list-projects?folder_path={Uri.EscapeDataString(AppPath(environment.ProjectFolder))}", Ct);
        using var notMadeYet = await Client.GetAsync(
            $"/api/list-projects?folder_path={Uri.EscapeDataString(AppPath(Path.Combine(environment.Root, "Contract_Nothing")))}", Ct);

        // Assert
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await ReadAsync(response);
        Field(JsonValueKind.True, body, "success");
        Field(JsonValueKind.String, body, "message");
        Field(JsonValueKind.Array, body, "projects");
        var project = body["projects"]!.AsArray().Single(p => (string?)p!["path"] == Path.Combine(environment.ProjectFolder, "project.json"))!;
        Field(JsonValueKind.String, project, "name");
        Field(JsonValueKind.String, project, "saved_at");
        Assert.True(DateTimeOffset.TryParse((string)project["saved_at"]!, System.Globalization.CultureInfo.InvariantCulture, out _));
        Field(JsonValueKind.Number, project, "panel_count");
        Assert.Equal(2, (int)project["panel_count"]!);
        Assert.Equal(HttpStatusCode.OK, notMadeYet.StatusCode);
        var empty = await ReadAsync(notMadeYet);
        Field(JsonValueKind.True, empty, "success");
        Assert.Empty(empty["projects"]!.AsArray());
    }

    [Fact]
    public async Task BrowseFoldersWithAnEmptyPathListsTheRootsAsDrives()
    {
        // Act: the file browser's first request, and the folder browser's.
        using var response = await Client.GetAsync("/api/browse-folders?path=", Ct);

        // Assert
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await ReadAsync(response);
        Field(JsonValueKind.True, body, "success");
        Field(JsonValueKind.String, body, "current");
        Assert.Equal("", (string?)body["current"]);
        Field(JsonValueKind.Null, body, "parent");
        var drive = Assert.Single(body["items"]!.AsArray())!;
        Field(JsonValueKind.String, drive, "name");
        Assert.Equal(environment.Root, (string?)drive["path"]);
        Assert.Equal("drive", (string?)drive["type"]);
    }

    [Fact]
    public async Task BrowseFoldersOfAFolderAnswersCurrentParentAndItems()
    {
        // Act: open mode asks for project files too; the tree asks without them.
        using var withFiles = await Client.GetAsync(
            $"/api/browse-folders?path={Uri.EscapeDataString(AppPath(environment.ProjectFolder))}&show_files=.json", Ct);
        using var foldersOnly = await Client.GetAsync($"/api/browse-folders?path={Uri.EscapeDataString(AppPath(environment.ProjectFolder))}", Ct);

        // Assert
        Assert.Equal(HttpStatusCode.OK, withFiles.StatusCode);
        var body = await ReadAsync(withFiles);
        Field(JsonValueKind.True, body, "success");
        Assert.Equal(environment.ProjectFolder, (string?)body["current"]);
        Field(JsonValueKind.String, body, "parent");
        Assert.Equal(environment.Root, (string?)body["parent"]);
        var items = body["items"]!.AsArray();
        foreach (var item in items)
        {
            Field(JsonValueKind.String, item!, "name");
            Field(JsonValueKind.String, item, "path");
            Field(JsonValueKind.String, item, "type");
        }

        Assert.Contains(items, i => (string?)i!["name"] == "Panel_01" && (string?)i["type"] == "folder");
        Assert.Contains(items, i => (string?)i!["name"] == "project.json" && (string?)i["type"] == "file");
        var treeItems = (await ReadAsync(foldersOnly))["items"]!.AsArray();
        Assert.All(treeItems, i => Assert.Equal("folder", (string?)i!["type"]));
    }

    [Fact]
    public async Task BrowseFoldersOfAMissingFolderIsNotOkWithSuccessFalse()
    {
        // Act: the project settings' Validate button.
        using var response = await Client.GetAsync(
            $"/api/browse-folders?path={Uri.EscapeDataString(AppPath(Path.Combine(environment.Root, "Contract_Missing")))}", Ct);

        // Assert
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        var body = await ReadAsync(response);
        Field(JsonValueKind.False, body, "success");
        Field(JsonValueKind.String, body, "message");
    }

    [Fact]
    public async Task CreateFolderAnswersSuccessAndTheCreatedPath()
    {
        // Act
        using var response = await Client.PostAsJsonAsync("/api/create-folder",
            new { parent_path = AppPath(environment.ProjectFolder), folder_name = "Contract_Created" }, Ct);

        // Assert
        Assert.True(response.IsSuccessStatusCode, response.StatusCode.ToString());
        var body = await ReadAsync(response);
        Field(JsonValueKind.True, body, "success");
        Field(JsonValueKind.String, body, "message");
        Field(JsonValueKind.String, body, "created_path");
        Assert.Equal(Path.Combine(environment.ProjectFolder, "Contract_Created"), (string?)body["created_path"]);
        Assert.True(Directory.Exists((string?)body["created_path"]));
        // The file browser's New Folder reads folder_path, which the original never sent either.
        Assert.Null(body["folder_path"]);
    }

    [Fact]
    public async Task ScanVersionsAnswersThreeDigitVersionsByPanelFolder()
    {
        // Act
        using var response = await Client.PostAsJsonAsync("/api/scan-versions",
            new { folder_path = environment.ProjectFolder, pattern = "{project}_Panel{panel}_{version}" }, Ct);
        using var notMadeYet = await Client.PostAsJsonAsync("/api/scan-versions",
            new { folder_path = Path.Combine(environment.Root, "Contract_NoRendersYet"), pattern = "{project}_Panel{panel}_{version}" }, Ct);

        // Assert
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await ReadAsync(response);
        Field(JsonValueKind.True, body, "success");
        Field(JsonValueKind.String, body, "message");
        Field(JsonValueKind.Object, body, "panel_versions");
        Field(JsonValueKind.String, body["panel_versions"]!, "Panel_01");
        Assert.Equal("002", (string?)body["panel_versions"]!["Panel_01"]);
        Assert.Equal(HttpStatusCode.OK, notMadeYet.StatusCode);
        var empty = await ReadAsync(notMadeYet);
        Field(JsonValueKind.True, empty, "success");
        Assert.Empty(empty["panel_versions"]!.AsObject());
    }

    [Fact]
    public async Task SaveImageOfTheFirstRenderOfANewPanelCreatesItsFolder()
    {
        // Arrange: the app saves into {project}/{panel name}, a folder nobody made yet.
        var panelFolder = Path.Combine(environment.ProjectFolder, "Contract_Panel_07");
        var url = $"http://127.0.0.1:{environment.BackendPort}/view?filename=ComfyUI_00001_.png&subfolder=&type=output";

        // Act
        using var response = await Client.PostAsJsonAsync("/api/save-image",
            new { image_url = url, folder_path = AppPath(panelFolder), filename = "Eliot_PanelContract_Panel_07_v001.png" }, Ct);

        // Assert
        Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync(Ct));
        var body = await ReadAsync(response);
        Field(JsonValueKind.True, body, "success");
        Field(JsonValueKind.String, body, "saved_path");
        Field(JsonValueKind.String, body, "message");
        var saved = Path.Combine(panelFolder, "Eliot_PanelContract_Panel_07_v001.png");
        Assert.Equal(saved, (string?)body["saved_path"]);
        Assert.Equal(BackendEnvironment.Render, await File.ReadAllBytesAsync(saved, Ct));
    }

    [Fact]
    public async Task SaveBase64ImageIntoAFolderNotMadeYetAnswersTheSavedPath()
    {
        // Arrange
        var png = TestPng.WithPrompt("reference");
        var folder = Path.Combine(environment.ProjectFolder, "Contract_References", "Panel_01");

        // Act
        using var response = await Client.PostAsJsonAsync("/api/save-base64-image", new
        {
            data_url = "data:image/png;base64," + Convert.ToBase64String(png),
            folder_path = AppPath(folder),
            filename = "reference_image.png",
        }, Ct);

        // Assert
        Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync(Ct));
        var body = await ReadAsync(response);
        Field(JsonValueKind.True, body, "success");
        Field(JsonValueKind.String, body, "saved_path");
        Field(JsonValueKind.String, body, "message");
        Assert.Equal(png, await File.ReadAllBytesAsync(Path.Combine(folder, "reference_image.png"), Ct));
    }

    [Fact]
    public async Task ScanProjectImagesAnswersPanelNumberVersionAndMetadata()
    {
        // Arrange
        await File.WriteAllTextAsync(Path.Combine(environment.ProjectFolder, "Panel_01", "Eliot_Panel01_v002.json"), """{"savedPath":"x","seed":7}""", Ct);

        // Act
        using var response = await Client.PostAsJsonAsync("/api/scan-project-images", new
        {
            folder_path = AppPath(environment.ProjectFolder),
            naming_pattern = "{project}_Panel{panel}_{version}",
            project_name = "Eliot",
        }, Ct);

        // Assert
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await ReadAsync(response);
        Field(JsonValueKind.True, body, "success");
        Field(JsonValueKind.String, body, "message");
        Field(JsonValueKind.Array, body, "skipped_files");
        var images = body["images"]!.AsArray();
        Assert.NotEmpty(images);
        foreach (var image in images)
        {
            Field(JsonValueKind.Number, image!, "panel_number");
            Field(JsonValueKind.Number, image, "version");
            Field(JsonValueKind.String, image, "image_path");
            Field(JsonValueKind.String, image, "filename");
            Field(JsonValueKind.Object, image, "metadata");
        }

        var second = images.Single(i => (string?)i!["filename"] == "Eliot_Panel01_v002.png")!;
        Assert.Equal(1, (int)second["panel_number"]!);
        Assert.Equal(2, (int)second["version"]!);
        Assert.Equal(7, (int)second["metadata"]!["seed"]!);
    }

    [Fact]
    public async Task TheAppsEndpointProbesAreNeither404Nor405()
    {
        // Act: the storyboard checks, with placeholder bodies, that these routes exist.
        using var scan = await Client.PostAsJsonAsync("/api/scan-project-images", new { folder_path = "", naming_pattern = "", project_name = "" }, Ct);
        using var serve = await Client.GetAsync("/api/serve-image", Ct);
        using var deleteRequest = new HttpRequestMessage(HttpMethod.Delete, "/api/delete-image") { Content = JsonContent.Create(new { file_path = "" }) };
        using var delete = await Client.SendAsync(deleteRequest, Ct);

        // Assert
        foreach (var response in new[] { scan, serve, delete })
        {
            Assert.NotEqual(HttpStatusCode.NotFound, response.StatusCode);
            Assert.NotEqual(HttpStatusCode.MethodNotAllowed, response.StatusCode);
            Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
            var body = await ReadAsync(response);
            Field(JsonValueKind.Array, body, "detail");
            Field(JsonValueKind.False, body, "success");
            Field(JsonValueKind.String, body, "message");
        }
    }

    [Fact]
    public async Task ScanProjectPanelsAnswersPanelsWithModifiedTimesInEpochSeconds()
    {
        // Arrange
        var file = Path.Combine(environment.ProjectFolder, "Panel_02", "Eliot_Panel02_v003.png");
        var expected = (File.GetLastWriteTimeUtc(file) - DateTime.UnixEpoch).TotalSeconds;

        // Act
        using var response = await Client.PostAsJsonAsync("/api/scan-project-panels", new { project_path = AppPath(environment.ProjectFolder) }, Ct);

        // Assert
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await ReadAsync(response);
        Field(JsonValueKind.True, body, "success");
        Field(JsonValueKind.String, body, "message");
        Field(JsonValueKind.Number, body, "total_panels");
        Field(JsonValueKind.Number, body, "total_images");
        foreach (var panel in body["panels"]!.AsArray().Select(panel => panel!))
        {
            Field(JsonValueKind.String, panel, "panel_name");
            Field(JsonValueKind.String, panel, "folder_path");
            foreach (var image in panel["images"]!.AsArray())
            {
                Field(JsonValueKind.String, image!, "filename");
                Field(JsonValueKind.String, image, "image_path");
                Field(JsonValueKind.Number, image, "modified_time");
            }
        }

        var panel2 = body["panels"]!.AsArray().Single(p => (string?)p!["panel_name"] == "Panel_02")!;
        var image2 = panel2["images"]!.AsArray().Single(i => (string?)i!["image_path"] == file)!;
        Assert.Equal(expected, (double)image2["modified_time"]!, 0.001);
    }

    [Fact]
    public async Task ScanFolderImagesAnswersImagesWithModifiedTimesInEpochSeconds()
    {
        // Act: the folder import dialog.
        using var response = await Client.PostAsJsonAsync("/api/scan-folder-images",
            new { folder_path = AppPath(Path.Combine(environment.ProjectFolder, "Panel_01")) }, Ct);

        // Assert
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await ReadAsync(response);
        Field(JsonValueKind.True, body, "success");
        Field(JsonValueKind.Number, body, "total");
        var images = body["images"]!.AsArray();
        Assert.NotEmpty(images);
        foreach (var image in images.Select(image => image!))
        {
            Field(JsonValueKind.String, image, "filename");
            Field(JsonValueKind.String, image, "image_path");
            Field(JsonValueKind.Number, image, "modified_time");
            var expected = (File.GetLastWriteTimeUtc((string)image["image_path"]!) - DateTime.UnixEpoch).TotalSeconds;
            Assert.Equal(expected, (double)image["modified_time"]!, 0.001);
        }
    }

    [Fact]
    public async Task DeleteImageAnswersSuccessAndTheDeletedFilesAndFailsWithSuccessFalse()
    {
        // Arrange
        var image = Path.Combine(environment.ProjectFolder, "Panel_02", "Contract_doomed.png");
        await File.WriteAllBytesAsync(image, TestPng.WithPrompt("doomed"), Ct);

        // Act: the app reads the body whatever the status.
        using var deleted = await DeleteAsync(image);
        using var again = await DeleteAsync(image);

        // Assert
        var body = await ReadAsync(deleted);
        Field(JsonValueKind.True, body, "success");
        Field(JsonValueKind.String, body, "message");
        Kind(JsonValueKind.String, Assert.Single(body["deleted_files"]!.AsArray()));
        Assert.False(File.Exists(image));
        Assert.Equal(HttpStatusCode.NotFound, again.StatusCode);
        var failure = await ReadAsync(again);
        Field(JsonValueKind.False, failure, "success");
        Field(JsonValueKind.String, failure, "message");
    }

    [Fact]
    public async Task PngMetadataAnswersThePromptAndWorkflowAsObjects()
    {
        // Arrange
        var file = Path.Combine(environment.ProjectFolder, "Panel_02", "Contract_meta.png");
        await File.WriteAllBytesAsync(file, TestPng.Create([
            TestPng.Text("prompt", """{"3":{"class_type":"KSampler","inputs":{"seed":5}}}"""),
            TestPng.Text("workflow", """{"name":"flux","nodes":[]}"""),
            TestPng.Text("parameters", "a cat, Steps: 20")]), Ct);

        // Act
        using var response = await Client.GetAsync($"/api/png-metadata?path={Uri.EscapeDataString(AppPath(file))}", Ct);
        using var missing = await Client.GetAsync(
            $"/api/png-metadata?path={Uri.EscapeDataString(AppPath(Path.Combine(environment.ProjectFolder, "Panel_02", "none.png")))}", Ct);

        // Assert
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await ReadAsync(response);
        Field(JsonValueKind.True, body, "success");
        Field(JsonValueKind.Object, body, "prompt");
        Assert.Equal(5, (int)body["prompt"]!["3"]!["inputs"]!["seed"]!);
        Field(JsonValueKind.Object, body, "workflow");
        Field(JsonValueKind.String, body, "parameters");
        var failure = await ReadAsync(missing);
        Field(JsonValueKind.False, failure, "success");
        Field(JsonValueKind.String, failure, "message");
    }

    [Fact]
    public async Task ServeImageAnswersHeadWithTheHeadersOfGetAndNoBody()
    {
        // Arrange
        var file = Path.Combine(environment.ProjectFolder, "Panel_01", "Eliot_Panel01_v001.png");
        var url = $"/api/serve-image?path={Uri.EscapeDataString(AppPath(file))}";

        // Act: the viewer asks for the size with HEAD, then shows the image with GET.
        using var head = await Client.SendAsync(new HttpRequestMessage(HttpMethod.Head, url), Ct);
        using var get = await Client.GetAsync(url, Ct);

        // Assert
        Assert.Equal(HttpStatusCode.OK, head.StatusCode);
        Assert.Equal(new FileInfo(file).Length, head.Content.Headers.ContentLength);
        Assert.Empty(await head.Content.ReadAsByteArrayAsync(Ct));
        Assert.Equal(HttpStatusCode.OK, get.StatusCode);
        Assert.Equal(get.Content.Headers.ContentType?.MediaType, head.Content.Headers.ContentType?.MediaType);
        Assert.Equal("image/png", head.Content.Headers.ContentType?.MediaType);
        Assert.Equal(get.Headers.ETag, head.Headers.ETag);
        Assert.Equal(get.Content.Headers.LastModified, head.Content.Headers.LastModified);
        Assert.Equal(await File.ReadAllBytesAsync(file, Ct), await get.Content.ReadAsByteArrayAsync(Ct));
    }

    private async Task<HttpResponseMessage> DeleteAsync(string image)
    {
        using var request = new HttpRequestMessage(HttpMethod.Delete, "/api/delete-image") { Content = JsonContent.Create(new { image_path = AppPath(image) }) };
        return await Client.SendAsync(request, Ct);
    }

    // What saveProjectState sends: settings in the app's own camelCase, panels without images, the rest snake_case.
    private static JsonObject AppProjectState(string name) => new()
    {
        ["project_settings"] = new JsonObject
        {
            ["name"] = name,
            ["path"] = "/projects/film",
            ["namingTemplate"] = "{project}_Panel{panel}_{version}",
            ["autoSave"] = true,
            ["orchestratorUrl"] = "http://localhost:9820",
            ["created"] = "2026-12-01T09:00:00.000Z",
            ["lastModified"] = "2026-12-05T10:00:00.000Z",
        },
        ["panels"] = new JsonArray(new JsonObject
        {
            ["id"] = 1, ["x"] = 0, ["y"] = 0, ["width"] = 300, ["height"] = 300, ["name"] = "Panel_01", ["notes"] = "",
            ["imageRatings"] = new JsonObject(),
        }),
        ["parameter_values"] = null,
        ["selected_workflow_id"] = null,
        ["render_nodes"] = null,
        ["comfy_url"] = null,
        ["deleted_images"] = new JsonArray(),
        ["saved_at"] = "2026-12-05T10:00:00.000Z",
    };

    private static async Task<JsonNode> ReadAsync(HttpResponseMessage response) =>
        JsonNode.Parse(await response.Content.ReadAsStringAsync(Ct)) ?? throw new InvalidOperationException("The body is JSON null.");

    /// <summary>The field <paramref name="name"/> is present in <paramref name="owner"/> with the JSON kind the app
    /// expects (a JSON null is present too: JavaScript tells null from undefined).</summary>
    private static void Field(JsonValueKind expected, JsonNode? owner, string name)
    {
        var fields = Assert.IsType<JsonObject>(owner);
        Assert.True(fields.ContainsKey(name), $"'{name}' is missing from {fields.ToJsonString()}");
        Kind(expected, fields[name]);
    }

    private static void Kind(JsonValueKind expected, JsonNode? node) =>
        Assert.Equal(expected, node?.GetValueKind() ?? JsonValueKind.Null);
}
