using System.Net;
using System.Text.Json.Nodes;
using DirectorsConsole.Testing;
using static DirectorsConsole.GalleryService.Tests.Gallery.GalleryClient;

namespace DirectorsConsole.GalleryService.Tests.Gallery;

public sealed class BrowsingTests(GalleryFixture gallery) : IClassFixture<GalleryFixture>
{
    private HttpClient Client => gallery.Client;

    [Fact]
    public async Task ScanTreeListsFoldersWithMediaCountsAndSkipsHiddenOnes()
    {
        // Arrange
        var project = gallery.NewProject();
        Directory.CreateDirectory(project.PathOf("Panel_01/Takes/Old"));
        Directory.CreateDirectory(project.PathOf(".gallery/.trash"));

        // Act
        var answer = await Client.GalleryPostAsync("scan-tree", new { projectPath = project.Folder });

        // Assert
        Assert.Equal(HttpStatusCode.OK, answer.Status);
        Assert.True((bool)answer["success"]!);
        var tree = answer["tree"].AsArray();
        Assert.Equal(["Panel_01", "Panel_02"], tree.Select(node => (string?)node!["name"]));
        var panel = tree[0]!;
        Assert.Equal(4, (int)panel["fileCount"]!);
        Assert.Equal("Panel_01", (string?)panel["relPath"]);
        Assert.Equal(project.PathOf("Panel_01"), (string?)panel["path"]);
        Assert.Equal("Panel_01/Takes/Old", (string?)panel["children"]![0]!["children"]![0]!["relPath"]);
        Assert.Equal(4, (int)answer["folderCount"]!);
    }

    [Fact]
    public async Task ScanTreeAcceptsTheOriginalsSnakeCaseFolderPath()
    {
        // Arrange
        var project = gallery.NewProject();

        // Act
        var answer = await Client.GalleryPostAsync("scan-tree", new { folder_path = project.Folder, max_depth = 0 });

        // Assert
        Assert.Equal(HttpStatusCode.OK, answer.Status);
        Assert.Empty(answer["tree"].AsArray());
        Assert.Equal(2, (int)answer["folderCount"]!);
    }

    [Fact]
    public async Task ScanFolderListsMediaWithRatingsTagsAndPages()
    {
        // Arrange
        var project = gallery.NewProject();
        await Client.RateAsync(project, "Panel_01/shot_b.png", 4);
        var tag = await Client.CreateTagAsync(project, "Hero");
        await Client.GalleryPostAsync("file-tags", new { projectPath = project.Folder, filePath = "Panel_01/shot_b.png", addTags = new[] { tag } });

        // Act
        var all = await Client.GalleryPostAsync("scan-folder", new { projectPath = project.Folder, folderPath = "Panel_01" });
        var page = await Client.GalleryPostAsync("scan-folder", new { project_path = project.Folder, folder_path = "Panel_01", offset = 1, limit = 2 });
        var bySize = await Client.GalleryPostAsync("scan-folder", new { projectPath = project.Folder, folderPath = "Panel_01", sortField = "size", sortDirection = "desc" });
        var rated = await Client.GalleryPostAsync("scan-folder", new { projectPath = project.Folder, folderPath = "Panel_01", minRating = 3 });
        var videos = await Client.GalleryPostAsync("scan-folder", new { projectPath = project.Folder, folderPath = "Panel_01", types = new[] { "video" } });

        // Assert
        Assert.Equal(HttpStatusCode.OK, all.Status);
        Assert.Equal(["clip.mp4", "shot_a.png", "shot_b.png", "still.jpg"], all["files"].AsArray().Select(f => (string?)f!["name"]));
        Assert.Equal(4, (int)all["total"]!);
        var shotB = all["files"].AsArray().Single(f => (string?)f!["name"] == "shot_b.png")!;
        Assert.Equal(4, (int)shotB["rating"]!);
        Assert.Equal([tag], shotB["tags"]!.AsArray().Select(t => (string?)t));
        Assert.Equal("Panel_01/shot_b.png", (string?)shotB["relPath"]);
        Assert.Equal("image", (string?)shotB["type"]);
        Assert.EndsWith("+00:00", (string?)shotB["modified"]);
        Assert.Equal(["shot_a.png", "shot_b.png"], page["files"].AsArray().Select(f => (string?)f!["name"]));
        Assert.Equal(4, (int)page["total"]!);
        Assert.Equal("clip.mp4", (string?)bySize["files"]![0]!["name"]);
        Assert.Equal(["shot_b.png"], rated["files"].AsArray().Select(f => (string?)f!["name"]));
        Assert.Equal(["clip.mp4"], videos["files"].AsArray().Select(f => (string?)f!["name"]));
    }

