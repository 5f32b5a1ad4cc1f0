using System.Net.Http.Json;
using System.Text.Json.Nodes;
using DirectorsConsole.Testing;
using Xunit;

namespace DirectorsConsole.GalleryService.Tests.Paths;

/// <summary>The default root is created at start so a fresh suite can hold projects; a configured root that is
/// missing (a share not mounted) is reported, never created in its place.</summary>
public sealed class ProjectRootsStartupTests(GarnetFixture garnet) : IClassFixture<GarnetFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task TheDefaultRootIsCreatedAtStartAndOffered()
    {
        // Arrange
        await using var service = new ServiceFactory<Program>(garnet.ConnectionString);
        var root = Path.Combine(service.DataDirectory, "projects");

        // Act
        using var client = service.CreateClient();
        var roots = await client.GetFromJsonAsync<JsonObject>("/api/browse-folders", Ct);
        var log = await ReadLogAsync(service, root);

        // Assert
        Assert.True(Directory.Exists(root));
        Assert.Equal([root], roots!["items"]!.AsArray().Select(item => (string?)item!["path"]));
        Assert.Contains($"Project root: {root} (the default", log, StringComparison.Ordinal);
        using var created = await client.PostAsJsonAsync("/api/create-folder", new { parentPath = root, folderName = "First" }, Ct);
        Assert.Equal(System.Net.HttpStatusCode.Created, created.StatusCode);
        Assert.True(Directory.Exists(Path.Combine(root, "First")));
    }

    [Fact]
    public async Task AMissingConfiguredRootIsReportedAndNotCreated()
    {
        // Arrange
        var present = Directory.CreateTempSubdirectory("dc-roots-").FullName;
        var missing = Path.Combine(present + "-unmounted", "Projects");
        await using var service = new ServiceFactory<Program>(garnet.ConnectionString,
            new Dictionary<string, string?> { ["project_roots"] = string.Join(Path.PathSeparator, present, missing) });

        // Act
        using var client = service.CreateClient();
        var roots = await client.GetFromJsonAsync<JsonObject>("/api/browse-folders", Ct);
        var log = await ReadLogAsync(service, missing);

        // Assert
        Assert.False(Directory.Exists(missing));
        Assert.False(Directory.Exists(Path.Combine(service.DataDirectory, "projects")));
        Assert.Equal([present], roots!["items"]!.AsArray().Select(item => (string?)item!["path"]));
        Assert.Contains($"Project roots (project_roots / ORCHESTRATOR_PROJECT_ROOTS): {present}, {missing}", log, StringComparison.Ordinal);
        Assert.Contains($"fail DirectorsConsole.GalleryService.Paths.ProjectRootsStartup: The configured project root {missing} does not exist", log, StringComparison.Ordinal);
        Directory.Delete(present);
    }

    // The log file is written in the background; wait until it names the root.
    private static Task<string> ReadLogAsync(ServiceFactory<Program> service, string root) =>
        Eventually.ReturnsAsync(
            async () =>
            {
                var file = Path.Combine(service.LogDirectory, "gallery-service.log");
                if (!File.Exists(file))
                {
                    return "";
                }

                await using var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
                return await new StreamReader(stream).ReadToEndAsync(Ct);
            },
            text => text.Contains(root, StringComparison.Ordinal));
}
