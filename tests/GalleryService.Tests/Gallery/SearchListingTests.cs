using System.Net;
using DirectorsConsole.GalleryService.Gallery.Browsing;
using DirectorsConsole.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace DirectorsConsole.GalleryService.Tests.Gallery;

/// <summary>
/// Search answers from folder listings remembered from an earlier search while the folders' times say nothing was
/// added, removed or renamed in them (ProjectScanner). What each kind of change is seen after: the next search for
/// anything that adds, removes or renames an entry (through the API of any replica, or by another program) and for
/// ratings; a file another program rewrites in place under the same name, after Gallery:SearchRevalidateSeconds.
/// </summary>
public sealed class SearchListingTests(GalleryFixture gallery) : IClassFixture<GalleryFixture>
{
    private HttpClient Client => gallery.Client;

    private ProjectScanner Scanner => gallery.Service.Services.GetRequiredService<ProjectScanner>();

    [Fact]
    public async Task FilesAnotherProgramAddsRemovesOrRenamesAreSeenByTheNextSearch()
    {
        // Arrange: folders whose times are old enough for their listings to be remembered
        var project = gallery.NewProject();
        Quiet(project);
        await SearchAsync(Client, project, "a");
        var listedBefore = Scanner.FoldersListed;
        await SearchAsync(Client, project, "a");
        var listedByRepeat = Scanner.FoldersListed - listedBefore;

        // Act: another program changes two of the three folders
        project.Write("Panel_02/new.png", TestPng.WithPrompt("""{"1":{"inputs":{"text":"a zebra crossing"}}}"""));
        File.Delete(project.PathOf("Panel_01/shot_b.png"));
        File.Move(project.PathOf("Panel_02/shot_c.png"), project.PathOf("Panel_02/renamed_c.png"));
        var added = await SearchAsync(Client, project, "zebra");
        var removed = await SearchAsync(Client, project, "fox");
        var renamed = await SearchAsync(Client, project, "desert");

        // Assert
        Assert.Equal(0, listedByRepeat);
        Assert.Equal(["Panel_02/new.png"], RelPaths(added));
        Assert.Empty(RelPaths(removed));
        Assert.Equal(["Panel_02/renamed_c.png"], RelPaths(renamed));
    }

    [Fact]
    public async Task ChangesThroughTheApiOfAnotherReplicaAreSeenByTheNextSearch()
    {
        // Arrange
        var project = gallery.NewProject();
        Quiet(project);
        await SearchAsync(Client, project, "a");
        await using var other = new ServiceFactory<Program>(gallery.RedisConnectionString, gallery.Settings);
        using var otherClient = other.CreateClient();

        // Act: the other replica renames one file, trashes another and rates a third
        var renamedByOther = await otherClient.GalleryPostAsync("rename-file", new { projectPath = project.Folder, filePath = "Panel_01/shot_a.png", newName = "hero" });
        var trashedByOther = await otherClient.GalleryPostAsync("trash", new { projectPath = project.Folder, files = new[] { "Panel_02/shot_c.png" } });
        await otherClient.RateAsync(project, "Panel_01/shot_b.png", 4);
        var renamed = await SearchAsync(Client, project, "lighthouse");
        var trashed = await SearchAsync(Client, project, "desert");
        var rated = await SearchAsync(Client, project, "fox");

        // Assert
        Assert.Equal(HttpStatusCode.OK, renamedByOther.Status);
        Assert.Equal(HttpStatusCode.OK, trashedByOther.Status);
        Assert.Equal(["Panel_01/hero.png"], RelPaths(renamed));
        Assert.Empty(RelPaths(trashed));
        Assert.Equal(4, (int)Assert.Single(rated["results"].AsArray())!["rating"]!);
    }