    [Fact]
    public async Task ScanFolderRefusesBadInputWithTheRightStatus()
    {
        // Arrange
        var project = gallery.NewProject();

        // Act
        var missing = await Client.GalleryPostAsync("scan-folder", new { limit = 5 });
        var badSort = await Client.GalleryPostAsync("scan-folder", new { projectPath = project.Folder, sortField = "colour" });
        var tooBig = await Client.GalleryPostAsync("scan-folder", new { projectPath = project.Folder, limit = 1_000_000 });
        var outside = await Client.GalleryPostAsync("scan-folder", new { projectPath = gallery.Outside });
        var climbing = await Client.GalleryPostAsync("scan-folder", new { projectPath = project.Folder, folderPath = "../.." });
        var absent = await Client.GalleryPostAsync("scan-folder", new { projectPath = project.Folder, folderPath = "Panel_09" });
        var notAFolder = await Client.GalleryPostAsync("scan-folder", new { projectPath = project.Folder, folderPath = "Panel_01/shot_a.png" });

        // Assert
        Assert.Equal(HttpStatusCode.UnprocessableEntity, missing.Status);
        Assert.Equal("projectPath", (string?)missing["detail"][0]!["loc"]![1]);
        Assert.Equal(HttpStatusCode.UnprocessableEntity, badSort.Status);
        Assert.Equal("sortField", (string?)badSort["detail"][0]!["loc"]![1]);
        Assert.Equal(HttpStatusCode.UnprocessableEntity, tooBig.Status);
        Assert.Equal(HttpStatusCode.Forbidden, outside.Status);
        Assert.Equal(HttpStatusCode.Forbidden, climbing.Status);
        Assert.Equal(HttpStatusCode.NotFound, absent.Status);
        Assert.Contains("Panel_09", absent.Detail);
        Assert.Equal(HttpStatusCode.BadRequest, notAFolder.Status);
    }

    [Fact]
    public async Task ScanFolderLeavesOutLinksThatLeadOutOfTheProject()
    {
        // Arrange
        var project = gallery.NewProject();
        var secret = Path.Combine(gallery.Outside, "secret.png");
        File.WriteAllBytes(secret, TestPng.WithPrompt("secret"));
        File.CreateSymbolicLink(project.PathOf("Panel_01/escape.png"), secret);
        File.CreateSymbolicLink(project.PathOf("Panel_01/inside.png"), project.PathOf("Panel_02/shot_c.png"));

        // Act
        var byName = await Client.GalleryPostAsync("scan-folder", new { projectPath = project.Folder, folderPath = "Panel_01" });
        var bySize = await Client.GalleryPostAsync("scan-folder", new { projectPath = project.Folder, folderPath = "Panel_01", sortField = "size" });
        var search = await Client.GalleryPostAsync("search", new { projectPath = project.Folder, query = "secret" });

        // Assert
        Assert.DoesNotContain("escape.png", byName["files"].AsArray().Select(f => (string?)f!["name"]));
        Assert.Contains("inside.png", byName["files"].AsArray().Select(f => (string?)f!["name"]));
        Assert.DoesNotContain("escape.png", bySize["files"].AsArray().Select(f => (string?)f!["name"]));
        Assert.Equal(0, (int)search["total"]!);
    }

    [Fact]
    public async Task ScanRecursiveListsEveryFolderWithItsFiles()
    {
        // Arrange
        var project = gallery.NewProject();
        Directory.CreateDirectory(project.PathOf("Empty"));
        project.Write(".gallery/.trash/x/old.png", TestPng.WithPrompt("{}"));

        // Act
        var answer = await Client.GalleryPostAsync("scan-recursive", new { projectPath = project.Folder, includeDimensions = true });

        // Assert
        Assert.Equal(HttpStatusCode.OK, answer.Status);
        var folders = answer["folders"].AsArray();
        Assert.Equal(["", "Empty", "Panel_01", "Panel_02"], folders.Select(f => (string?)f!["relPath"]));
        Assert.Equal(5, (int)answer["totalFiles"]!);
        var still = folders[2]!["files"]!.AsArray().Single(f => (string?)f!["name"] == "still.jpg")!;
        Assert.Equal(640, (int)still["width"]!);
        Assert.Equal(360, (int)still["height"]!);
    }

