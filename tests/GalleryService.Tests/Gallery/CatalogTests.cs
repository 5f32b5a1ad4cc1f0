using System.Net;
using static DirectorsConsole.GalleryService.Tests.Gallery.GalleryClient;

namespace DirectorsConsole.GalleryService.Tests.Gallery;

public sealed class CatalogTests(GalleryFixture gallery) : IClassFixture<GalleryFixture>
{
    private HttpClient Client => gallery.Client;

    [Fact]
    public async Task RatingsAreSetReadAndRemovedWithZero()
    {
        // Arrange
        var project = gallery.NewProject();

        // Act
        var set = await Client.RateAsync(project, "Panel_01/shot_a.png", 5);
        var bulk = await Client.GalleryPostAsync("ratings", new { project_path = project.Folder, ratings = new Dictionary<string, int> { ["Panel_01/shot_b.png"] = 2, ["Panel_02/shot_c.png"] = 3 } });
        await Client.RateAsync(project, "Panel_02/shot_c.png", 0);
        var all = await Client.GalleryGetAsync($"ratings?projectPath={Q(project.Folder)}");
        var some = await Client.GalleryGetAsync($"ratings?projectPath={Q(project.Folder)}&paths=Panel_01/shot_b.png");
        var tooHigh = await Client.RateAsync(project, "Panel_01/shot_a.png", 6);
        var missingFile = await Client.RateAsync(project, "Panel_01/none.png", 3);
        var outside = await Client.RateAsync(project, Path.Combine(gallery.Outside, "x.png"), 3);

        // Assert
        Assert.Equal(HttpStatusCode.OK, set.Status);
        Assert.Equal(HttpStatusCode.OK, bulk.Status);
        Assert.Equal(2, all["ratings"].AsObject().Count);
        Assert.Equal(5, (int)all["ratings"]["Panel_01/shot_a.png"]!);
        Assert.Equal(["Panel_01/shot_b.png"], some["ratings"].AsObject().Select(r => r.Key));
        Assert.Equal(HttpStatusCode.UnprocessableEntity, tooHigh.Status);
        Assert.Equal(HttpStatusCode.NotFound, missingFile.Status);
        Assert.Equal(HttpStatusCode.Forbidden, outside.Status);
        Assert.Equal(5, (int)project.GalleryJson()["files"]!["Panel_01/shot_a.png"]!["rating"]!);
    }

    [Fact]
    public async Task TagsAreCreatedUpdatedWithoutLosingTheirColourAndDeletedFromFiles()
    {
        // Arrange
        var project = gallery.NewProject();
        var hero = await Client.CreateTagAsync(project, "Hero Shot", "#ff6b6b");

        // Act
        var renamed = await Client.GalleryPostAsync("tags", new { projectPath = project.Folder, tagId = hero, name = "Hero" });
        var duplicate = await Client.GalleryPostAsync("tags", new { projectPath = project.Folder, name = "hero" });
        var badColour = await Client.GalleryPostAsync("tags", new { projectPath = project.Folder, name = "Blue", color = "blue" });
        var unknown = await Client.GalleryPostAsync("tags", new { projectPath = project.Folder, tagId = 999, name = "X" });
        await Client.GalleryPostAsync("file-tags", new { projectPath = project.Folder, filePath = "Panel_01/shot_a.png", addTags = new[] { hero } });
        var listed = await Client.GalleryGetAsync($"tags?projectPath={Q(project.Folder)}");
        var deleted = await Client.GalleryDeleteAsync("tags", new { projectPath = project.Folder, tagId = hero });
        var deletedAgain = await Client.GalleryDeleteAsync("tags", new { projectPath = project.Folder, tagId = hero });

        // Assert
        Assert.Equal(HttpStatusCode.OK, renamed.Status);
        Assert.Equal("#ff6b6b", (string?)renamed["tag"]["color"]);
        Assert.Equal("Hero", (string?)renamed["tag"]["name"]);
        Assert.Equal(HttpStatusCode.Conflict, duplicate.Status);
        Assert.Equal(HttpStatusCode.UnprocessableEntity, badColour.Status);
        Assert.Equal(HttpStatusCode.NotFound, unknown.Status);
        Assert.Equal(1, (int)TagById(listed["tags"], hero)["file_count"]!);
        Assert.Equal(HttpStatusCode.OK, deleted.Status);
        Assert.Equal(1, (int)deleted["files_untagged"]!);
        Assert.Equal(HttpStatusCode.NotFound, deletedAgain.Status);
        Assert.Null(project.GalleryJson()["files"]!["Panel_01/shot_a.png"]);
    }

