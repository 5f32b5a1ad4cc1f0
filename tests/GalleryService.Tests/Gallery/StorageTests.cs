using System.Net;
using System.Text.Json.Nodes;
using DirectorsConsole.Testing;
using static DirectorsConsole.GalleryService.Tests.Gallery.GalleryClient;

namespace DirectorsConsole.GalleryService.Tests.Gallery;

/// <summary>gallery.json: the original's schema, several writers, and a damaged file.</summary>
public sealed class StorageTests(GalleryFixture gallery) : IClassFixture<GalleryFixture>
{
    private HttpClient Client => gallery.Client;

    [Fact]
    public async Task AGalleryWrittenByTheOriginalIsReadAndItsUnknownFieldsKept()
    {
        // Arrange: the Windows build of the old tool wrote native separators and integer tag ids
        var project = gallery.NewProject();
        project.Write(".gallery/gallery.json", """
            {
              "_schema_version": 2, "_next_tag_id": 3, "_next_view_id": 2,
              "files": {
                "Panel_01\\shot_a.png": {"rating": 4, "notes": "keep", "tag_ids": [1, 2], "last_viewed": 1708600000.5, "created_at": 1708500000.0},
                "Panel_02/shot_c.png": {"rating": 2, "notes": "", "tag_ids": [], "last_viewed": null, "created_at": 1708500000.0}
              },
              "tags": {"1": {"name": "Hero Shot", "color": "#ff6b6b"}, "2": {"name": "Approved", "color": "#51cf66"}},
              "views": {"default": {"view_mode": "grid", "sort_field": "name", "sort_direction": "asc", "thumbnail_size": 200,
                         "filters_json": "{}", "current_path": "", "folder_tree_state": "{}", "is_default": true, "id": 1}},
              "legacy_extra": {"kept": true}
            }
            """u8.ToArray());

        // Act
        var ratings = await Client.GalleryGetAsync($"ratings?projectPath={Q(project.Folder)}");
        var tags = await Client.GalleryGetAsync($"tags?projectPath={Q(project.Folder)}");
        var views = await Client.GalleryGetAsync($"views?projectPath={Q(project.Folder)}");
        var newTag = await Client.CreateTagAsync(project, "Third");
        await Client.RateAsync(project, "Panel_02/shot_c.png", 5);

        // Assert
        Assert.Equal(4, (int)ratings["ratings"]["Panel_01/shot_a.png"]!);
        Assert.Equal(1, (int)TagById(tags["tags"], 2)["file_count"]!);
        Assert.Equal("#ff6b6b", (string?)TagById(tags["tags"], 1)["color"]);
        Assert.Equal(1, (long)views["view"]["id"]!);
        Assert.Equal(3, newTag);
        var written = project.GalleryJson();
        Assert.Equal(4, (int)written["_next_tag_id"]!);
        Assert.True((bool)written["legacy_extra"]!["kept"]!);
        var shotA = written["files"]!["Panel_01/shot_a.png"]!;
        Assert.Equal([1, 2], shotA["tag_ids"]!.AsArray().Select(t => (int)t!));
        Assert.Equal(1708600000.5, (double)shotA["last_viewed"]!);
        Assert.Equal("keep", (string?)shotA["notes"]);
        Assert.Equal(5, (int)written["files"]!["Panel_02/shot_c.png"]!["rating"]!);
    }

    [Fact]
    public async Task AWriterThatBypassesRedisIsMergedNotOverwritten()
    {
        // Arrange
        var project = gallery.NewProject();
        await Client.RateAsync(project, "Panel_01/shot_a.png", 3);

        // Act: another machine (no lock, no Redis) rewrites the file between two of our changes
        var document = project.GalleryJson();
        document["files"]!["Panel_01/shot_b.png"] = new JsonObject { ["rating"] = 5, ["notes"] = "from the NAS", ["tag_ids"] = new JsonArray() };
        document["tags"]!["77"] = new JsonObject { ["name"] = "Elsewhere", ["color"] = "#000000" };
        File.WriteAllText(project.GalleryFile, document.ToJsonString());
        await Client.RateAsync(project, "Panel_02/shot_c.png", 1);

        // Assert
        var ratings = (await Client.GalleryGetAsync($"ratings?projectPath={Q(project.Folder)}"))["ratings"];
        Assert.Equal(3, (int)ratings["Panel_01/shot_a.png"]!);
        Assert.Equal(5, (int)ratings["Panel_01/shot_b.png"]!);
        Assert.Equal(1, (int)ratings["Panel_02/shot_c.png"]!);
        Assert.Equal("from the NAS", (string?)project.GalleryJson()["files"]!["Panel_01/shot_b.png"]!["notes"]);
        Assert.NotNull(project.GalleryJson()["tags"]!["77"]);
    }

