using System.Net;
using System.Text.Json.Nodes;
using Xunit;

namespace DirectorsConsole.Testing;

/// <summary>
/// What every service must do once it joins the suite: report ready with Redis on <c>/health</c>, answer
/// <c>/alive</c> and its OpenAPI document, and write its log file under <c>log_dir</c>. Each service's test
/// project derives from this with its own <c>Program</c> and resource name.
/// </summary>
public abstract class ServiceHealthTests<TProgram>(GarnetFixture garnet, string serviceName) where TProgram : class
{
    [Fact]
    public async Task HealthReportsReadyWithRedis()
    {
        // Arrange
        await using var factory = new ServiceFactory<TProgram>(garnet.ConnectionString);
        using var client = factory.CreateClient();

        // Act
        using var response = await client.GetAsync("/health", TestContext.Current.CancellationToken);

        // Assert
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = JsonNode.Parse(await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken))!;
        Assert.Equal("healthy", (string?)body["status"]);
        Assert.Equal(serviceName, (string?)body["service"]);
        Assert.Equal("healthy", (string?)body["checks"]!["redis"]!["status"]);
    }

    [Fact]
    public async Task AliveAndOpenApiAnswer()
    {
        // Arrange
        await using var factory = new ServiceFactory<TProgram>(garnet.ConnectionString);
        using var client = factory.CreateClient();

        // Act
        using var alive = await client.GetAsync("/alive", TestContext.Current.CancellationToken);
        using var openApi = await client.GetAsync("/openapi/v1.json", TestContext.Current.CancellationToken);

        // Assert
        Assert.Equal(HttpStatusCode.OK, alive.StatusCode);
        Assert.Equal(HttpStatusCode.OK, openApi.StatusCode);
        var document = JsonNode.Parse(await openApi.Content.ReadAsStringAsync(TestContext.Current.CancellationToken))!;
        Assert.Equal(serviceName, (string?)document["info"]!["title"]);
    }

    [Fact]
    public async Task LogFileIsWrittenUnderLogDir()
    {
        // Arrange
        await using var factory = new ServiceFactory<TProgram>(garnet.ConnectionString);
        using var client = factory.CreateClient();

        // Act
        using var response = await client.GetAsync("/alive", TestContext.Current.CancellationToken);

        // Assert
        Assert.True(File.Exists(Path.Combine(factory.LogDirectory, $"{serviceName}.log")));
    }
}
