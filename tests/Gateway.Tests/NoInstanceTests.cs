using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using DirectorsConsole.Testing;

namespace DirectorsConsole.Gateway.Tests;

/// <summary>A gateway started before (or without) any service: routes exist and say why they cannot answer.</summary>
public sealed class NoInstanceTests(GarnetFixture garnet)
{
    [Fact]
    public async Task ServiceWithoutInstancesAnswers503AndHealthSaysSo()
    {
        // Arrange
        var (factory, client) = GatewayFixture.StartGateway(garnet, []);
        await using var _ = factory;
        using var __ = client;

        // Act
        using var response = await client.PutAsync("/api/path-mappings/m1", null, TestContext.Current.CancellationToken);
        var health = (await client.GetFromJsonAsync<JsonObject>("/health", TestContext.Current.CancellationToken))!;
        var document = (await client.GetFromJsonAsync<JsonObject>("/openapi.json", TestContext.Current.CancellationToken))!;

        // Assert
        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.NotNull(response.Headers.RetryAfter);
        var problem = (await response.Content.ReadFromJsonAsync<JsonObject>(TestContext.Current.CancellationToken))!;
        Assert.Equal("path-service has no live instance", (string?)problem["detail"]);
        Assert.Equal("degraded", (string?)health["status"]);
        Assert.Equal("no_instances", (string?)health["services"]!["path-service"]);
        Assert.Equal(0, (int)health["backends_online"]!);
        Assert.Contains("path-service (no instance configured)", (string?)document["info"]!["description"]);
        Assert.True(document["paths"]!.AsObject().ContainsKey("/health"));
    }
}
