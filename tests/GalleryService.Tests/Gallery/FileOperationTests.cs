using System.Net;
using DirectorsConsole.GalleryService.Gallery.Files;
using DirectorsConsole.Testing;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using static DirectorsConsole.GalleryService.Tests.Gallery.GalleryClient;

namespace DirectorsConsole.GalleryService.Tests.Gallery;

public sealed class FileOperationTests(GalleryFixture gallery) : IClassFixture<GalleryFixture>
{
    private HttpClient Client => gallery.Client;

    [Fact]
    public async Task MoveFilesTakesSidecarsRatingsAndTagsAlong()
    {
        // Arrange
        var project = gallery.NewProject();
        await Client.RateAsync(project, "Panel_01/shot_a.png", 5);
        var tag = await Client.CreateTagAsync(project, "Approved");
        await Client.GalleryPostAsync("file-tags", new { projectPath = project.Folder, filePath = "Panel_01/shot_a.png", addTags = new[] { tag } });

        // Act
        var answer = await Client.GalleryPostAsync("move-files", new { projectPath = project.Folder, files = new[] { "Panel_01/shot_a.png", "Panel_01/still.jpg" }, destination = "Selects/Day1" });

        // Assert
        Assert.Equal(HttpStatusCode.OK, answer.Status);
        Assert.Equal(2, answer["moved"].AsArray().Count);
        Assert.True(project.Exists("Selects/Day1/shot_a.png"));
        Assert.True(project.Exists("Selects/Day1/shot_a.json"));
        Assert.False(project.Exists("Panel_01/shot_a.png"));
        Assert.False(project.Exists("Panel_01/shot_a.json"));
        var ratings = await Client.GalleryGetAsync($"ratings?projectPath={Q(project.Folder)}");
        Assert.Equal(5, (int)ratings["ratings"]["Selects/Day1/shot_a.png"]!);
        Assert.Null(ratings["ratings"]["Panel_01/shot_a.png"]);
        var files = project.GalleryJson()["files"]!;
        Assert.Equal([tag], files["Selects/Day1/shot_a.png"]!["tag_ids"]!.AsArray().Select(t => (int)t!));
    }

    [Fact]
    public async Task MoveFilesResolvesConflictsByRenameSkipOrOverwrite()
    {
        // Arrange
        var project = gallery.NewProject();
        project.Write("Panel_02/shot_a.png", [1, 2, 3]);
        project.Write("Panel_02/shot_b.png", [4, 5, 6]);
        await Client.RateAsync(project, "Panel_02/shot_b.png", 1);
        var original = File.ReadAllBytes(project.PathOf("Panel_01/shot_b.png"));

        // Act
        var renamed = await Client.GalleryPostAsync("move-files", new { project_path = project.Folder, file_paths = new[] { "Panel_01/shot_a.png" }, target_folder = "Panel_02", conflict = "rename" });
        project.Write("Panel_01/clip.mp4", [9]);
        project.Write("Panel_02/clip.mp4", [8]);
        var skipped = await Client.GalleryPostAsync("move-files", new { projectPath = project.Folder, files = new[] { "Panel_01/clip.mp4" }, destination = "Panel_02", conflict = "skip" });
        var overwritten = await Client.GalleryPostAsync("move-files", new { projectPath = project.Folder, files = new[] { "Panel_01/shot_b.png" }, destination = "Panel_02", conflict = "overwrite" });
        var unknown = await Client.GalleryPostAsync("move-files", new { projectPath = project.Folder, files = new[] { "Panel_01/still.jpg" }, destination = "Panel_02", conflict = "merge" });

        // Assert
        Assert.Equal(HttpStatusCode.OK, renamed.Status);
        Assert.Equal("Panel_02/shot_a_1.png", (string?)renamed["moved"][0]!["new_rel_path"]);
        Assert.True(project.Exists("Panel_02/shot_a_1.json"));
        Assert.Equal([1, 2, 3], File.ReadAllBytes(project.PathOf("Panel_02/shot_a.png")));
        Assert.Single(skipped["skipped"].AsArray());
        Assert.True(project.Exists("Panel_01/clip.mp4"));
        Assert.Equal(HttpStatusCode.OK, overwritten.Status);
        Assert.Equal(original, File.ReadAllBytes(project.PathOf("Panel_02/shot_b.png")));
        Assert.Empty(Directory.GetFiles(project.PathOf("Panel_02"), ".dc-*", new EnumerationOptions { AttributesToSkip = 0 }));
        var ratings = await Client.GalleryGetAsync($"ratings?projectPath={Q(project.Folder)}");
        Assert.Null(ratings["ratings"]["Panel_02/shot_b.png"]);
        Assert.Equal(HttpStatusCode.UnprocessableEntity, unknown.Status);
        Assert.True(project.Exists("Panel_01/still.jpg"));
    }