    [Fact]
    public async Task FileInfoGivesDimensionsAndPngMetadata()
    {
        // Arrange
        var project = gallery.NewProject();
        project.Write("Panel_02/anim.gif", TestImages.Gif(320, 200));
        project.Write("Panel_02/frame.webp", TestImages.WebP(1920, 1080));
        project.Write("Panel_02/plate.bmp", TestImages.Bmp(64, 48));
        project.Write("Panel_02/meta.png", TestPng.Create([TestPng.Text("prompt", """{"1":{"inputs":{"seed":5}}}"""), TestPng.Text("workflow", "not json"), TestPng.Text("Comment", "hi")]));

        // Act
        var png = await Client.GalleryPostAsync("file-info", new { projectPath = project.Folder, filePath = "Panel_02/meta.png" });
        var gif = await Client.GalleryPostAsync("file-info", new { project_path = project.Folder, file_path = "Panel_02/anim.gif" });
        var webp = await Client.GalleryPostAsync("file-info", new { projectPath = project.Folder, filePath = project.PathOf("Panel_02/frame.webp") });
        var bmp = await Client.GalleryPostAsync("file-info", new { projectPath = project.Folder, filePath = "Panel_02/plate.bmp" });
        var missing = await Client.GalleryPostAsync("file-info", new { projectPath = project.Folder, filePath = "Panel_02/none.png" });
        var gallerySelf = await Client.GalleryPostAsync("file-info", new { projectPath = project.Folder, filePath = ".gallery/gallery.json" });

        // Assert
        Assert.Equal(HttpStatusCode.OK, png.Status);
        Assert.Equal(1, (int)png["file"]["width"]!);
        Assert.Equal(5, (int)png["pngMetadata"]["prompt"]!["1"]!["inputs"]!["seed"]!);
        Assert.Equal("not json", (string?)png["pngMetadata"]["workflow"]);
        Assert.Equal("hi", (string?)png["pngMetadata"]["other"]!["Comment"]);
        Assert.Equal((320, 200), ((int)gif["file"]["width"]!, (int)gif["file"]["height"]!));
        Assert.Equal((1920, 1080), ((int)webp["file"]["width"]!, (int)webp["file"]["height"]!));
        Assert.Equal((64, 48), ((int)bmp["file"]["width"]!, (int)bmp["file"]["height"]!));
        Assert.Null(gif["pngMetadata"]);
        Assert.Equal(HttpStatusCode.NotFound, missing.Status);
        Assert.Equal(HttpStatusCode.Forbidden, gallerySelf.Status);
    }

    [Fact]
    public async Task FolderStatsCountsFilesByKindAndExtension()
    {
        // Arrange
        var project = gallery.NewProject();

        // Act
        var answer = await Client.GalleryPostAsync("folder-stats", new { projectPath = project.Folder });
        var panel = await Client.GalleryPostAsync("folder-stats", new { projectPath = project.Folder, folderPath = "Panel_02" });

        // Assert
        Assert.Equal(HttpStatusCode.OK, answer.Status);
        Assert.Equal(6, (int)answer["fileCount"]!);
        Assert.Equal(4, (int)answer["imageCount"]!);
        Assert.Equal(1, (int)answer["videoCount"]!);
        Assert.Equal(2, (int)answer["subfolderCount"]!);
        Assert.Equal(3, (int)answer["byExtension"][".png"]!["count"]!);
        Assert.Equal(1, (int)panel["fileCount"]!);
        Assert.Equal(new FileInfo(project.PathOf("Panel_02/shot_c.png")).Length, (long)panel["totalSize"]!);
    }

    [Fact]
    public async Task ReadOnlyCallsDoNotCreateTheGalleryFolder()
    {
        // Arrange
        var project = gallery.NewProject();

        // Act
        await Client.GalleryPostAsync("scan-folder", new { projectPath = project.Folder, folderPath = "Panel_01" });
        await Client.GalleryGetAsync($"ratings?projectPath={Q(project.Folder)}");
        await Client.GalleryPostAsync("search", new { projectPath = project.Folder, query = "fox" });

        // Assert
        Assert.False(Directory.Exists(project.PathOf(".gallery")));
    }
}
