using System.Net;
using DirectorsConsole.GalleryService.Gallery.Search;
using DirectorsConsole.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace DirectorsConsole.GalleryService.Tests.Gallery;

public sealed class SearchTests(GalleryFixture gallery) : IClassFixture<GalleryFixture>
{
    private HttpClient Client => gallery.Client;

    private PngSearchIndex Index => gallery.Service.Services.GetRequiredService<PngSearchIndex>();

    [Fact]
    public async Task SearchFindsPromptTextWithContextAndRatings()
    {
        // Arrange
        var project = gallery.NewProject();
        await Client.RateAsync(project, "Panel_01/shot_a.png", 5);

        // Act
        var prompt = await Client.GalleryPostAsync("search", new { projectPath = project.Folder, query = "Cinematic Shot" });
        var negative = await Client.GalleryPostAsync("search", new { project_path = project.Folder, query = "blurry", fields = new[] { "prompt", "negative_prompt" } });
        var onlyPanel2 = await Client.GalleryPostAsync("search", new { projectPath = project.Folder, query = "a", folderPath = "Panel_02" });
        var blank = await Client.GalleryPostAsync("search", new { projectPath = project.Folder, query = "  " });

        // Assert
        Assert.Equal(HttpStatusCode.OK, prompt.Status);
        var hit = Assert.Single(prompt["results"].AsArray())!;
        Assert.Equal("Panel_01/shot_a.png", (string?)hit["rel_path"]);
        Assert.Equal("prompt", (string?)hit["match_field"]);
        Assert.Contains("cinematic shot of a lighthouse", (string?)hit["match_context"]);
        Assert.Equal(5, (int)hit["rating"]!);
        Assert.Equal("negative_prompt", (string?)Assert.Single(negative["results"].AsArray())!["match_field"]);
        Assert.Equal(["Panel_02/shot_c.png"], onlyPanel2["results"].AsArray().Select(r => (string?)r!["rel_path"]));
        Assert.Equal(HttpStatusCode.UnprocessableEntity, blank.Status);
    }

    [Fact]
    public async Task ARepeatedSearchReadsOnlyNewOrChangedFiles()
    {
        // Arrange
        var project = gallery.NewProject();
        Directory.CreateDirectory(project.PathOf(".gallery"));

        // Act
        var first = await Client.GalleryPostAsync("search", new { projectPath = project.Folder, query = "desert" });
        var readsAfterFirst = Index.MetadataReads;
        var second = await Client.GalleryPostAsync("search", new { projectPath = project.Folder, query = "lighthouse" });
        var readsAfterSecond = Index.MetadataReads;
        project.Write("Panel_02/shot_c.png", TestPng.WithPrompt("""{"1":{"inputs":{"text":"a snowy desert road"}}}"""));
        File.SetLastWriteTimeUtc(project.PathOf("Panel_02/shot_c.png"), DateTime.UtcNow.AddMinutes(1));
        var third = await Client.GalleryPostAsync("search", new { projectPath = project.Folder, query = "snowy" });

        // Assert
        Assert.Equal(3, (int)first["metadata_read"]!);
        Assert.Equal(3, (int)first["scanned"]!);
        Assert.Equal(0, (int)second["metadata_read"]!);
        Assert.Equal(readsAfterFirst, readsAfterSecond);
        Assert.Single(second["results"].AsArray());
        Assert.Equal(1, (int)third["metadata_read"]!);
        Assert.Single(third["results"].AsArray());
        Assert.True(project.Exists(".gallery/search-index.json"));
    }

    [Fact]
    public async Task AnotherReplicaStartsFromThePersistedIndex()
    {
        // Arrange
        var project = gallery.NewProject();
        Directory.CreateDirectory(project.PathOf(".gallery"));
        await Client.GalleryPostAsync("search", new { projectPath = project.Folder, query = "fox" });
        await using var other = new DirectorsConsole.Testing.ServiceFactory<Program>(gallery.RedisConnectionString, gallery.Settings);
        using var otherClient = other.CreateClient();

        // Act
        var answer = await otherClient.GalleryPostAsync("search", new { projectPath = project.Folder, query = "fox" });

        // Assert
        Assert.Equal(0, (int)answer["metadata_read"]!);
        Assert.Single(answer["results"].AsArray());
    }

    [Fact]
    public async Task FindDuplicatesGroupsIdenticalFilesAndHashesOnlySameSizeOnes()
    {
        // Arrange
        var project = gallery.NewProject();
        var content = Enumerable.Range(0, 5000).Select(i => (byte)(i * 7)).ToArray();
        project.Write("Panel_01/dup1.png", content);
        project.Write("Panel_02/dup2.png", content);
        project.Write("Panel_02/deep/dup3.png", content);
        var different = content.ToArray();
        different[^1] ^= 1;
        project.Write("Panel_02/same_size.png", different);

        // Act
        var answer = await Client.GalleryPostAsync("find-duplicates", new { projectPath = project.Folder });

        // Assert
        Assert.Equal(HttpStatusCode.OK, answer.Status);
        var group = Assert.Single(answer["groups"].AsArray())!;
        Assert.Equal(["Panel_01/dup1.png", "Panel_02/deep/dup3.png", "Panel_02/dup2.png"], group["files"]!.AsArray().Select(f => (string?)f!["rel_path"]));
        Assert.Equal(5000, (long)group["size"]!);
        Assert.Equal(2, (int)answer["total_duplicates"]!);
        Assert.Equal(10000, (long)answer["wasted_space"]!);
        Assert.Equal(4, (int)answer["files_hashed"]!);
    }
}
