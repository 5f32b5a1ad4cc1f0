using System.Net;
using System.Net.Http.Json;
using DirectorsConsole.ServiceDefaults.Paths;
using DirectorsConsole.Messaging;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace DirectorsConsole.GalleryService.Tests.Project;

/// <summary>A path mapping <c>W:\</c> = the test root, stored in Redis as PathService stores it.</summary>
public sealed class MappedEnvironment : ProjectEnvironment
{
    public override async ValueTask InitializeAsync()
    {
        await base.InitializeAsync();
        var redis = Service.Services.GetRequiredService<IRedisConnection>();
        var mapping = new PathMapping("map-w", "Test share", "W:\\", Root, "/Volumes/Share", Enabled: true);
        await redis.HashSetAsync(PathMappingKeys.Mappings, mapping.Id, PathMappingRedis.Serialize(mapping), TestContext.Current.CancellationToken);
        await redis.StringIncrementAsync(PathMappingKeys.Version, cancellationToken: TestContext.Current.CancellationToken);
    }
}

public sealed class PathTranslationTests(MappedEnvironment environment) : IClassFixture<MappedEnvironment>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task AWindowsPathOfTheProjectReachesTheLinuxFolder()
    {
        // Act
        using var response = await environment.Client.PostAsJsonAsync("/api/scan-folder-images", new { folderPath = "W:\\Eliot\\Panel_01" }, Ct);

        // Assert
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await ProjectEnvironment.ReadJsonAsync(response);
        Assert.Equal(Path.Combine(environment.ProjectFolder, "Panel_01"), (string?)body["folder_path"]);
        Assert.Contains(body["images"]!.AsArray(), i => (string?)i!["filename"] == "Eliot_Panel01_v001.png");
    }

    [Fact]
    public async Task OsWindowsAnswersWithWindowsPaths()
    {
        // Act
        using var response = await environment.Client.PostAsJsonAsync("/api/scan-folder-images?os=windows", new { folderPath = "W:\\Eliot\\Panel_01" }, Ct);
        using var request = new HttpRequestMessage(HttpMethod.Get, "/api/project");
        request.Headers.Add("X-Client-OS", "windows");
        using var project = await environment.Client.SendAsync(request, Ct);
        using var mac = await environment.Client.GetAsync("/api/project?os=macos", Ct);

        // Assert
        var body = await ProjectEnvironment.ReadJsonAsync(response);
        Assert.Equal("W:\\Eliot\\Panel_01", (string?)body["folder_path"]);
        Assert.Contains(body["images"]!.AsArray(), i => (string?)i!["image_path"] == "W:\\Eliot\\Panel_01\\Eliot_Panel01_v001.png");
        Assert.Equal("W:\\Eliot", (string?)(await ProjectEnvironment.ReadJsonAsync(project))["project"]!["path"]);
        Assert.Equal("/Volumes/Share/Eliot", (string?)(await ProjectEnvironment.ReadJsonAsync(mac))["project"]!["path"]);
    }

    [Fact]
    public async Task AWindowsPathServesTheFileAndAMappedTraversalIsStillRefused()
    {
        // Act
        using var image = await environment.Client.GetAsync("/api/serve-image?path=" + Uri.EscapeDataString("w:\\Eliot\\Panel_01\\Eliot_Panel01_v001.png"), Ct);
        using var escape = await environment.Client.GetAsync("/api/serve-image?path=" + Uri.EscapeDataString("W:\\Eliot\\..\\..\\outside\\outside.png"), Ct);
        using var unmapped = await environment.Client.GetAsync("/api/serve-image?path=" + Uri.EscapeDataString("\\\\server\\share\\Eliot\\x.png"), Ct);

        // Assert
        Assert.Equal(HttpStatusCode.OK, image.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, escape.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, unmapped.StatusCode);
        Assert.Contains("no path mapping", (string?)(await ProjectEnvironment.ReadJsonAsync(unmapped))["detail"], StringComparison.Ordinal);
    }
}