    [Fact]
    public async Task AFileAnotherProgramRewritesInPlaceIsSeenAfterTheRevalidationPeriod()
    {
        // Arrange: a replica with its own clock, remembering listings for 60 s
        var clock = new ShiftedClock();
        var settings = new Dictionary<string, string?>(gallery.Settings) { ["Gallery:SearchRevalidateSeconds"] = "60" };
        await using var service = new ServiceFactory<Program>(gallery.RedisConnectionString, settings, services => services.AddSingleton<TimeProvider>(clock));
        using var client = service.CreateClient();
        var project = gallery.NewProject();
        Quiet(project);
        await SearchAsync(client, project, "lighthouse");

        // Act: the same name rewritten (the folder's times stay as they were), then searched before and after 60 s
        var file = project.PathOf("Panel_01/shot_a.png");
        File.WriteAllBytes(file, TestPng.WithPrompt("""{"3":{"inputs":{"text":"a windmill at noon"},"class_type":"CLIPTextEncode"}}"""));
        File.SetLastWriteTimeUtc(file, DateTime.UtcNow.AddMinutes(1));
        var within = await SearchAsync(client, project, "windmill");
        clock.Shift = TimeSpan.FromSeconds(61);
        var after = await SearchAsync(client, project, "windmill");

        // Assert
        Assert.Empty(RelPaths(within));
        Assert.Equal(["Panel_01/shot_a.png"], RelPaths(after));
        Assert.Equal(1, (int)after["metadata_read"]!);
    }

    [Fact]
    public async Task AFolderHoldingAFileLinkIsListedAgainSoALinkThatNowLeadsOutIsDropped()
    {
        // Arrange: Panel_01/link.png → Panel_03/middle.png → Panel_01/shot_a.png, all inside the project
        var project = gallery.NewProject();
        Directory.CreateDirectory(project.PathOf("Panel_03"));
        File.CreateSymbolicLink(project.PathOf("Panel_03/middle.png"), project.PathOf("Panel_01/shot_a.png"));
        File.CreateSymbolicLink(project.PathOf("Panel_01/link.png"), project.PathOf("Panel_03/middle.png"));
        var secret = Path.Combine(gallery.Outside, $"secret_{Guid.NewGuid():N}.png");
        File.WriteAllBytes(secret, TestPng.WithPrompt("""{"1":{"inputs":{"text":"a lighthouse outside the root"}}}"""));
        Quiet(project);
        var before = await SearchAsync(Client, project, "lighthouse");

        // Act: only Panel_03 changes; the link in Panel_01 now leads outside the root
        File.Delete(project.PathOf("Panel_03/middle.png"));
        File.CreateSymbolicLink(project.PathOf("Panel_03/middle.png"), secret);
        var after = await SearchAsync(Client, project, "lighthouse");

        // Assert
        Assert.Equal(["Panel_01/link.png", "Panel_01/shot_a.png", "Panel_03/middle.png"], RelPaths(before).Order(StringComparer.Ordinal));
        Assert.Equal(["Panel_01/shot_a.png"], RelPaths(after));
        Assert.DoesNotContain("outside the root", after.Body!.ToJsonString(), StringComparison.Ordinal);
    }

    private static async Task<ApiAnswer> SearchAsync(HttpClient client, TestProject project, string query)
    {
        var answer = await client.GalleryPostAsync("search", new { projectPath = project.Folder, query });
        Assert.Equal(HttpStatusCode.OK, answer.Status);
        return answer;
    }

    private static IEnumerable<string?> RelPaths(ApiAnswer answer) => answer["results"].AsArray().Select(hit => (string?)hit!["rel_path"]);

    /// <summary>Sets every folder's modification time a minute back: as a project nobody changed for a while.</summary>
    private static void Quiet(TestProject project)
    {
        var then = DateTime.UtcNow.AddMinutes(-1);
        foreach (var folder in Directory.EnumerateDirectories(project.Folder, "*", SearchOption.AllDirectories).Append(project.Folder))
        {
            Directory.SetLastWriteTimeUtc(folder, then);
        }
    }

    private sealed class ShiftedClock : TimeProvider
    {
        public TimeSpan Shift { get; set; }

        public override DateTimeOffset GetUtcNow() => base.GetUtcNow() + Shift;
    }
}
