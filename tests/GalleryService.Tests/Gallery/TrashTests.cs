using System.Net;
using static DirectorsConsole.GalleryService.Tests.Gallery.GalleryClient;

namespace DirectorsConsole.GalleryService.Tests.Gallery;

public sealed class TrashTests(GalleryFixture gallery) : IClassFixture<GalleryFixture>
{
    private HttpClient Client => gallery.Client;

    [Fact]
    public async Task TrashAndRestoreBringBackTheFileWithItsSidecarRatingAndTags()
    {
        // Arrange
        var project = gallery.NewProject();
        await Client.RateAsync(project, "Panel_01/shot_a.png", 4);
        var tag = await Client.CreateTagAsync(project, "Keep");
        await Client.GalleryPostAsync("file-tags", new { projectPath = project.Folder, filePath = "Panel_01/shot_a.png", addTags = new[] { tag } });

        // Act
        var trashed = await Client.GalleryPostAsync("trash", new { projectPath = project.Folder, files = new[] { "Panel_01/shot_a.png" } });
        var listed = await Client.GalleryGetAsync($"trash?project_path={Q(project.Folder)}");
        var ratingsWhileTrashed = await Client.GalleryGetAsync($"ratings?projectPath={Q(project.Folder)}");
        var id = (string)trashed["items"][0]!["trash_id"]!;
        var wasInTrash = File.Exists(project.PathOf($".gallery/.trash/{id}/shot_a.png")) && File.Exists(project.PathOf($".gallery/.trash/{id}/shot_a.json"));
        var restored = await Client.GalleryPostAsync("restore", new { projectPath = project.Folder, trashIds = new[] { id } });

        // Assert
        Assert.Equal(HttpStatusCode.OK, trashed.Status);
        Assert.True(wasInTrash);
        var item = listed["files"][0]!;
        Assert.Equal("Panel_01/shot_a.png", (string?)item["original_path"]);
        Assert.Equal(4, (int)item["rating"]!);
        Assert.Equal([tag], TagIdsOf(item["tags"]!));
        Assert.Null(ratingsWhileTrashed["ratings"]["Panel_01/shot_a.png"]);
        Assert.Equal(HttpStatusCode.OK, restored.Status);
        Assert.True(project.Exists("Panel_01/shot_a.png"));
        Assert.True(project.Exists("Panel_01/shot_a.json"));
        var ratings = await Client.GalleryGetAsync($"ratings?projectPath={Q(project.Folder)}");
        Assert.Equal(4, (int)ratings["ratings"]["Panel_01/shot_a.png"]!);
        var scan = await Client.GalleryPostAsync("scan-folder", new { projectPath = project.Folder, folderPath = "Panel_01" });
        Assert.Equal([tag], TagIdsOf(scan["files"].AsArray().Single(f => (string?)f!["name"] == "shot_a.png")!["tags"]!));
        Assert.Empty((await Client.GalleryGetAsync($"trash?projectPath={Q(project.Folder)}"))["files"].AsArray());
    }

    [Fact]
    public async Task RestoreAddsASuffixWhenTheNameIsTakenAgain()
    {
        // Arrange
        var project = gallery.NewProject();
        var trashed = await Client.GalleryPostAsync("trash", new { projectPath = project.Folder, files = new[] { "Panel_02/shot_c.png" } });
        project.Write("Panel_02/shot_c.png", [7]);

        // Act
        var restored = await Client.GalleryPostAsync("restore", new { projectPath = project.Folder, trash_ids = new[] { (string)trashed["items"][0]!["trash_id"]! } });

        // Assert
        Assert.Equal(HttpStatusCode.OK, restored.Status);
        Assert.Equal("Panel_02/shot_c_1.png", (string?)restored["items"][0]!["rel_path"]);
        Assert.Equal([7], File.ReadAllBytes(project.PathOf("Panel_02/shot_c.png")));
    }

    [Fact]
    public async Task RestoreAndEmptyTrashRefuseUnknownIds()
    {
        // Arrange
        var project = gallery.NewProject();

        // Act
        var unknown = await Client.GalleryPostAsync("restore", new { projectPath = project.Folder, trashIds = new[] { Guid.NewGuid().ToString() } });
        var traversal = await Client.GalleryPostAsync("restore", new { projectPath = project.Folder, trashIds = new[] { "../../etc" } });
        var emptyUnknown = await Client.GalleryPostAsync("empty-trash", new { projectPath = project.Folder, trashIds = new[] { Guid.NewGuid().ToString() } });
        var missingFile = await Client.GalleryPostAsync("trash", new { projectPath = project.Folder, files = new[] { "Panel_01/shot_a.png", "Panel_01/gone.png" } });

        // Assert
        Assert.Equal(HttpStatusCode.NotFound, unknown.Status);
        Assert.Equal(HttpStatusCode.UnprocessableEntity, traversal.Status);
        Assert.Equal(HttpStatusCode.NotFound, emptyUnknown.Status);
        Assert.Equal(HttpStatusCode.NotFound, missingFile.Status);
        Assert.True(project.Exists("Panel_01/shot_a.png"));
    }

    [Fact]
    public async Task EmptyTrashDeletesTrashedFilesForGood()
    {
        // Arrange
        var project = gallery.NewProject();
        await Client.GalleryPostAsync("trash", new { projectPath = project.Folder, files = new[] { "Panel_01/shot_a.png", "Panel_01/clip.mp4" } });

        // Act
        var answer = await Client.GalleryPostAsync("empty-trash", new { projectPath = project.Folder });
        var listed = await Client.GalleryGetAsync($"trash?projectPath={Q(project.Folder)}");

        // Assert
        Assert.Equal(HttpStatusCode.OK, answer.Status);
        Assert.Equal(2, (int)answer["deleted"]!);
        Assert.True((long)answer["freed_bytes"]! > 2048);
        Assert.Empty(listed["files"].AsArray());
        Assert.Empty(Directory.GetFileSystemEntries(project.PathOf(".gallery/.trash")));
        Assert.False(project.Exists("Panel_01/shot_a.png"));
    }
}
