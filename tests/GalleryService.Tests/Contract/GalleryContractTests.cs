using System.Globalization;
using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using DirectorsConsole.GalleryService.Tests.Gallery;
using static DirectorsConsole.GalleryService.Tests.Gallery.GalleryClient;

namespace DirectorsConsole.GalleryService.Tests.Contract;

/// <summary>
/// Every /api/gallery call of the original Director's Console web app, sent as the app sends it (its snake_case
/// body or query, absolute paths as the app has them from earlier answers), with an assertion on every field the app
/// reads and its JSON kind. docs/frontend-contract.md ("Gallery") lists the calls these follow.
/// </summary>
public sealed class GalleryContractTests(GalleryFixture gallery) : IClassFixture<GalleryFixture>
{
    private HttpClient Client => gallery.Client;

    [Fact]
    public async Task ScanTreeGivesTheFlatFolderListTheFolderTreeAndMoveDialogIterate()
    {
        // Arrange
        var project = gallery.NewProject();
        Directory.CreateDirectory(project.PathOf("Panel_01/Takes/Old"));

        // Act: scanTree(orchestratorUrl, projectPath)
        var answer = await Client.GalleryPostAsync("scan-tree", new { folder_path = project.Folder });

        // Assert
        AssertOk(answer);
        var folders = ArrayOf(answer, "folders");
        Assert.All(folders, folder =>
        {
            AppReads(folder, ("name", JsonValueKind.String), ("path", JsonValueKind.String), ("rel_path", JsonValueKind.String),
                ("subfolders", JsonValueKind.Array), ("file_count", JsonValueKind.Number));
            Assert.All(folder["subfolders"]!.AsArray(), name => Assert.Equal(JsonValueKind.String, name!.GetValueKind()));
        });
        Assert.Equal([project.Folder, project.PathOf("Panel_01"), project.PathOf("Panel_01/Takes"), project.PathOf("Panel_01/Takes/Old"), project.PathOf("Panel_02")],
            folders.Select(folder => (string?)folder["path"]));
        Assert.Equal(".", (string?)folders[0]["rel_path"]);
        Assert.Equal(["Panel_01", "Panel_02"], folders[0]["subfolders"]!.AsArray().Select(name => (string?)name));
        Assert.Equal(4, (int)folders[1]["file_count"]!);
    }

    [Fact]
    public async Task ScanFolderGivesFileEntriesWithEpochTimesAndTagObjects()
    {
        // Arrange
        var project = gallery.NewProject();
        var tag = await Client.CreateTagAsync(project, "Hero");
        await Client.GalleryPostAsync("file-tags", new { project_path = project.Folder, file_path = "Panel_01/shot_a.png", tag_ids = new[] { tag }, action = "add" });
        await Client.GalleryPostAsync("ratings", new { project_path = project.Folder, ratings = new Dictionary<string, int> { ["Panel_01/shot_a.png"] = 4 } });

        // Act: scanFolder(orchestratorUrl, folderPath, projectPath)
        var answer = await Client.GalleryPostAsync("scan-folder", new { folder_path = project.PathOf("Panel_01"), project_path = project.Folder });

        // Assert
        AssertOk(answer);
        AppReads(answer.Body, ("folder_path", JsonValueKind.String));
        var files = ArrayOf(answer, "files");
        Assert.Equal(4, files.Count);
        Assert.All(files, AssertFileEntry);
        var shot = files.Single(file => (string?)file["name"] == "shot_a.png");
        Assert.Equal(project.PathOf("Panel_01/shot_a.png"), (string?)shot["path"]);
        Assert.Equal("Panel_01/shot_a.png", (string?)shot["rel_path"]);
        Assert.Equal(4, (int)shot["rating"]!);
        Assert.Equal(tag, (int)shot["tags"]![0]!["id"]!);
        Assert.Equal("Hero", (string?)shot["tags"]![0]!["name"]);
        var modified = DateTimeOffset.FromUnixTimeMilliseconds((long)((double)shot["modified"]! * 1000));
        Assert.Equal(File.GetLastWriteTimeUtc(project.PathOf("Panel_01/shot_a.png")), modified.UtcDateTime, TimeSpan.FromMilliseconds(2));
    }

