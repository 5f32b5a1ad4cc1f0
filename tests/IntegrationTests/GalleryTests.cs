using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using DirectorsConsole.Testing;

namespace DirectorsConsole.IntegrationTests;

/// <summary>
/// The gallery as a client uses it, through the Gateway only: a project folder made in the default root
/// (<c>{data_dir}/projects</c>, created by GalleryService at start), outputs saved into it, then browsed, rated,
/// tagged, renamed, trashed and restored, searched, de-duplicated and served. Each test works in its own project
/// folder and sets it as the current project first.
/// </summary>
[Collection(nameof(SuiteCollection))]
public sealed class GalleryTests(RunningSuiteFixture fixture)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private SuiteApp Suite => fixture.Suite;

    private HttpClient Gateway => Suite.Gateway;

    [Fact]
    public async Task TheDefaultRootIsTheDataDirectorysProjectsFolder()
    {
        // Act
        var roots = await GetJsonAsync("/api/browse-folders");

        // Assert
        var root = Assert.Single(roots["items"]!.AsArray())!;
        Assert.Equal("drive", (string?)root["type"]);
        Assert.Equal(Path.Combine(Suite.WorkingDirectory, "data", "projects"), (string?)root["path"]);
        Assert.True(Directory.Exists((string?)root["path"]));
    }

    [Fact]
    public async Task SavedOutputsAreServedWithTheirMediaTypeAndVideosSeek()
    {
        // Arrange
        var project = await CreateProjectAsync("Saving");
        var png = ComfyPng("a lighthouse at dusk, volumetric fog");
        var video = Enumerable.Range(0, 4096).Select(i => (byte)(i * 7)).ToArray();
        var backend = await FirstOnlineBackendAsync();
        var render = await RenderOnEmulatorAsync(backend);
        var viewUrl = $"/api/backends/{Uri.EscapeDataString((string)backend["id"]!)}/view?filename={Uri.EscapeDataString(render.Filename)}"
            + $"&subfolder={Uri.EscapeDataString(render.Subfolder)}&type={Uri.EscapeDataString(render.Type)}";

        // Act
        var saved = await SaveBase64Async(project, "Panel_01/lighthouse.png", png);
        using var fromBackend = await Gateway.PostAsJsonAsync("/api/save-image",
            new { imageUrl = viewUrl, folderPath = project, filename = "Panel_01/render.png" }, Ct);
        var backendBytes = await Gateway.GetByteArrayAsync(viewUrl, Ct);
        // A clip copied onto the share by hand, as users do: the one file this test writes to disk itself.
        var clip = Path.Combine(project, "Panel_01", "clip.mp4");
        await File.WriteAllBytesAsync(clip, video, Ct);
        using var image = await Gateway.GetAsync(ServeUrl(saved), Ct);
        using var seek = new HttpRequestMessage(HttpMethod.Get, ServeUrl(clip));
        seek.Headers.Range = new RangeHeaderValue(100, 199);
        using var part = await Gateway.SendAsync(seek, Ct);
        var metadata = await GetJsonAsync("/api/png-metadata?path=" + Uri.EscapeDataString(saved));

        // Assert
        Assert.Equal(Path.Combine(project, "Panel_01", "lighthouse.png"), saved);
        Assert.Equal(png, await File.ReadAllBytesAsync(saved, Ct));
        Assert.Equal(HttpStatusCode.Created, fromBackend.StatusCode);
        var savedRender = await ReadJsonAsync(fromBackend);
        Assert.Equal(Path.Combine(project, "Panel_01", "render.png"), (string?)savedRender["path"]);
        Assert.Equal(backendBytes.Length, (long?)savedRender["size"]);
        Assert.Equal(backendBytes, await File.ReadAllBytesAsync(Path.Combine(project, "Panel_01", "render.png"), Ct));
        Assert.Equal(HttpStatusCode.OK, image.StatusCode);
        Assert.Equal("image/png", image.Content.Headers.ContentType?.MediaType);
        Assert.Equal(png, await image.Content.ReadAsByteArrayAsync(Ct));
        Assert.Equal(HttpStatusCode.PartialContent, part.StatusCode);
        Assert.Equal("video/mp4", part.Content.Headers.ContentType?.MediaType);
        Assert.Equal("bytes 100-199/4096", part.Content.Headers.ContentRange?.ToString());
        Assert.Equal(video[100..200], await part.Content.ReadAsByteArrayAsync(Ct));
        Assert.Equal("a lighthouse at dusk, volumetric fog", (string?)metadata["prompt"]!["6"]!["inputs"]!["text"]);
    }

    [Fact]
    public async Task RatingsAndTagsFollowFilesThroughBatchRenameTrashAndRestore()
    {
        // Arrange
        var project = await CreateProjectAsync("Curation");
        await SaveBase64Async(project, "Panel_01/shot_a.png", ComfyPng("a knight in the rain"));
        await SaveBase64Async(project, "Panel_01/shot_b.png", ComfyPng("a castle on a cliff"));
        await SaveBase64Async(project, "Panel_01/shot_c.png", ComfyPng("a market at noon"));
        await SaveBase64Async(project, "Panel_02/wide.png", ComfyPng("a harbour from above"));
        var files = new[] { "Panel_01/shot_a.png", "Panel_01/shot_b.png", "Panel_01/shot_c.png" };

        // Act: browse
        var tree = await PostJsonAsync("/api/gallery/scan-tree", new { projectPath = project });
        var folder = await PostJsonAsync("/api/gallery/scan-folder", new { projectPath = project, folderPath = "Panel_01" });

        // Assert
        Assert.Equal(0, (int?)tree["file_count"]);
        Assert.Equal(2, (int?)tree["folder_count"]);
        Assert.Equal(["Panel_01:3", "Panel_02:1"], tree["tree"]!.AsArray().Select(node => $"{(string?)node!["name"]}:{(int?)node["file_count"]}").Order(StringComparer.Ordinal));
        Assert.Equal(3, (int?)folder["total"]);
        Assert.Equal(files, folder["files"]!.AsArray().Select(file => (string?)file!["rel_path"]));

        // Act: rate and tag
        await PostJsonAsync("/api/gallery/ratings", new { projectPath = project, filePath = "Panel_01/shot_a.png", rating = 5 });
        await PostJsonAsync("/api/gallery/ratings", new { projectPath = project, filePath = "Panel_01/shot_b.png", rating = 2 });
        using var created = await Gateway.PostAsJsonAsync("/api/gallery/tags", new { projectPath = project, name = "Hero shot", color = "#ff6b6b" }, Ct);
        var tagId = (int)(await ReadJsonAsync(created))["tag"]!["id"]!;
        var tagged = await PostJsonAsync("/api/gallery/file-tags", new { projectPath = project, filePath = "Panel_01/shot_a.png", addTags = new[] { tagId } });

        // Assert
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        Assert.Equal([tagId], tagged["tags"]!.AsArray().Select(tag => (int)tag!["id"]!));
        Assert.Equal(new Dictionary<string, int> { ["Panel_01/shot_a.png"] = 5, ["Panel_01/shot_b.png"] = 2 }, await RatingsAsync(project));

        // Act: batch rename, first as a preview
        var rename = new { projectPath = project, files, mode = "template", template = "Eliot_P{panel}_{original}", dryRun = true };
        var preview = await PostJsonAsync("/api/gallery/batch-rename", rename);
        var onDiskAfterPreview = NamesIn(project, "Panel_01");
        var renamed = await PostJsonAsync("/api/gallery/batch-rename", rename with { dryRun = false });

        // Assert
        Assert.True((bool)preview["dry_run"]!);
        Assert.Equal(0, (int?)preview["renamed"]);
        Assert.Equal(0, (int?)preview["conflicts"]);
        Assert.Equal(["Eliot_P01_shot_a.png", "Eliot_P01_shot_b.png", "Eliot_P01_shot_c.png"],
            preview["previews"]!.AsArray().Select(p => (string?)p!["new_name"]).Order(StringComparer.Ordinal));
        Assert.Equal(["shot_a.png", "shot_b.png", "shot_c.png"], onDiskAfterPreview);
        Assert.False((bool)renamed["dry_run"]!);
        Assert.Equal(3, (int?)renamed["renamed"]);
        Assert.Equal(["Eliot_P01_shot_a.png", "Eliot_P01_shot_b.png", "Eliot_P01_shot_c.png"], NamesIn(project, "Panel_01"));
        Assert.Equal(new Dictionary<string, int> { ["Panel_01/Eliot_P01_shot_a.png"] = 5, ["Panel_01/Eliot_P01_shot_b.png"] = 2 }, await RatingsAsync(project));
        var hero = await FileEntryAsync(project, "Panel_01/Eliot_P01_shot_a.png");
        Assert.Equal([tagId], hero["tags"]!.AsArray().Select(tag => (int)tag!["id"]!));
        Assert.Equal(5, (int?)hero["rating"]);

        // Act: trash the hero shot
        var trashed = await PostJsonAsync("/api/gallery/trash", new { projectPath = project, files = new[] { "Panel_01/Eliot_P01_shot_a.png" } });
        var trashId = (string)trashed["items"]![0]!["trash_id"]!;
        var ratingsWhileTrashed = await RatingsAsync(project);
        var trash = await GetJsonAsync("/api/gallery/trash?projectPath=" + Uri.EscapeDataString(project));
        var tagsWhileTrashed = await GetJsonAsync("/api/gallery/tags?projectPath=" + Uri.EscapeDataString(project));

        // Assert
        Assert.Equal("Panel_01/Eliot_P01_shot_a.png", (string?)trashed["items"]![0]!["original_path"]);
        Assert.False(File.Exists(Path.Combine(project, "Panel_01", "Eliot_P01_shot_a.png")));
        Assert.True(File.Exists(Path.Combine(project, ".gallery", ".trash", trashId, "Eliot_P01_shot_a.png")));
        Assert.Equal(new Dictionary<string, int> { ["Panel_01/Eliot_P01_shot_b.png"] = 2 }, ratingsWhileTrashed);
        var item = Assert.Single(trash["files"]!.AsArray())!;
        Assert.Equal(trashId, (string?)item["trash_id"]);
        Assert.Equal(5, (int?)item["rating"]);
        Assert.Equal([tagId], item["tags"]!.AsArray().Select(tag => (int)tag!["id"]!));
        Assert.Equal(0, (int?)tagsWhileTrashed["tags"]!.AsArray().Single(tag => (int)tag!["id"]! == tagId)!["file_count"]);

        // Act: restore it
        var restored = await PostJsonAsync("/api/gallery/restore", new { projectPath = project, trashIds = new[] { trashId } });
        var search = await PostJsonAsync("/api/gallery/search", new { projectPath = project, query = "knight" });

        // Assert
        Assert.Equal("Panel_01/Eliot_P01_shot_a.png", (string?)restored["items"]![0]!["rel_path"]);
        Assert.True(File.Exists(Path.Combine(project, "Panel_01", "Eliot_P01_shot_a.png")));
        Assert.False(Directory.Exists(Path.Combine(project, ".gallery", ".trash", trashId)));
        Assert.Equal(new Dictionary<string, int> { ["Panel_01/Eliot_P01_shot_a.png"] = 5, ["Panel_01/Eliot_P01_shot_b.png"] = 2 }, await RatingsAsync(project));
        var back = await FileEntryAsync(project, "Panel_01/Eliot_P01_shot_a.png");
        Assert.Equal([tagId], back["tags"]!.AsArray().Select(tag => (int)tag!["id"]!));
        Assert.Equal("Panel_01/Eliot_P01_shot_a.png", (string?)Assert.Single(search["results"]!.AsArray())!["rel_path"]);
    }

    [Fact]
    public async Task SearchFindsTheFileWhosePromptHoldsAWordAndDuplicatesReportTheCopy()
    {
        // Arrange
        var project = await CreateProjectAsync("Search");
        await SaveBase64Async(project, "Panel_01/coast.png", ComfyPng("a lighthouse at dusk"));
        var dragon = await SaveBase64Async(project, "Panel_01/dragon.png", ComfyPng("a dragon over the desert"));
        await SaveBase64Async(project, "Panel_02/sailor.png", ComfyPng("portrait of an old sailor"));
        // A duplicate made by hand on the share, as a user copying files onto the NAS would.
        File.Copy(dragon, Path.Combine(project, "Panel_02", "dragon copy.png"));

        // Act
        var search = await PostJsonAsync("/api/gallery/search", new { projectPath = project, query = "LIGHTHOUSE" });
        var nothing = await PostJsonAsync("/api/gallery/search", new { projectPath = project, query = "spaceship" });
        var duplicates = await PostJsonAsync("/api/gallery/find-duplicates", new { projectPath = project });

        // Assert
        var hit = Assert.Single(search["results"]!.AsArray())!;
        Assert.Equal("Panel_01/coast.png", (string?)hit["rel_path"]);
        Assert.Equal(Path.Combine(project, "Panel_01", "coast.png"), (string?)hit["file_path"]);
        Assert.Equal("prompt", (string?)hit["match_field"]);
        Assert.Contains("lighthouse", (string?)hit["match_context"], StringComparison.Ordinal);
        Assert.Equal(1, (int?)search["total"]);
        Assert.Equal(4, (int?)search["scanned"]);
        Assert.Empty(nothing["results"]!.AsArray());
        var group = Assert.Single(duplicates["groups"]!.AsArray())!;
        Assert.Equal(["Panel_01/dragon.png", "Panel_02/dragon copy.png"], group["files"]!.AsArray().Select(f => (string?)f!["rel_path"]).Order(StringComparer.Ordinal));
        Assert.Equal(new FileInfo(dragon).Length, (long?)group["size"]);
        Assert.Equal(1, (int?)duplicates["total_duplicates"]);
        Assert.Equal(new FileInfo(dragon).Length, (long?)duplicates["wasted_space"]);
    }

    /// <summary>Makes <paramref name="name"/> in the default root and makes it the current project.</summary>
    private async Task<string> CreateProjectAsync(string name)
    {
        var roots = await GetJsonAsync("/api/browse-folders");
        var root = (string)roots["items"]![0]!["path"]!;
        using var created = await Gateway.PostAsJsonAsync("/api/create-folder", new { parentPath = root, folderName = name }, Ct);
        Assert.True(created.StatusCode == HttpStatusCode.Created, await created.Content.ReadAsStringAsync(Ct));
        var folder = (string)(await ReadJsonAsync(created))["path"]!;
        var current = await PostJsonAsync("/api/project", new { path = folder, name });
        Assert.Equal(folder, (string?)current["project"]!["path"]);
        Assert.True(Directory.Exists(folder));
        return folder;
    }

    private async Task<string> SaveBase64Async(string project, string filename, byte[] png)
    {
        using var response = await Gateway.PostAsJsonAsync("/api/save-base64-image",
            new { dataUrl = "data:image/png;base64," + Convert.ToBase64String(png), folderPath = project, filename }, Ct);
        Assert.True(response.StatusCode == HttpStatusCode.Created, await response.Content.ReadAsStringAsync(Ct));
        return (string)(await ReadJsonAsync(response))["path"]!;
    }

    private async Task<Dictionary<string, int>> RatingsAsync(string project)
    {
        var body = await GetJsonAsync("/api/gallery/ratings?projectPath=" + Uri.EscapeDataString(project));
        return body["ratings"]!.AsObject().ToDictionary(pair => pair.Key, pair => (int)pair.Value!);
    }

    private async Task<JsonNode> FileEntryAsync(string project, string relPath)
    {
        var folder = await PostJsonAsync("/api/gallery/scan-folder", new { projectPath = project, folderPath = Path.GetDirectoryName(relPath) });
        return folder["files"]!.AsArray().Single(file => (string?)file!["rel_path"] == relPath)!;
    }

    private async Task<JsonObject> FirstOnlineBackendAsync()
    {
        var list = await Eventually.ReturnsAsync(() => GetJsonAsync("/api/backends"), body => (int?)body["online"] > 0, TimeSpan.FromSeconds(60));
        return list["backends"]!.AsArray().First(backend => (bool?)backend!["online"] == true)!.AsObject();
    }

    /// <summary>A real render output without JobService: an EmptyImage → SaveImage prompt posted straight to the
    /// emulated ComfyUI node at the host and port the backend list gives (the test machine reaches the nodes as
    /// the services do), then its <c>/history</c> polled for the saved file.</summary>
    private static async Task<(string Filename, string Subfolder, string Type)> RenderOnEmulatorAsync(JsonObject backend)
    {
        using var comfy = new HttpClient { BaseAddress = new Uri($"http://{(string?)backend["host"]}:{(int?)backend["port"]}"), Timeout = TimeSpan.FromSeconds(30) };
        var prompt = new JsonObject
        {
            ["1"] = new JsonObject { ["class_type"] = "EmptyImage", ["inputs"] = new JsonObject { ["width"] = 32, ["height"] = 16, ["batch_size"] = 1, ["color"] = 0x3366CC } },
            ["2"] = new JsonObject { ["class_type"] = "SaveImage", ["inputs"] = new JsonObject { ["images"] = new JsonArray("1", 0), ["filename_prefix"] = "gallery_e2e" } },
        };
        using var queued = await comfy.PostAsJsonAsync("/prompt", new JsonObject { ["prompt"] = prompt, ["client_id"] = "gallery-tests" }, Ct);
        Assert.True(queued.IsSuccessStatusCode, await queued.Content.ReadAsStringAsync(Ct));
        var promptId = (string)(await ReadJsonAsync(queued))["prompt_id"]!;
        var history = await Eventually.ReturnsAsync(
            async () => await comfy.GetFromJsonAsync<JsonObject>($"/history/{promptId}", Ct) ?? new JsonObject(),
            body => body[promptId]?["outputs"]?["2"] is not null,
            TimeSpan.FromSeconds(30));
        var output = history[promptId]!["outputs"]!["2"]!["images"]![0]!;
        return ((string)output["filename"]!, (string?)output["subfolder"] ?? "", (string?)output["type"] ?? "output");
    }

    /// <summary>A PNG as ComfyUI saves it: a <c>prompt</c> tEXt chunk with the API-format prompt, whose positive
    /// CLIPTextEncode holds <paramref name="text"/>.</summary>
    private static byte[] ComfyPng(string text)
    {
        var prompt = new JsonObject
        {
            ["4"] = new JsonObject { ["class_type"] = "CheckpointLoaderSimple", ["inputs"] = new JsonObject { ["ckpt_name"] = "sd_xl_base_1.0.safetensors" } },
            ["6"] = new JsonObject { ["class_type"] = "CLIPTextEncode", ["inputs"] = new JsonObject { ["text"] = text, ["clip"] = new JsonArray("4", 1) } },
            ["7"] = new JsonObject { ["class_type"] = "CLIPTextEncode", ["inputs"] = new JsonObject { ["text"] = "blurry, low quality", ["clip"] = new JsonArray("4", 1) } },
            ["3"] = new JsonObject
            {
                ["class_type"] = "KSampler",
                ["inputs"] = new JsonObject { ["seed"] = 1234, ["steps"] = 20, ["cfg"] = 7, ["model"] = new JsonArray("4", 0), ["positive"] = new JsonArray("6", 0), ["negative"] = new JsonArray("7", 0) },
            },
        };
        return TestPng.WithPrompt(prompt.ToJsonString());
    }

    private static string ServeUrl(string path) => "/api/serve-image?path=" + Uri.EscapeDataString(path);

    private static string[] NamesIn(string project, string folder) =>
        Directory.GetFiles(Path.Combine(project, folder)).Select(file => Path.GetFileName(file)).Order(StringComparer.Ordinal).ToArray();

    private async Task<JsonObject> GetJsonAsync(string url)
    {
        using var response = await Gateway.GetAsync(url, Ct);
        Assert.True(response.IsSuccessStatusCode, $"GET {url}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync(Ct)}");
        return await ReadJsonAsync(response);
    }

    private async Task<JsonObject> PostJsonAsync<T>(string url, T body)
    {
        using var response = await Gateway.PostAsJsonAsync(url, body, Ct);
        Assert.True(response.IsSuccessStatusCode, $"POST {url}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync(Ct)}");
        return await ReadJsonAsync(response);
    }

    private static async Task<JsonObject> ReadJsonAsync(HttpResponseMessage response) =>
        (await response.Content.ReadFromJsonAsync<JsonObject>(Ct))!;
}
