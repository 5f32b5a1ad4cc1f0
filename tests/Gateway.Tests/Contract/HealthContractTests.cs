using System.Net;
using System.Text.Json;
using DirectorsConsole.Testing;

namespace DirectorsConsole.Gateway.Tests.Contract;

/// <summary>The web app's orchestrator check (its project manager's health check): <c>GET /api/health</c> must be a
/// 200 whose <c>status</c> is <c>healthy</c> or <c>degraded</c>, the original's words, or the app shows the
/// orchestrator as offline.</summary>
public sealed class HealthContractTests(GatewayFixture gateway) : IClassFixture<GatewayFixture>
{
    [Fact]
    public async Task TheHealthCheckSaysHealthyWithATimestampBothClientsRead()
    {
        // Act
        using var response = await gateway.Client.GetAsync("/api/health", TestContext.Current.CancellationToken);
        var body = await gateway.GetJsonAsync("/api/health");

        // Assert
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("healthy", (string?)WireAssert.Kind(body, "status", JsonValueKind.String));
        Assert.Equal("orchestrator-api", (string?)WireAssert.Kind(body, "service", JsonValueKind.String));
        WireAssert.IsoTimestamp(body, "timestamp");
    }
}