    [Fact]
    public async Task ScanRecursiveGivesFoldersWithFilesSubfoldersAndTotals()
    {
        // Arrange
        var project = gallery.NewProject();

        // Act: scanRecursive(orchestratorUrl, folderPath) — include_dimensions left out, as the app leaves it undefined
        var answer = await Client.GalleryPostAsync("scan-recursive", new { folder_path = project.Folder });

        // Assert
        AssertOk(answer);
        AppReads(answer.Body, ("total_files", JsonValueKind.Number), ("total_size", JsonValueKind.Number));
        var folders = ArrayOf(answer, "folders");
        Assert.All(folders, folder =>
        {
            AppReads(folder, ("name", JsonValueKind.String), ("path", JsonValueKind.String), ("rel_path", JsonValueKind.String),
                ("files", JsonValueKind.Array), ("subfolders", JsonValueKind.Array), ("file_count", JsonValueKind.Number), ("total_size", JsonValueKind.Number));
            Assert.All(folder["files"]!.AsArray(), file => AssertFileEntry(file!));
        });
        Assert.Equal(".", (string?)folders[0]["rel_path"]);
        Assert.Equal(["Panel_01", "Panel_02"], folders[0]["subfolders"]!.AsArray().Select(name => (string?)name));
        Assert.Equal(5, (int)answer["total_files"]!);
    }

    [Fact]
    public async Task FileInfoGivesTheFileAndItsPngMetadata()
    {
        // Arrange
        var project = gallery.NewProject();

        // Act: getFileInfo(orchestratorUrl, filePath, projectPath)
        var answer = await Client.GalleryPostAsync("file-info", new { file_path = project.PathOf("Panel_01/shot_a.png"), project_path = project.Folder });

        // Assert
        AssertOk(answer);
        AppReads(answer.Body, ("file", JsonValueKind.Object), ("png_metadata", JsonValueKind.Object));
        AssertFileEntry(answer["file"]);
        Assert.Equal(JsonValueKind.Object, answer["png_metadata"]["prompt"]!.GetValueKind());
        Assert.False(answer["png_metadata"].AsObject().ContainsKey("workflow"));
        Assert.False(answer["png_metadata"].AsObject().ContainsKey("other"));
    }

    [Fact]
    public async Task MoveFilesGivesMovedPairsSkippedPathsAndErrors()
    {
        // Arrange
        var project = gallery.NewProject();
        project.Write("Panel_02/clip.mp4", [1, 2, 3]);
        string[] paths = [project.PathOf("Panel_01/shot_a.png"), project.PathOf("Panel_01/clip.mp4")];

        // Act: moveFiles(orchestratorUrl, filePaths, targetFolder, projectPath, 'skip') from the Move dialog
        var answer = await Client.GalleryPostAsync("move-files",
            new { file_paths = paths, target_folder = project.PathOf("Panel_02"), project_path = project.Folder, conflict = "skip" });

        // Assert
        AssertOk(answer);
        var moved = ArrayOf(answer, "moved");
        var pair = Assert.Single(moved);
        AppReads(pair, ("old_path", JsonValueKind.String), ("new_path", JsonValueKind.String));
        Assert.Equal(project.PathOf("Panel_02/shot_a.png"), (string?)pair["new_path"]);
        Assert.Equal([paths[1]], StringsOf(answer, "skipped"));
        Assert.Empty(StringsOf(answer, "errors"));
        Assert.True(project.Exists("Panel_02/shot_a.png"));
    }

    [Fact]
    public async Task MoveFilesCreatesAMissingTargetFolderInsideTheProject()
    {
        // Arrange: the app's "Move to new folder" names a folder that does not exist yet
        var project = gallery.NewProject();

        // Act
        var answer = await Client.GalleryPostAsync("move-files",
            new { file_paths = new[] { project.PathOf("Panel_01/still.jpg") }, target_folder = project.PathOf("Selects/Day 1"), project_path = project.Folder, conflict = "rename" });

        // Assert
        AssertOk(answer);
        Assert.Single(ArrayOf(answer, "moved"));
        Assert.True(project.Exists("Selects/Day 1/still.jpg"));
    }

