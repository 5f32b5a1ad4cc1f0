using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using DirectorsConsole.Testing;

namespace DirectorsConsole.Gateway.Tests;

public sealed class HealthTests(GatewayFixture gateway) : IClassFixture<GatewayFixture>
{
    [Fact]
    public async Task HealthGoesDegradedWhileAServiceIsDownAndRecovers()
    {
        // Arrange
        var pathService = gateway.Replica("path-service");
        var healthy = await gateway.GetJsonAsync("/health");

        // Act
        await pathService.StopAsync();
        var degraded = await gateway.GetJsonAsync("/api/health");
        await pathService.StartAsync(TestContext.Current.CancellationToken);
        var recovered = await gateway.GetJsonAsync("/health");

        // Assert
        Assert.Equal("healthy", (string?)healthy["status"]);
        Assert.Equal("orchestrator-api", (string?)healthy["service"]);
        Assert.Equal(FakeService.OnlineBackends, (int)healthy["backends_online"]!);
        Assert.EndsWith("+00:00", (string?)healthy["timestamp"]);
        Assert.All(healthy["services"]!.AsObject(), service => Assert.Equal("healthy", (string?)service.Value));
        Assert.Empty(healthy["failing"]!.AsArray());
        Assert.Equal(2, healthy["instances"]!["job-service"]!.AsArray().Count);

        Assert.Equal("degraded", (string?)degraded["status"]);
        Assert.Equal(["path-service"], degraded["failing"]!.AsArray().Select(name => (string?)name));
        Assert.Equal("unhealthy", (string?)degraded["services"]!["path-service"]);
        Assert.Equal("unreachable", (string?)degraded["instances"]!["path-service"]![0]!["status"]);
        Assert.Equal("healthy", (string?)degraded["services"]!["job-service"]);

        Assert.Equal("healthy", (string?)recovered["status"]);
    }

    [Fact]
    public async Task ServiceWithNoLiveReplicaAnswers503NamingIt()
    {
        // Arrange
        var backend = gateway.Replica("backend-service");
        await backend.StopAsync();

        try
        {
            // Act: the request is held for restart_hold_seconds, then answered.
            using var response = await gateway.Client.GetAsync("/api/backends/node1", TestContext.Current.CancellationToken);

            // Assert
            Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
            Assert.NotNull(response.Headers.RetryAfter);
            var problem = (await response.Content.ReadFromJsonAsync<JsonObject>(TestContext.Current.CancellationToken))!;
            Assert.StartsWith("backend-service has no live instance", (string?)problem["detail"]);
        }
        finally
        {
            await backend.StartAsync(TestContext.Current.CancellationToken);
        }

        using var recovered = await Eventually.ReturnsAsync(
            () => gateway.Client.GetAsync("/api/backends/node1", TestContext.Current.CancellationToken),
            r => r.StatusCode == HttpStatusCode.OK);
        Assert.Equal(HttpStatusCode.OK, recovered.StatusCode);
    }
}