    [Fact]
    public async Task MoveFilesRefusesDestinationsOutsideTheProjectAndMissingSources()
    {
        // Arrange
        var project = gallery.NewProject();

        // Act
        var outside = await Client.GalleryPostAsync("move-files", new { projectPath = project.Folder, files = new[] { "Panel_01/shot_a.png" }, destination = gallery.Outside });
        var climbing = await Client.GalleryPostAsync("move-files", new { projectPath = project.Folder, files = new[] { "Panel_01/shot_a.png" }, destination = "../elsewhere" });
        var intoGallery = await Client.GalleryPostAsync("move-files", new { projectPath = project.Folder, files = new[] { "Panel_01/shot_a.png" }, destination = ".gallery" });
        var missing = await Client.GalleryPostAsync("move-files", new { projectPath = project.Folder, files = new[] { "Panel_01/shot_a.png", "Panel_01/none.png" }, destination = "Panel_02" });
        var empty = await Client.GalleryPostAsync("move-files", new { projectPath = project.Folder, files = Array.Empty<string>(), destination = "Panel_02" });

        // Assert
        Assert.Equal(HttpStatusCode.Forbidden, outside.Status);
        Assert.Equal(HttpStatusCode.Forbidden, climbing.Status);
        Assert.Equal(HttpStatusCode.Forbidden, intoGallery.Status);
        Assert.Equal(HttpStatusCode.NotFound, missing.Status);
        Assert.Equal(HttpStatusCode.UnprocessableEntity, empty.Status);
        Assert.True(project.Exists("Panel_01/shot_a.png"));
        Assert.Empty(Directory.GetFileSystemEntries(gallery.Outside));
    }

    [Fact]
    public async Task RenameFileKeepsRatingSidecarAndModificationTime()
    {
        // Arrange
        var project = gallery.NewProject();
        await Client.RateAsync(project, "Panel_01/shot_a.png", 3);
        var modified = new DateTime(2025, 5, 1, 12, 0, 0, DateTimeKind.Utc);
        File.SetLastWriteTimeUtc(project.PathOf("Panel_01/shot_a.png"), modified);

        // Act
        var answer = await Client.GalleryPostAsync("rename-file", new { projectPath = project.Folder, filePath = "Panel_01/shot_a.png", newName = "hero" });
        var exists = await Client.GalleryPostAsync("rename-file", new { projectPath = project.Folder, filePath = "Panel_01/hero.png", newName = "shot_b.png" });
        var invalid = await Client.GalleryPostAsync("rename-file", new { projectPath = project.Folder, filePath = "Panel_01/hero.png", newName = "../up.png" });

        // Assert
        Assert.Equal(HttpStatusCode.OK, answer.Status);
        Assert.Equal("Panel_01/hero.png", (string?)answer["rel_path"]);
        Assert.True(project.Exists("Panel_01/hero.json"));
        Assert.Equal(modified, File.GetLastWriteTimeUtc(project.PathOf("Panel_01/hero.png")));
        var ratings = await Client.GalleryGetAsync($"ratings?projectPath={Q(project.Folder)}");
        Assert.Equal(3, (int)ratings["ratings"]["Panel_01/hero.png"]!);
        Assert.Equal(HttpStatusCode.Conflict, exists.Status);
        Assert.Contains("already exists", exists.Detail);
        Assert.Equal(HttpStatusCode.UnprocessableEntity, invalid.Status);
        Assert.True(project.Exists("Panel_01/hero.png"));
    }