    [Fact]
    public async Task ACorruptGalleryIsKeptAsideAndReportedThenAFreshOneStarts()
    {
        // Arrange
        var project = gallery.NewProject();
        await Client.RateAsync(project, "Panel_01/shot_a.png", 3);
        File.WriteAllText(project.GalleryFile, "{\"files\": {\"Panel_01/shot_a.png\": {\"rating\": 3,");

        // Act
        var first = await Client.RateAsync(project, "Panel_01/shot_b.png", 4);
        var preserved = Directory.GetFiles(project.PathOf(".gallery"), "gallery.json.corrupt-*");
        var second = await Client.RateAsync(project, "Panel_01/shot_b.png", 4);

        // Assert
        Assert.Equal(HttpStatusCode.Conflict, first.Status);
        var copy = Assert.Single(preserved);
        Assert.Contains(copy, first.Detail);
        Assert.Equal("{\"files\": {\"Panel_01/shot_a.png\": {\"rating\": 3,", File.ReadAllText(copy));
        Assert.Equal(HttpStatusCode.OK, second.Status);
        Assert.Equal(4, (int)project.GalleryJson()["files"]!["Panel_01/shot_b.png"]!["rating"]!);
    }

    [Fact]
    public async Task ACorruptGalleryFoundByAReadIsReportedToo()
    {
        // Arrange
        var project = gallery.NewProject();
        project.Write(".gallery/gallery.json", "not json at all"u8.ToArray());

        // Act
        var answer = await Client.GalleryGetAsync($"tags?projectPath={Q(project.Folder)}");
        var after = await Client.GalleryGetAsync($"tags?projectPath={Q(project.Folder)}");

        // Assert
        Assert.Equal(HttpStatusCode.Conflict, answer.Status);
        Assert.Contains("gallery.json.corrupt-", answer.Detail);
        Assert.Single(Directory.GetFiles(project.PathOf(".gallery"), "gallery.json.corrupt-*"));
        Assert.Equal(HttpStatusCode.OK, after.Status);
    }

    [Fact]
    public async Task TwoReplicasRatingAndTaggingAtOnceLoseNothing()
    {
        // Arrange: 40 files, two replicas on one Redis and one project, and a tag each
        var project = gallery.NewProject();
        var names = Enumerable.Range(0, 40).Select(i => $"Batch/f{i:00}.png").ToList();
        foreach (var name in names)
        {
            project.Write(name, [1]);
        }

        await using var second = new ServiceFactory<Program>(gallery.RedisConnectionString, gallery.Settings);
        using var secondClient = second.CreateClient();
        var clients = new[] { Client, secondClient };
        var tagA = await Client.CreateTagAsync(project, "A");
        var tagB = await secondClient.CreateTagAsync(project, "B");

        // Act: every file rated by one replica and tagged by the other, all requests in flight together
        var work = names.SelectMany((name, i) => new[]
        {
            clients[i % 2].RateAsync(project, name, 1 + i % 5),
            clients[(i + 1) % 2].GalleryPostAsync("file-tags", new { projectPath = project.Folder, filePath = name, addTags = new[] { i % 2 == 0 ? tagA : tagB } }),
        });
        var answers = await Task.WhenAll(work);

        // Assert
        Assert.All(answers, answer => Assert.Equal(HttpStatusCode.OK, answer.Status));
        var files = project.GalleryJson()["files"]!;
        for (var i = 0; i < names.Count; i++)
        {
            Assert.Equal(1 + i % 5, (int)files[names[i]]!["rating"]!);
            Assert.Equal([i % 2 == 0 ? tagA : tagB], files[names[i]]!["tag_ids"]!.AsArray().Select(t => (int)t!));
        }
    }

    [Fact]
    public async Task AGalleryFileThatIsAFolderIsAConflictNamingIt()
    {
        // Arrange
        var project = gallery.NewProject();
        Directory.CreateDirectory(project.GalleryFile);

        // Act
        var rated = await Client.RateAsync(project, "Panel_01/shot_a.png", 3);
        var tagged = await Client.GalleryPostAsync("tags", new { projectPath = project.Folder, name = "Hero" });

        // Assert
        foreach (var answer in new[] { rated, tagged })
        {
            Assert.Equal(HttpStatusCode.Conflict, answer.Status);
            Assert.Contains("is a folder", answer.Detail, StringComparison.Ordinal);
        }

        Assert.True(Directory.Exists(project.GalleryFile));
    }
}
