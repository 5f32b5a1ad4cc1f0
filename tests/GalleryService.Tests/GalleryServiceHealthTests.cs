using System.Net;
using System.Text.Json.Nodes;
using DirectorsConsole.Testing;

namespace DirectorsConsole.GalleryService.Tests;

public sealed class GalleryServiceHealthTests(GarnetFixture garnet) : IClassFixture<GarnetFixture>
{
    [Fact]
    public async Task HealthReportsReadyWithRedis()
    {
        // Arrange
        await using var factory = new ServiceFactory<Program>(garnet.ConnectionString);
        using var client = factory.CreateClient();

        // Act
        using var response = await client.GetAsync("/health", TestContext.Current.CancellationToken);

        // Assert
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = JsonNode.Parse(await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken))!;
        Assert.Equal("healthy", (string?)body["status"]);
        Assert.Equal("gallery-service", (string?)body["service"]);
        Assert.Equal("healthy", (string?)body["checks"]!["redis"]!["status"]);
    }

    [Fact]
    public async Task AliveAndOpenApiAnswer()
    {
        // Arrange
        await using var factory = new ServiceFactory<Program>(garnet.ConnectionString);
        using var client = factory.CreateClient();

        // Act
        using var alive = await client.GetAsync("/alive", TestContext.Current.CancellationToken);
        using var openApi = await client.GetAsync("/openapi/v1.json", TestContext.Current.CancellationToken);

        // Assert
        Assert.Equal(HttpStatusCode.OK, alive.StatusCode);
        Assert.Equal(HttpStatusCode.OK, openApi.StatusCode);
        Assert.Equal("gallery-service", (string?)JsonNode.Parse(await openApi.Content.ReadAsStringAsync(TestContext.Current.CancellationToken))!["info"]!["title"]);
    }

    [Fact]
    public async Task LogFileIsWrittenUnderLogDir()
    {
        // Arrange
        await using var factory = new ServiceFactory<Program>(garnet.ConnectionString);
        using var client = factory.CreateClient();

        // Act
        using var response = await client.GetAsync("/alive", TestContext.Current.CancellationToken);

        // Assert
        Assert.True(File.Exists(Path.Combine(factory.LogDirectory, "gallery-service.log")));
    }
}