    [Fact]
    public async Task RenameFileGivesOldAndNewPath()
    {
        // Arrange
        var project = gallery.NewProject();

        // Act: renameFile(orchestratorUrl, file.path, newNameWithExtension, projectPath)
        var answer = await Client.GalleryPostAsync("rename-file",
            new { file_path = project.PathOf("Panel_01/shot_b.png"), new_name = "hero.png", project_path = project.Folder });

        // Assert
        AssertOk(answer);
        AppReads(answer.Body, ("old_path", JsonValueKind.String), ("new_path", JsonValueKind.String));
        Assert.Equal(project.PathOf("Panel_01/hero.png"), (string?)answer["new_path"]);
    }

    [Fact]
    public async Task BatchRenameGivesPreviewsRenamedCountAndErrors()
    {
        // Arrange
        var project = gallery.NewProject();
        string[] paths = [project.PathOf("Panel_01/shot_a.png"), project.PathOf("Panel_01/shot_b.png")];
        object Body(bool dryRun) => new { file_paths = paths, pattern = "Take_{index}", start_index = 1, pad_width = 3, project_path = project.Folder, dry_run = dryRun };

        // Act: batchRename(...) as a preview, then for real, as the Batch Rename dialog does
        var preview = await Client.GalleryPostAsync("batch-rename", Body(dryRun: true));
        var applied = await Client.GalleryPostAsync("batch-rename", Body(dryRun: false));

        // Assert
        foreach (var answer in new[] { preview, applied })
        {
            AssertOk(answer);
            AppReads(answer.Body, ("renamed", JsonValueKind.Number), ("errors", JsonValueKind.Array));
            Assert.All(ArrayOf(answer, "previews"), item => AppReads(item, ("old_path", JsonValueKind.String), ("old_name", JsonValueKind.String),
                ("new_name", JsonValueKind.String), ("new_path", JsonValueKind.String)));
            Assert.Empty(StringsOf(answer, "errors"));
        }

        Assert.Equal(["Take_001.png", "Take_002.png"], ArrayOf(preview, "previews").Select(item => (string?)item["new_name"]).Order(StringComparer.Ordinal));
        Assert.Equal(2, (int)applied["renamed"]!);
        Assert.True(project.Exists("Panel_01/Take_001.png"));
    }

    [Fact]
    public async Task AutoRenameGivesPreviewsOfTheWholeFolder()
    {
        // Arrange
        var project = gallery.NewProject();

        // Act: autoRename(orchestratorUrl, folderPath, undefined, projectPath, true)
        var answer = await Client.GalleryPostAsync("auto-rename", new { folder_path = project.PathOf("Panel_02"), project_path = project.Folder, dry_run = true });

        // Assert
        AssertOk(answer);
        AppReads(answer.Body, ("renamed", JsonValueKind.Number), ("errors", JsonValueKind.Array));
        var item = Assert.Single(ArrayOf(answer, "previews"));
        AppReads(item, ("old_path", JsonValueKind.String), ("old_name", JsonValueKind.String), ("new_name", JsonValueKind.String), ("new_path", JsonValueKind.String));
        Assert.Equal("Panel_02_001.png", (string?)item["new_name"]);
    }

    [Fact]
    public async Task TrashGivesTheTrashedPathsAndErrors()
    {
        // Arrange
        var project = gallery.NewProject();

        // Act: trashFiles(orchestratorUrl, files.map(f => f.path), projectPath)
        var answer = await Client.GalleryPostAsync("trash", new { file_paths = new[] { project.PathOf("Panel_01/shot_a.png") }, project_path = project.Folder });

        // Assert
        AssertOk(answer);
        Assert.Equal([project.PathOf("Panel_01/shot_a.png")], StringsOf(answer, "trashed"));
        Assert.Empty(StringsOf(answer, "errors"));
        Assert.False(project.Exists("Panel_01/shot_a.png"));
    }

