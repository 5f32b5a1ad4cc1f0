using System.Net;
using System.Net.Http.Json;
using DirectorsConsole.ServiceDefaults.Access;
using DirectorsConsole.Testing;

namespace DirectorsConsole.Gateway.Tests;

/// <summary>Gateways started with other access settings: an anonymous role, no clients on a network address,
/// settings that cannot be used.</summary>
public sealed class AccessSettingsTests(GarnetFixture garnet)
{
    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Fact]
    public async Task AnAnonymousRoleLetsCallersWithoutATokenDoWhatItAllows()
    {
        // Arrange: a studio's web app sends no token, so anonymous callers read.
        await using var service = await FakeService.StartAsync("job-service", 0, Token);
        // A variable of this test's own: the class fixtures of other test classes clear theirs when they end.
        var adminTokenVariable = $"DC_TEST_ADMIN_TOKEN_{Guid.NewGuid():N}";
        var settings = AccessFixture.ClientSettings(adminTokenVariable);
        settings["anonymous_role"] = "viewer";
        settings["services:job-service:http:0"] = service.Address.ToString();
        Environment.SetEnvironmentVariable(adminTokenVariable, AccessFixture.AdminToken);
        var (factory, client) = GatewayFixture.StartGateway(garnet, settings);
        await using var _ = factory;
        using var __ = client;

        // Act
        var read = await client.GetFromJsonAsync<System.Text.Json.Nodes.JsonObject>("/api/jobs", Token);
        using var change = await client.PostAsJsonAsync("/api/job", new { }, Token);
        using var wrongToken = new HttpRequestMessage(HttpMethod.Get, "/api/jobs");
        wrongToken.Headers.Add(AccessHeaders.ClientToken, "not-a-token-of-anyone");
        using var wrong = await client.SendAsync(wrongToken, Token);

        // Assert: a change still needs a token; a wrong token is never taken for none.
        Assert.Equal("anonymous", (string?)read!["x_client_name"]);
        Assert.Equal("viewer", (string?)read["x_client_role"]);
        Assert.Equal(HttpStatusCode.Unauthorized, change.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, wrong.StatusCode);
    }

    [Fact]
    public void AGatewayWithoutClientsRefusesToListenOnTheNetwork()
    {
        // Arrange
        var settings = new Dictionary<string, string?>();
        using var factory = new ServiceFactory<Program>(garnet.ConnectionString, settings);
        factory.UseKestrel();

        // Act: refused before it binds (the address below is never listened on).
        var refused = Assert.ThrowsAny<Exception>(() =>
        {
            factory.WithWebHostBuilder(builder => builder.UseSetting("urls", "http://0.0.0.0:0")).StartServer();
        });

        // Assert
        Assert.Contains("allow_anonymous_network: true", refused.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void AGatewayWithUnusableClientsDoesNotStart()
    {
        // Arrange
        var settings = new Dictionary<string, string?>
        {
            ["urls"] = "http://127.0.0.1:0",
            ["gateway_secret"] = AccessFixture.GatewaySecret,
            ["clients:0:name"] = "ci",
            ["clients:0:role"] = "boss",
            ["clients:0:token_sha256"] = "abc",
            ["clients:1:name"] = "ops",
            ["clients:1:role"] = "admin",
            ["clients:1:token_env"] = $"DC_TEST_UNSET_{Guid.NewGuid():N}",
        };
        using var factory = new ServiceFactory<Program>(garnet.ConnectionString, settings);
        factory.UseKestrel();

        // Act
        var refused = Assert.ThrowsAny<Exception>(factory.StartServer).ToString();

        // Assert: every problem is named at once.
        Assert.Contains("'role' must be viewer, operator or admin, not 'boss'", refused, StringComparison.Ordinal);
        Assert.Contains("64 hexadecimal digits", refused, StringComparison.Ordinal);
        Assert.Contains("is not set", refused, StringComparison.Ordinal);
    }
}
