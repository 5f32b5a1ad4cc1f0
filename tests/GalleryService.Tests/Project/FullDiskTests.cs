using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using DirectorsConsole.Testing;
using Xunit;

namespace DirectorsConsole.GalleryService.Tests.Project;

/// <summary>A project root on a real 1 MiB tmpfs that the test fills (the tests run as root, here and in CI).</summary>
public sealed class FullDiskEnvironment : IAsyncLifetime
{
    private readonly GarnetFixture _garnet = new();

    public string MountPoint { get; } = Directory.CreateTempSubdirectory("dc-gallery-tmpfs-").FullName;

    /// <summary>Why the tmpfs could not be mounted; null when it is.</summary>
    public string? MountFailure { get; private set; }

    public ServiceFactory<Program> Service { get; private set; } = null!;

    public HttpClient Client { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        await _garnet.InitializeAsync();
        var (exitCode, output) = await RunAsync("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", MountPoint);
        MountFailure = exitCode == 0 ? null : $"mount -t tmpfs failed ({exitCode}): {output}";
        Service = new ServiceFactory<Program>(_garnet.ConnectionString, new Dictionary<string, string?> { ["project_roots"] = MountPoint });
        Client = Service.CreateClient();
    }

    /// <summary>Writes a file until the disk says it is full.</summary>
    public void Fill()
    {
        var buffer = new byte[64 * 1024];
        using var filler = new FileStream(Path.Combine(MountPoint, "filler.bin"), FileMode.CreateNew, FileAccess.Write, FileShare.None, 1);
        try
        {
            while (true)
            {
                filler.Write(buffer);
            }
        }
        catch (IOException)
        {
            // Full.
        }
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await Service.DisposeAsync();
        await _garnet.DisposeAsync();
        if (MountFailure is null)
        {
            await RunAsync("umount", MountPoint);
        }

        Directory.Delete(MountPoint, recursive: true);
    }

    private static async Task<(int ExitCode, string Output)> RunAsync(string command, params string[] arguments)
    {
        var start = new ProcessStartInfo(command) { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        try
        {
            using var process = Process.Start(start)!;
            var output = await process.StandardError.ReadToEndAsync() + await process.StandardOutput.ReadToEndAsync();
            await process.WaitForExitAsync();
            return (process.ExitCode, output.Trim());
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            return (-1, ex.Message);
        }
    }
}

/// <summary>
/// On a full disk, project and gallery writes are refused with 507 and a detail naming the folder; the previous
/// file stays as it was and no temporary file is left behind.
/// </summary>
public sealed class FullDiskTests(FullDiskEnvironment environment) : IClassFixture<FullDiskEnvironment>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task WritesOnAFullDiskAre507AndLoseNothing()
    {
        Assert.SkipWhen(environment.MountFailure is not null, environment.MountFailure ?? "");

        // Arrange: a project with a saved project file, a rated image and its gallery.json, then a full disk
        var project = Path.Combine(environment.MountPoint, "Film");
        Directory.CreateDirectory(project);
        await File.WriteAllBytesAsync(Path.Combine(project, "shot.png"), TestPng.WithPrompt("shot"), Ct);
        using (var saved = await environment.Client.PostAsJsonAsync("/api/save-project", new { folderPath = project, filename = "project.json", state = new { panels = new[] { 1 } } }, Ct))
        {
            Assert.Equal(HttpStatusCode.OK, saved.StatusCode);
        }

        using (var rated = await environment.Client.PostAsJsonAsync("/api/gallery/ratings", new { projectPath = project, filePath = "shot.png", rating = 4 }, Ct))
        {
            Assert.Equal(HttpStatusCode.OK, rated.StatusCode);
        }

        var projectFile = await File.ReadAllBytesAsync(Path.Combine(project, "project.json"), Ct);
        var galleryFile = await File.ReadAllBytesAsync(Path.Combine(project, ".gallery", "gallery.json"), Ct);
        environment.Fill();

        // Act
        using var saveProject = await environment.Client.PostAsJsonAsync("/api/save-project",
            new { folderPath = project, filename = "project.json", state = new { panels = new[] { 1, 2 }, notes = new string('n', 200_000) } }, Ct);
        using var saveImage = await environment.Client.PostAsJsonAsync("/api/save-base64-image",
            new { dataUrl = "data:image/png;base64," + Convert.ToBase64String(TestPng.WithPrompt(new string('p', 300_000))), folderPath = project, filename = "new.png" }, Ct);
        using var rate = await environment.Client.PostAsJsonAsync("/api/gallery/ratings", new { projectPath = project, filePath = "shot.png", rating = 5 }, Ct);

        // Assert
        foreach (var response in new[] { saveProject, saveImage, rate })
        {
            Assert.Equal(HttpStatusCode.InsufficientStorage, response.StatusCode);
            var detail = (string?)(await ProjectEnvironment.ReadJsonAsync(response))["detail"];
            Assert.Contains($"disk under {project}", detail, StringComparison.Ordinal);
        }

        Assert.Equal(projectFile, await File.ReadAllBytesAsync(Path.Combine(project, "project.json"), Ct));
        Assert.Equal(galleryFile, await File.ReadAllBytesAsync(Path.Combine(project, ".gallery", "gallery.json"), Ct));
        Assert.False(File.Exists(Path.Combine(project, "new.png")));
        Assert.Empty(Directory.GetFiles(project, "*.tmp", SearchOption.AllDirectories));
    }
}
