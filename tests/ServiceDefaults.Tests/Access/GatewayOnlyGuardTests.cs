using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using DirectorsConsole.ServiceDefaults.Access;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.Hosting;

namespace DirectorsConsole.ServiceDefaults.Tests.Access;

/// <summary>A service built with the real service defaults and a gateway secret: only requests carrying the secret
/// reach its endpoints; the probes need none.</summary>
public sealed class GatewayOnlyGuardTests : IAsyncLifetime
{
    private const string Secret = "a-secret-only-the-gateway-knows-42";
    private readonly string _folder = Directory.CreateTempSubdirectory("dc-guard-").FullName;
    private WebApplication _app = null!;
    private HttpClient _client = null!;

    public async ValueTask InitializeAsync()
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { EnvironmentName = "Production" });
        builder.WebHost.UseTestServer();
        builder.Configuration["ORCHESTRATOR_CONFIG"] = Path.Combine(_folder, "config.yaml");
        builder.Configuration["log_dir"] = Path.Combine(_folder, "logs");
        builder.Configuration["ConnectionStrings:redis"] = "127.0.0.1:1,connectTimeout=200,syncTimeout=500";
        builder.Configuration["gateway_secret"] = Secret;
        builder.AddServiceDefaults("guard-test");
        _app = builder.Build();
        _app.MapDefaultEndpoints();
        _app.MapPost("/api/things", (HttpRequest request) => TypedResults.Ok(new { client = request.Headers[AccessHeaders.ClientName].ToString() }));
        await _app.StartAsync(TestContext.Current.CancellationToken);
        _client = _app.GetTestClient();
    }

    public async ValueTask DisposeAsync()
    {
        _client.Dispose();
        await _app.DisposeAsync();
        Directory.Delete(_folder, recursive: true);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("a-secret-only-the-gateway-knows-43")]
    [InlineData("a-secret-only-the-gateway-knows-42 and more")]
    public async Task ARequestWithoutTheSecretIsRefusedWith403(string? presented)
    {
        // Arrange
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/things") { Content = JsonContent.Create(new { }) };
        if (presented is not null)
        {
            request.Headers.Add(AccessHeaders.GatewaySecret, presented);
        }

        // Act
        using var response = await _client.SendAsync(request, TestContext.Current.CancellationToken);

        // Assert
        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        var problem = (await response.Content.ReadFromJsonAsync<JsonObject>(TestContext.Current.CancellationToken))!;
        Assert.Contains("only requests forwarded by the gateway", (string?)problem["detail"]);
    }

    [Fact]
    public async Task ARequestWithTheSecretIsServed()
    {
        // Arrange
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/things") { Content = JsonContent.Create(new { }) };
        request.Headers.Add(AccessHeaders.GatewaySecret, Secret);
        request.Headers.Add(AccessHeaders.ClientName, "pipeline");

        // Act
        using var response = await _client.SendAsync(request, TestContext.Current.CancellationToken);

        // Assert
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("pipeline", (string?)(await response.Content.ReadFromJsonAsync<JsonObject>(TestContext.Current.CancellationToken))!["client"]);
    }

    [Theory]
    [InlineData("/alive")]
    [InlineData("/health")]
    public async Task ProbesNeedNoSecret(string path)
    {
        // Act
        using var response = await _client.GetAsync(path, TestContext.Current.CancellationToken);

        // Assert: answered by the health checks (Redis is down here, so /health may say so), never refused.
        Assert.NotEqual(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Contains("status", await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task TheOpenApiDocumentNeedsTheSecretToo()
    {
        // Act
        using var response = await _client.GetAsync("/openapi/v1.json", TestContext.Current.CancellationToken);

        // Assert
        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
    }
}
