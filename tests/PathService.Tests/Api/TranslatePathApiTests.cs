using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using DirectorsConsole.ServiceDefaults.Paths;
using DirectorsConsole.Testing;

namespace DirectorsConsole.PathService.Tests.Api;

public sealed class TranslatePathApiTests(GarnetFixture garnet) : IClassFixture<GarnetFixture>
{
    [Theory]
    [InlineData("windows", "linux", "\\\\nas-{0}\\share\\VFX\\shot_010", "/mnt/{0}/VFX/shot_010")]
    [InlineData("linux", "windows", "/mnt/{0}/VFX/", "\\\\nas-{0}\\share\\VFX")]
    [InlineData("linux", "darwin", "/mnt/{0}/VFX", "/Volumes/{0}/VFX")]
    [InlineData("windows", "MacOS", "//nas-{0}/share/a/../b", "/Volumes/{0}/b")]
    public async Task TranslatesWithTheStoredMappings(string sourceOs, string targetOs, string path, string expected)
    {
        // Arrange
        var ct = TestContext.Current.CancellationToken;
        await using var factory = new ServiceFactory<Program>(garnet.ConnectionString);
        using var client = factory.CreateClient();
        var token = PathServiceClient.Unique();
        var mapping = await client.CreateMappingAsync(token, ct);
        var input = string.Format(path, token);

        // Act
        using var response = await client.PostAsJsonAsync("/api/translate-path", new { path = input, target_os = targetOs }, ct);

        // Assert
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await response.ReadJsonAsync(ct);
        Assert.Equal(input, (string?)body["original"]);
        Assert.Equal(string.Format(expected, token), (string?)body["translated"]);
        Assert.Equal((string?)mapping["id"], (string?)body["mapping_id"]);
        Assert.Equal(PathOs.Current.WireName, (string?)body["current_os"]);
        Assert.True(PathOs.TryParseName(targetOs, out var target));
        Assert.Equal(target.WireName, (string?)body["target_os"]);
        Assert.Equal(sourceOs, (string?)body["source_os"]);
    }

    [Fact]
    public async Task TranslatesForThisServersOperatingSystemWhenNoTargetIsGiven()
    {
        // Arrange
        var ct = TestContext.Current.CancellationToken;
        await using var factory = new ServiceFactory<Program>(garnet.ConnectionString);
        using var client = factory.CreateClient();
        var token = PathServiceClient.Unique();
        await client.CreateMappingAsync(token, ct);
        var expected = new PathTranslator([new PathMapping("x", "x", $"\\\\nas-{token}\\share", $"/mnt/{token}", $"/Volumes/{token}", true)])
            .ToLocal($"\\\\nas-{token}\\share\\renders").Path;

        // Act
        using var response = await client.PostAsJsonAsync("/api/translate-path", new { path = $"\\\\nas-{token}\\share\\renders" }, ct);

        // Assert
        var body = await response.ReadJsonAsync(ct);
        Assert.Equal(expected, (string?)body["translated"]);
        Assert.Equal(PathOs.Current.WireName, (string?)body["target_os"]);
    }

    [Fact]
    public async Task ReturnsAPathNoMappingMatchesUnchangedWithoutAMapping()
    {
        // Arrange
        var ct = TestContext.Current.CancellationToken;
        await using var factory = new ServiceFactory<Program>(garnet.ConnectionString);
        using var client = factory.CreateClient();
        var path = $"/nowhere/{PathServiceClient.Unique()}/x";

        // Act
        using var response = await client.PostAsJsonAsync("/api/translate-path", new { path, target_os = "windows" }, ct);

        // Assert
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await response.ReadJsonAsync(ct);
        Assert.Equal(path, (string?)body["translated"]);
        Assert.Null(body["mapping_id"]);
        Assert.True(body.AsObject().ContainsKey("mapping_id"));
    }