    [Fact]
    public async Task DeleteTagAlsoTakesTheOriginalsQueryForm()
    {
        // Arrange
        var project = gallery.NewProject();
        var tag = await Client.CreateTagAsync(project, "Old");

        // Act
        using var response = await Client.DeleteAsync($"/api/gallery/tags?project_path={Q(project.Folder)}&tag_id={tag}", TestContext.Current.CancellationToken);

        // Assert
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Empty((await Client.GalleryGetAsync($"tags?projectPath={Q(project.Folder)}"))["tags"].AsArray());
    }

    [Fact]
    public async Task FileTagsAddAndRemoveAndRefuseUnknownTags()
    {
        // Arrange
        var project = gallery.NewProject();
        var a = await Client.CreateTagAsync(project, "A");
        var b = await Client.CreateTagAsync(project, "B");

        // Act
        var added = await Client.GalleryPostAsync("file-tags", new { projectPath = project.Folder, filePath = "Panel_01/still.jpg", addTags = new[] { a, b } });
        var changed = await Client.GalleryPostAsync("file-tags", new { projectPath = project.Folder, filePath = "Panel_01/still.jpg", removeTags = new[] { a } });
        var original = await Client.GalleryPostAsync("file-tags", new { project_path = project.Folder, file_path = "Panel_01/still.jpg", tag_ids = new[] { a }, action = "add" });
        var unknown = await Client.GalleryPostAsync("file-tags", new { projectPath = project.Folder, filePath = "Panel_01/still.jpg", addTags = new[] { 404 } });

        // Assert
        Assert.Equal([a, b], TagIdsOf(added["tags"]));
        Assert.Equal([b], TagIdsOf(changed["tags"]));
        Assert.Equal([a, b], TagIdsOf(original["tags"]));
        Assert.Equal(HttpStatusCode.NotFound, unknown.Status);
    }

    [Fact]
    public async Task ViewsAreSavedAndRead()
    {
        // Arrange
        var project = gallery.NewProject();

        // Act
        var saved = await Client.GalleryPostAsync("views", new { projectPath = project.Folder, viewMode = "list", sortField = "modified", sortDirection = "desc", thumbnailSize = 300, filtersJson = "{\"minRating\":3}" });
        var again = await Client.GalleryPostAsync("views", new { project_path = project.Folder, view_mode = "grid" });
        var other = await Client.GalleryPostAsync("views", new { projectPath = project.Folder, name = "review", sortDirection = "sideways" });
        var read = await Client.GalleryGetAsync($"views?projectPath={Q(project.Folder)}");

        // Assert
        Assert.Equal(HttpStatusCode.OK, saved.Status);
        Assert.Equal((long)saved["view_id"]!, (long)again["view_id"]!);
        Assert.Equal(HttpStatusCode.UnprocessableEntity, other.Status);
        Assert.Equal("grid", (string?)read["view"]["view_mode"]);
        Assert.True((bool)read["view"]["is_default"]!);
        Assert.Equal("default", (string?)read["view"]["name"]);
        Assert.Equal("grid", (string?)project.GalleryJson()["views"]!["default"]!["view_mode"]);
    }
}