    [Fact]
    public async Task TrashListingGivesOriginalPathSizeAndAnIsoTrashedAt()
    {
        // Arrange
        var project = gallery.NewProject();
        await Client.GalleryPostAsync("trash", new { file_paths = new[] { project.PathOf("Panel_01/shot_a.png") }, project_path = project.Folder });

        // Act: listTrash(orchestratorUrl, projectPath)
        var answer = await Client.GalleryGetAsync($"trash?project_path={Q(project.Folder)}");

        // Assert
        AssertOk(answer);
        AppReads(answer.Body, ("total_size", JsonValueKind.Number));
        var item = Assert.Single(ArrayOf(answer, "files"));
        AppReads(item, ("name", JsonValueKind.String), ("path", JsonValueKind.String), ("original_path", JsonValueKind.String),
            ("size", JsonValueKind.Number), ("trashed_at", JsonValueKind.String));
        Assert.Equal("Panel_01/shot_a.png", (string?)item["original_path"]);
        // Python's isoformat() of a UTC time, which the app hands to new Date().
        var trashedAt = (string)item["trashed_at"]!;
        Assert.Matches(@"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}\+00:00$", trashedAt);
        Assert.Equal(DateTimeOffset.UtcNow, DateTimeOffset.Parse(trashedAt, CultureInfo.InvariantCulture), TimeSpan.FromMinutes(5));
    }

    [Fact]
    public async Task RestoreTakesTheTrashPathsOfTheListingAndGivesWhereTheFilesAreBack()
    {
        // Arrange
        var project = gallery.NewProject();
        await Client.GalleryPostAsync("trash", new { file_paths = new[] { project.PathOf("Panel_01/shot_a.png") }, project_path = project.Folder });
        var listed = await Client.GalleryGetAsync($"trash?project_path={Q(project.Folder)}");

        // Act: restoreFiles(orchestratorUrl, Array.from(selected), projectPath) — selected holds each entry's path
        var answer = await Client.GalleryPostAsync("restore", new { file_paths = new[] { (string)listed["files"][0]!["path"]! }, project_path = project.Folder });

        // Assert
        AssertOk(answer);
        Assert.Equal([project.PathOf("Panel_01/shot_a.png")], StringsOf(answer, "restored"));
        Assert.Empty(StringsOf(answer, "errors"));
        Assert.True(project.Exists("Panel_01/shot_a.png"));
    }

    [Fact]
    public async Task EmptyTrashGivesSuccessAndAMessage()
    {
        // Arrange
        var project = gallery.NewProject();
        await Client.GalleryPostAsync("trash", new { file_paths = new[] { project.PathOf("Panel_01/clip.mp4") }, project_path = project.Folder });

        // Act: emptyTrash(orchestratorUrl, projectPath)
        var answer = await Client.GalleryPostAsync("empty-trash", new { project_path = project.Folder });

        // Assert
        AssertOk(answer);
        Assert.Empty(ArrayOf(await Client.GalleryGetAsync($"trash?project_path={Q(project.Folder)}"), "files"));
    }

    [Fact]
    public async Task GetRatingsGivesRelativePathsToNumbers()
    {
        // Arrange
        var project = gallery.NewProject();
        await Client.GalleryPostAsync("ratings", new { project_path = project.Folder, ratings = new Dictionary<string, int> { ["Panel_02/shot_c.png"] = 3 } });

        // Act: getRatings(orchestratorUrl, projectPath)
        var answer = await Client.GalleryGetAsync($"ratings?project_path={Q(project.Folder)}");

        // Assert
        AssertOk(answer);
        AppReads(answer.Body, ("ratings", JsonValueKind.Object));
        Assert.Equal(JsonValueKind.Number, answer["ratings"]["Panel_02/shot_c.png"]!.GetValueKind());
        Assert.Equal(3, (int)answer["ratings"]["Panel_02/shot_c.png"]!);
    }

    [Fact]
    public async Task SetRatingsTakesTheRelPathMapAndEchoesIt()
    {
        // Arrange
        var project = gallery.NewProject();

        // Act: setRatings(orchestratorUrl, projectPath, { [file.rel_path]: rating })
        var answer = await Client.GalleryPostAsync("ratings", new { project_path = project.Folder, ratings = new Dictionary<string, int> { ["Panel_01/shot_b.png"] = 5 } });

        // Assert
        AssertOk(answer);
        AppReads(answer.Body, ("ratings", JsonValueKind.Object));
        Assert.Equal(5, (int)answer["ratings"]["Panel_01/shot_b.png"]!);
    }