    [Fact]
    public async Task IgnoresDisabledMappings()
    {
        // Arrange
        var ct = TestContext.Current.CancellationToken;
        await using var factory = new ServiceFactory<Program>(garnet.ConnectionString);
        using var client = factory.CreateClient();
        var token = PathServiceClient.Unique();
        var mapping = await client.CreateMappingAsync(token, ct);
        await client.PutAsJsonAsync($"/api/path-mappings/{mapping["id"]}",
            new { name = $"Share {token}", linux = $"/mnt/{token}", macos = $"/Volumes/{token}", enabled = false }, ct);

        // Act
        using var response = await client.PostAsJsonAsync("/api/translate-path", new { path = $"/mnt/{token}/x", target_os = "macos" }, ct);

        // Assert
        var body = await response.ReadJsonAsync(ct);
        Assert.Equal($"/mnt/{token}/x", (string?)body["translated"]);
        Assert.Null(body["mapping_id"]);
    }

    [Fact]
    public async Task AnUnknownTargetOperatingSystemIsAValidationError()
    {
        // Arrange
        var ct = TestContext.Current.CancellationToken;
        await using var factory = new ServiceFactory<Program>(garnet.ConnectionString);
        using var client = factory.CreateClient();

        // Act
        using var response = await client.PostAsJsonAsync("/api/translate-path", new { path = "/mnt/x", target_os = "beos" }, ct);

        // Assert
        Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
        var error = Assert.Single((await response.ReadJsonAsync(ct))["detail"]!.AsArray())!;
        Assert.Equal("enum", (string?)error["type"]);
        Assert.Equal(["body", "target_os"], error["loc"]!.AsArray().Select(part => (string?)part));
        Assert.Equal("beos", (string?)error["input"]);
    }

    [Theory]
    [InlineData("renders/shot_010", "relative")]
    [InlineData("C:/x\\..", "mixes")]
    [InlineData("/..", "climbs above the root")]
    [InlineData("\\\\server", "no share")]
    public async Task AMalformedPathIsAValidationErrorWithTheReason(string path, string reason)
    {
        // Arrange
        var ct = TestContext.Current.CancellationToken;
        await using var factory = new ServiceFactory<Program>(garnet.ConnectionString);
        using var client = factory.CreateClient();

        // Act
        using var response = await client.PostAsJsonAsync("/api/translate-path", new { path, target_os = "linux" }, ct);

        // Assert
        Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
        var error = Assert.Single((await response.ReadJsonAsync(ct))["detail"]!.AsArray())!;
        Assert.Equal("value_error", (string?)error["type"]);
        Assert.Equal(["body", "path"], error["loc"]!.AsArray().Select(part => (string?)part));
        Assert.Contains(reason, (string?)error["msg"]);
        Assert.Equal(path, (string?)error["input"]);
    }

    [Fact]
    public async Task AMissingPathIsReportedAsAMissingField()
    {
        // Arrange
        var ct = TestContext.Current.CancellationToken;
        await using var factory = new ServiceFactory<Program>(garnet.ConnectionString);
        using var client = factory.CreateClient();

        // Act
        using var response = await client.PostAsJsonAsync("/api/translate-path", new { target_os = "linux" }, ct);

        // Assert
        Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
        var error = Assert.Single((await response.ReadJsonAsync(ct))["detail"]!.AsArray())!;
        Assert.Equal("missing", (string?)error["type"]);
        Assert.Equal(["body", "path"], error["loc"]!.AsArray().Select(part => (string?)part));
    }

    [Fact]
    public async Task UsesAMappingSavedThroughAnotherReplicaAtOnce()
    {
        // Arrange
        var ct = TestContext.Current.CancellationToken;
        await using var first = new ServiceFactory<Program>(garnet.ConnectionString);
        await using var second = new ServiceFactory<Program>(garnet.ConnectionString);
        using var firstClient = first.CreateClient();
        using var secondClient = second.CreateClient();
        var token = PathServiceClient.Unique();
        using var warmUp = await secondClient.PostAsJsonAsync("/api/translate-path", new { path = $"/mnt/{token}/x", target_os = "macos" }, ct);

        // Act
        var mapping = await firstClient.CreateMappingAsync(token, ct);
        using var response = await secondClient.PostAsJsonAsync("/api/translate-path", new { path = $"/mnt/{token}/x", target_os = "macos" }, ct);

        // Assert
        Assert.Null((await warmUp.ReadJsonAsync(ct))["mapping_id"]);
        var body = await response.ReadJsonAsync(ct);
        Assert.Equal($"/Volumes/{token}/x", (string?)body["translated"]);
        Assert.Equal((string?)mapping["id"], (string?)body["mapping_id"]);
    }
}