    [Fact]
    public async Task BatchRenameDryRunPreviewsTokensAndFindsClashesInTheBatchAndOnDisk()
    {
        // Arrange
        var project = gallery.NewProject();
        project.Write("Panel_01/taken_001.png", [1]);

        // Act
        var preview = await Client.GalleryPostAsync("batch-rename", new
        {
            projectPath = project.Folder,
            files = new[] { "Panel_01/shot_a.png", "Panel_01/shot_b.png" },
            template = "{project}_Panel{panel}_v{seq:3}_{ext}",
            startNumber = 7,
        });
        var clash = await Client.GalleryPostAsync("batch-rename", new
        {
            projectPath = project.Folder,
            files = new[] { "Panel_01/shot_a.png", "Panel_01/shot_b.png", "Panel_01/still.jpg" },
            mode = "regex",
            find = "^shot_[ab]$",
            replace = "same",
        });
        var onDisk = await Client.GalleryPostAsync("batch-rename", new
        {
            projectPath = project.Folder,
            file_paths = new[] { "Panel_01/shot_a.png" },
            pattern = "taken_{index}",
            dry_run = true,
        });
        var unknownToken = await Client.GalleryPostAsync("batch-rename", new { projectPath = project.Folder, files = new[] { "Panel_01/shot_a.png" }, template = "{name}_{index}" });

        // Assert
        Assert.Equal(HttpStatusCode.OK, preview.Status);
        var projectName = Path.GetFileName(project.Folder);
        Assert.Equal([$"{projectName}_Panel01_v007_png.png", $"{projectName}_Panel01_v008_png.png"],
            preview["previews"].AsArray().Select(p => (string?)p!["new_name"]));
        Assert.Equal(0, (int)preview["conflicts"]!);
        Assert.Equal(["inBatch", "inBatch", null], clash["previews"].AsArray().Select(p => (string?)p!["conflict"]));
        Assert.Equal("exists", (string?)onDisk["previews"][0]!["conflict"]);
        Assert.Equal(HttpStatusCode.UnprocessableEntity, unknownToken.Status);
        Assert.True(project.Exists("Panel_01/shot_a.png"));
        Assert.True(project.Exists("Panel_01/shot_b.png"));
    }

    [Fact]
    public async Task BatchRenameRealRunRenamesAllSwapsIncludedAndKeepsRatings()
    {
        // Arrange
        var project = gallery.NewProject();
        project.Write("Panel_01/one.png", [1]);
        project.Write("Panel_01/two.png", [2]);
        await Client.RateAsync(project, "Panel_01/one.png", 1);
        await Client.RateAsync(project, "Panel_01/two.png", 2);

        // Act: a regex that swaps the two names, and a sequential numbering
        var swap = await Client.GalleryPostAsync("batch-rename", new
        {
            projectPath = project.Folder,
            files = new[] { "Panel_01/one.png", "Panel_01/two.png" },
            mode = "regex",
            find = "^(one|two)$",
            replace = "x$1",
            dryRun = false,
        });
        var sequential = await Client.GalleryPostAsync("batch-rename", new
        {
            projectPath = project.Folder,
            files = new[] { "Panel_01/xone.png", "Panel_01/xtwo.png" },
            mode = "sequential",
            prefix = "take_",
            padWidth = 2,
            dryRun = false,
        });

        // Assert
        Assert.Equal(HttpStatusCode.OK, swap.Status);
        Assert.Equal(2, (int)swap["renamed"]!);
        Assert.Equal(HttpStatusCode.OK, sequential.Status);
        var names = Directory.GetFiles(project.PathOf("Panel_01"), "take_*").Select(Path.GetFileName).Order().ToList();
        Assert.Equal(["take_01.png", "take_02.png"], names);
        var ratings = (await Client.GalleryGetAsync($"ratings?projectPath={Q(project.Folder)}"))["ratings"];
        Assert.Equal(3, (int)ratings["Panel_01/take_01.png"]! + (int)ratings["Panel_01/take_02.png"]!);
    }