    [Fact]
    public async Task ListTagsGivesAListOfTagsWithIntegerIds()
    {
        // Arrange
        var project = gallery.NewProject();
        await Client.GalleryPostAsync("tags", new { project_path = project.Folder, name = "Rejected", color = "#ff0000" });
        await Client.GalleryPostAsync("tags", new { project_path = project.Folder, name = "Approved", color = "#00ff00" });

        // Act: listTags(orchestratorUrl, projectPath)
        var answer = await Client.GalleryGetAsync($"tags?project_path={Q(project.Folder)}");

        // Assert
        AssertOk(answer);
        var tags = ArrayOf(answer, "tags");
        Assert.All(tags, tag => AppReads(tag, ("id", JsonValueKind.Number), ("name", JsonValueKind.String), ("color", JsonValueKind.String)));
        Assert.Equal(["Approved", "Rejected"], tags.Select(tag => (string?)tag["name"]));
    }

    [Fact]
    public async Task CreateTagGivesTheTagWithAnIntegerId()
    {
        // Arrange
        var project = gallery.NewProject();

        // Act: createTag(orchestratorUrl, projectPath, name, color)
        var answer = await Client.GalleryPostAsync("tags", new { project_path = project.Folder, name = "Hero", color = "#3b82f6" });

        // Assert
        Assert.Equal(HttpStatusCode.Created, answer.Status);
        Assert.True((bool)answer["success"]!);
        AppReads(answer["tag"], ("id", JsonValueKind.Number), ("name", JsonValueKind.String), ("color", JsonValueKind.String));
        Assert.Equal("#3b82f6", (string?)answer["tag"]["color"]);
    }

    [Fact]
    public async Task DeleteTagTakesTheQueryWithAnIntegerId()
    {
        // Arrange
        var project = gallery.NewProject();
        var tag = await Client.CreateTagAsync(project, "Old");

        // Act: deleteTag(orchestratorUrl, projectPath, tagId)
        using var response = await Client.DeleteAsync($"/api/gallery/tags?project_path={Q(project.Folder)}&tag_id={tag}", TestContext.Current.CancellationToken);
        var answer = new ApiAnswer(response.StatusCode, JsonNode.Parse(await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken)));

        // Assert
        AssertOk(answer);
        Assert.Empty(ArrayOf(await Client.GalleryGetAsync($"tags?project_path={Q(project.Folder)}"), "tags"));
    }

    [Fact]
    public async Task FileTagsTakesIntegerTagIdsAndGivesTheFilesTags()
    {
        // Arrange
        var project = gallery.NewProject();
        var hero = await Client.CreateTagAsync(project, "Hero");
        var keep = await Client.CreateTagAsync(project, "Keep");

        // Act: updateFileTags(orchestratorUrl, projectPath, file.rel_path, tagIds, 'add'), then 'remove'
        var added = await Client.GalleryPostAsync("file-tags", new { project_path = project.Folder, file_path = "Panel_01/still.jpg", tag_ids = new[] { hero, keep }, action = "add" });
        var removed = await Client.GalleryPostAsync("file-tags", new { project_path = project.Folder, file_path = "Panel_01/still.jpg", tag_ids = new[] { hero }, action = "remove" });

        // Assert
        foreach (var answer in new[] { added, removed })
        {
            AssertOk(answer);
            Assert.All(ArrayOf(answer, "tags"), tag => AppReads(tag, ("id", JsonValueKind.Number), ("name", JsonValueKind.String), ("color", JsonValueKind.String)));
        }

        Assert.Equal([hero, keep], TagIdsOf(added["tags"]));
        Assert.Equal([keep], TagIdsOf(removed["tags"]));
    }

    [Fact]
    public async Task SaveViewTakesTheAutoSavedViewState()
    {
        // Arrange
        var project = gallery.NewProject();

        // Act: saveView(orchestratorUrl, {...}) as the Gallery tab auto-saves it
        var answer = await Client.GalleryPostAsync("views", AppViewState(project, "masonry"));

        // Assert
        AssertOk(answer);
    }

    [Fact]
    public async Task GetViewGivesTheSavedViewStateOrNull()
    {
        // Arrange
        var project = gallery.NewProject();
        var empty = await Client.GalleryGetAsync($"views?project_path={Q(project.Folder)}&name=default");
        await Client.GalleryPostAsync("views", AppViewState(project, "list"));

        // Act: getView(orchestratorUrl, projectPath)
        var answer = await Client.GalleryGetAsync($"views?project_path={Q(project.Folder)}&name=default");

        // Assert
        AssertOk(empty);
        Assert.True(empty.Body!.AsObject().TryGetPropertyValue("view", out var none) && none is null);
        AssertOk(answer);
        AppReads(answer["view"], ("view_mode", JsonValueKind.String), ("sort_field", JsonValueKind.String), ("sort_direction", JsonValueKind.String),
            ("thumbnail_size", JsonValueKind.Number), ("filters_json", JsonValueKind.String), ("current_path", JsonValueKind.String));
        Assert.Equal("list", (string?)answer["view"]["view_mode"]);
        Assert.Equal(project.PathOf("Panel_01"), (string?)answer["view"]["current_path"]);
    }

    [Fact]
    public async Task SearchGivesResultsWithTheMatchAndItsContext()
    {
        // Arrange
        var project = gallery.NewProject();

        // Act: searchFiles(orchestratorUrl, projectPath, query, currentPath)
        var answer = await Client.GalleryPostAsync("search", new { project_path = project.Folder, query = "lighthouse", folder_path = project.PathOf("Panel_01") });

        // Assert
        AssertOk(answer);
        AppReads(answer.Body, ("total", JsonValueKind.Number));
        var hit = Assert.Single(ArrayOf(answer, "results"));
        AppReads(hit, ("file_path", JsonValueKind.String), ("rel_path", JsonValueKind.String), ("match_field", JsonValueKind.String),
            ("match_context", JsonValueKind.String), ("rating", JsonValueKind.Number));
        Assert.Equal(project.PathOf("Panel_01/shot_a.png"), (string?)hit["file_path"]);
    }

    [Fact]
    public async Task FindDuplicatesGivesGroupsOfFilesWithNameSizeAndModified()
    {
        // Arrange
        var project = gallery.NewProject();
        project.Write("Panel_02/copy.png", File.ReadAllBytes(project.PathOf("Panel_01/shot_a.png")));

        // Act: findDuplicates(orchestratorUrl, folderPath, projectPath)
        var answer = await Client.GalleryPostAsync("find-duplicates", new { folder_path = project.Folder, project_path = project.Folder });

        // Assert
        AssertOk(answer);
        AppReads(answer.Body, ("total_duplicates", JsonValueKind.Number), ("wasted_space", JsonValueKind.Number));
        var group = Assert.Single(ArrayOf(answer, "groups"));
        AppReads(group, ("hash", JsonValueKind.String), ("files", JsonValueKind.Array), ("size", JsonValueKind.Number));
        Assert.All(group["files"]!.AsArray(), file => AppReads(file!, ("name", JsonValueKind.String), ("path", JsonValueKind.String),
            ("size", JsonValueKind.Number), ("modified", JsonValueKind.Number)));
        Assert.Equal(1, (int)answer["total_duplicates"]!);
    }

    [Fact]
    public async Task FolderStatsGivesCountsAndCountsPerExtension()
    {
        // Arrange
        var project = gallery.NewProject();

        // Act: getFolderStats(orchestratorUrl, currentPath || projectPath)
        var answer = await Client.GalleryPostAsync("folder-stats", new { folder_path = project.Folder });

        // Assert
        AssertOk(answer);
        AppReads(answer.Body, ("path", JsonValueKind.String), ("total_files", JsonValueKind.Number), ("total_size", JsonValueKind.Number),
            ("image_count", JsonValueKind.Number), ("video_count", JsonValueKind.Number), ("subfolder_count", JsonValueKind.Number),
            ("by_extension", JsonValueKind.Object));
        Assert.Equal(JsonValueKind.Number, answer["by_extension"][".png"]!.GetValueKind());
        Assert.Equal(3, (int)answer["by_extension"][".png"]!);
        Assert.Equal(5, (int)answer["total_files"]!);
    }

    [Fact]
    public async Task ErrorsKeepTheirStatusAndCarrySuccessFalseAndAMessage()
    {
        // Arrange
        var project = gallery.NewProject();

        // Act
        var missing = await Client.GalleryPostAsync("file-info", new { file_path = project.PathOf("Panel_01/gone.png"), project_path = project.Folder });
        var notInTrash = await Client.GalleryPostAsync("restore", new { file_paths = new[] { project.PathOf("Panel_01/shot_a.png") }, project_path = project.Folder });

        // Assert
        Assert.Equal(HttpStatusCode.NotFound, missing.Status);
        Assert.Equal(HttpStatusCode.UnprocessableEntity, notInTrash.Status);
        foreach (var answer in new[] { missing, notInTrash })
        {
            Assert.False((bool)answer["success"]!);
            AppReads(answer.Body, ("message", JsonValueKind.String));
            Assert.NotNull(answer.Body!["detail"]);
        }

        Assert.Equal(JsonValueKind.Array, notInTrash["detail"].GetValueKind());
        Assert.True(project.Exists("Panel_01/shot_a.png"));
    }

    /// <summary>The body the Gallery tab's auto-save sends (GalleryUI), with <paramref name="viewMode"/>.</summary>
    private static object AppViewState(TestProject project, string viewMode) => new
    {
        project_path = project.Folder,
        name = "default",
        view_mode = viewMode,
        sort_field = "modified",
        sort_direction = "desc",
        thumbnail_size = 240,
        filters_json = """{"filterType":"all","filterRating":0,"filterTags":[]}""",
        current_path = project.PathOf("Panel_01"),
        folder_tree_state = "{}",
    };

    /// <summary>HTTP 200 with what every reply of the original carried: <c>success: true</c> and a <c>message</c>.</summary>
    private static void AssertOk(ApiAnswer answer)
    {
        Assert.True(answer.Status == HttpStatusCode.OK, $"{answer.Status}: {answer.Body?.ToJsonString()}");
        AppReads(answer.Body, ("success", JsonValueKind.True), ("message", JsonValueKind.String));
    }

    /// <summary>A FileEntry as the gallery service of the app types it; times are epoch seconds.</summary>
    private static void AssertFileEntry(JsonNode? file)
    {
        AppReads(file, ("name", JsonValueKind.String), ("path", JsonValueKind.String), ("rel_path", JsonValueKind.String),
            ("size", JsonValueKind.Number), ("modified", JsonValueKind.Number), ("created", JsonValueKind.Number),
            ("type", JsonValueKind.String), ("extension", JsonValueKind.String), ("rating", JsonValueKind.Number), ("tags", JsonValueKind.Array));
        Assert.Contains((string?)file!["type"], new[] { "image", "video" });
        Assert.All(file["tags"]!.AsArray(), tag => AppReads(tag, ("id", JsonValueKind.Number), ("name", JsonValueKind.String), ("color", JsonValueKind.String)));
        foreach (var optional in new[] { "width", "height" })
        {
            if (file[optional] is { } value)
            {
                Assert.Equal(JsonValueKind.Number, value.GetValueKind());
            }
        }
    }

    private static void AppReads(JsonNode? node, params (string Field, JsonValueKind Kind)[] fields)
    {
        Assert.NotNull(node);
        foreach (var (field, kind) in fields)
        {
            var value = node[field];
            Assert.True(value is not null, $"'{field}' is missing from {node.ToJsonString()}");
            Assert.True(kind == value.GetValueKind(), $"'{field}' is {value.GetValueKind()}, the app reads it as {kind}");
        }
    }

    private static List<JsonNode> ArrayOf(ApiAnswer answer, string field)
    {
        AppReads(answer.Body, (field, JsonValueKind.Array));
        return answer[field].AsArray().Select(item => item!).ToList();
    }

    private static List<string?> StringsOf(ApiAnswer answer, string field)
    {
        var items = ArrayOf(answer, field);
        Assert.All(items, item => Assert.Equal(JsonValueKind.String, item.GetValueKind()));
        return items.Select(item => (string?)item).ToList();
    }
}