    [Fact]
    public async Task BatchRenameRealRunWithAClashRenamesNothing()
    {
        // Arrange
        var project = gallery.NewProject();
        project.Write("Panel_01/new_002.png", [1]);

        // Act
        var answer = await Client.GalleryPostAsync("batch-rename", new
        {
            projectPath = project.Folder,
            files = new[] { "Panel_01/shot_a.png", "Panel_01/shot_b.png" },
            template = "new_{index}",
            dryRun = false,
        });

        // Assert
        Assert.Equal(HttpStatusCode.Conflict, answer.Status);
        Assert.Contains("none was", answer.Detail);
        Assert.NotNull(answer["previews"]);
        Assert.True(project.Exists("Panel_01/shot_a.png"));
        Assert.True(project.Exists("Panel_01/shot_b.png"));
        Assert.False(project.Exists("Panel_01/new_001.png"));
    }

    [Fact]
    public async Task BatchRenameThatFailsMidwayPutsEveryFileBack()
    {
        // Arrange: the third move finds its target turned into a folder after the checks passed
        var project = gallery.NewProject();
        await using var service = new ServiceFactory<Program>(gallery.RedisConnectionString, gallery.Settings);
        using var client = service.WithWebHostBuilder(builder => builder.ConfigureTestServices(services =>
            services.AddSingleton<FileMoveExecutor>(sp => new TargetBecomesFolderExecutor(sp.GetRequiredService<ILogger<FileMoveExecutor>>(), failAtMove: 3)))).CreateClient();
        await client.RateAsync(project, "Panel_01/shot_a.png", 5);
        var before = Directory.GetFiles(project.PathOf("Panel_01")).Select(Path.GetFileName).Order().ToList();

        // Act
        var answer = await client.GalleryPostAsync("batch-rename", new
        {
            projectPath = project.Folder,
            files = new[] { "Panel_01/shot_a.png", "Panel_01/shot_b.png", "Panel_01/still.jpg" },
            template = "final_{index}",
            dryRun = false,
        });

        // Assert
        Assert.Equal(HttpStatusCode.Conflict, answer.Status);
        Assert.Contains("put back", answer.Detail);
        var after = Directory.GetFiles(project.PathOf("Panel_01")).Select(Path.GetFileName).Order().ToList();
        Assert.Equal(before, after);
        Assert.Empty(Directory.GetFiles(project.PathOf("Panel_01"), ".dc-*"));
        var ratings = await client.GalleryGetAsync($"ratings?projectPath={Q(project.Folder)}");
        Assert.Equal(5, (int)ratings["ratings"]["Panel_01/shot_a.png"]!);
    }

    [Fact]
    public async Task ARenameThatFailsAfterAnotherFileTookTheNameKeepsTheFileVisibleAndAnswers409()
    {
        // Arrange: while the image has its temporary name, something else creates a file under its name, and the
        // sidecar's move fails, so the image cannot go back where it was
        var project = gallery.NewProject();
        var original = await File.ReadAllBytesAsync(project.PathOf("Panel_01/shot_a.png"), TestContext.Current.CancellationToken);
        byte[] newcomer = [1, 2, 3];
        await using var service = new ServiceFactory<Program>(gallery.RedisConnectionString, gallery.Settings);
        using var client = service.WithWebHostBuilder(builder => builder.ConfigureTestServices(services =>
            services.AddSingleton<FileMoveExecutor>(sp => new NameTakenMeanwhileExecutor(
                sp.GetRequiredService<ILogger<FileMoveExecutor>>(), project.PathOf("Panel_01/shot_a.png"), newcomer)))).CreateClient();

        // Act
        var answer = await client.GalleryPostAsync("rename-file", new { projectPath = project.Folder, filePath = "Panel_01/shot_a.png", newName = "hero" });

        // Assert: a conflict, nothing lost and nothing hidden: the newcomer keeps the name, the image sits beside it
        Assert.Equal(HttpStatusCode.Conflict, answer.Status);
        Assert.Contains("kept as", answer.Detail);
        Assert.Equal(newcomer, await File.ReadAllBytesAsync(project.PathOf("Panel_01/shot_a.png"), TestContext.Current.CancellationToken));
        Assert.Equal(original, await File.ReadAllBytesAsync(project.PathOf("Panel_01/shot_a (kept 1).png"), TestContext.Current.CancellationToken));
        Assert.True(project.Exists("Panel_01/shot_a.json"));
        Assert.False(project.Exists("Panel_01/hero.png"));
        Assert.Empty(Directory.GetFiles(project.PathOf("Panel_01"), ".dc-*"));
    }

    [Fact]
    public async Task AutoRenameNumbersAWholeFolder()
    {
        // Arrange
        var project = gallery.NewProject();

        // Act
        var preview = await Client.GalleryPostAsync("auto-rename", new { projectPath = project.Folder, folderPath = "Panel_01" });
        var untouchedByPreview = project.Exists("Panel_01/shot_a.png");
        var real = await Client.GalleryPostAsync("auto-rename", new { projectPath = project.Folder, folderPath = "Panel_01", namingPattern = "{folder}_{index:02d}", dryRun = false });

        // Assert
        Assert.Equal(HttpStatusCode.OK, preview.Status);
        Assert.Equal(4, preview["previews"].AsArray().Count);
        Assert.All(preview["previews"].AsArray(), p => Assert.StartsWith("Panel_01_00", (string?)p!["new_name"]));
        Assert.True(untouchedByPreview);
        Assert.Equal(4, (int)real["renamed"]!);
        Assert.Equal(5, Directory.GetFiles(project.PathOf("Panel_01"), "Panel_01_0*").Length);
        Assert.Single(Directory.GetFiles(project.PathOf("Panel_01"), "Panel_01_0*.json"));
    }

    /// <summary>At the second move (the sidecar to its temporary name), writes <paramref name="newcomer"/> under
    /// <paramref name="takenName"/> (the image's name, free while the image has its temporary one) and fails.</summary>
    private sealed class NameTakenMeanwhileExecutor(ILogger<FileMoveExecutor> logger, string takenName, byte[] newcomer) : FileMoveExecutor(logger)
    {
        private int _moves;

        protected override void MoveOne(string projectRoot, string source, string target)
        {
            if (++_moves == 2)
            {
                File.WriteAllBytes(takenName, newcomer);
                throw new IOException("the sidecar vanished");
            }

            base.MoveOne(projectRoot, source, target);
        }
    }

    /// <summary>Creates a folder where the n-th move is going, just before it, so that move fails.</summary>
    private sealed class TargetBecomesFolderExecutor(ILogger<FileMoveExecutor> logger, int failAtMove) : FileMoveExecutor(logger)
    {
        private int _moves;

        protected override void MoveOne(string projectRoot, string source, string target)
        {
            if (++_moves == failAtMove + 4)
            {
                // Moves 1–4 give the three files and one sidecar their temporary names; then the targets follow.
                Directory.CreateDirectory(target);
            }

            base.MoveOne(projectRoot, source, target);
        }
    }
}
