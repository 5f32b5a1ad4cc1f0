using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using DirectorsConsole.ServiceDefaults.Access;
using DirectorsConsole.Testing;

namespace DirectorsConsole.Gateway.Tests;

/// <summary>
/// The render agents' routes (<c>/_worker/**</c>) at a gateway with clients and worker tokens configured: a worker token
/// is needed (401 without, 403 for a wrong one), a client token of any role does not open them, a worker token opens
/// nothing else; BackendService gets the worker id the token is bound to (<c>*</c> for the shared token) and never the
/// token or a worker id the caller sent itself.
/// </summary>
public sealed class WorkerAccessTests(AccessFixture gateway, GarnetFixture garnet) : IClassFixture<AccessFixture>
{
    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Fact]
    public async Task AMissingWorkerTokenIs401AndAWrongOne403()
    {
        // Act
        using var missing = await SendAsync(HttpMethod.Post, "/_worker/workers/register", workerToken: null);
        using var wrong = await SendAsync(HttpMethod.Post, "/_worker/workers/register", workerToken: "not-a-worker-token");

        // Assert
        Assert.Equal(HttpStatusCode.Unauthorized, missing.StatusCode);
        Assert.Contains("X-Worker-Token", missing.Headers.WwwAuthenticate.ToString(), StringComparison.Ordinal);
        Assert.Contains("worker token is required", await DetailAsync(missing), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.Forbidden, wrong.StatusCode);
        Assert.Contains("not valid", await DetailAsync(wrong), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(AccessFixture.ViewerToken)]
    [InlineData(AccessFixture.OperatorToken)]
    [InlineData(AccessFixture.AdminToken)]
    public async Task AClientTokenDoesNotOpenTheWorkerRoutes(string clientToken)
    {
        // Act: a client's token, in the client header and in the worker header.
        using var asClient = await SendAsync(HttpMethod.Get, "/_worker/workers/gpu-home/tasks/next", workerToken: null, clientToken: clientToken);
        using var asWorker = await SendAsync(HttpMethod.Get, "/_worker/workers/gpu-home/tasks/next", workerToken: clientToken);

        // Assert
        Assert.Equal(HttpStatusCode.Unauthorized, asClient.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, asWorker.StatusCode);
    }

    [Theory]
    [InlineData(AccessFixture.SharedWorkerToken)]
    [InlineData(AccessFixture.BoundWorkerToken)]
    public async Task AWorkerTokenOpensNothingElse(string workerToken)
    {
        // Act: the worker token where a client token goes, and in its own header on a client route.
        using var asClient = await SendAsync(HttpMethod.Get, "/api/jobs", workerToken: null, clientToken: workerToken);
        using var ownHeader = await SendAsync(HttpMethod.Get, "/api/jobs", workerToken: workerToken);

        // Assert
        Assert.Equal(HttpStatusCode.Forbidden, asClient.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, ownHeader.StatusCode);
    }

    [Theory]
    [InlineData(AccessFixture.SharedWorkerToken, "*")]
    [InlineData(AccessFixture.BoundWorkerToken, AccessFixture.BoundWorkerId)]
    public async Task BackendServiceGetsTheBoundWorkerIdAndNeverTheToken(string workerToken, string expectedId)
    {
        // Act: the caller also claims a worker id of its own choosing.
        using var response = await SendAsync(HttpMethod.Patch, "/_worker/workers/someone-else", workerToken, claimedWorkerId: "someone-else");

        // Assert
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var echo = (await response.Content.ReadFromJsonAsync<JsonObject>(Token))!;
        Assert.Equal("backend-service", (string?)echo["service"]);
        Assert.Equal(expectedId, (string?)echo["x_worker_id"]);
        Assert.Equal("", (string?)echo["x_worker_token"]);
        Assert.Equal(AccessFixture.GatewaySecret, (string?)echo["x_gateway_secret"]);
    }

    [Fact]
    public async Task AClientRouteNeverForwardsAWorkerIdTheCallerSent()
    {
        // Act
        using var response = await SendAsync(HttpMethod.Get, "/api/backends/node1", workerToken: null, clientToken: AccessFixture.ViewerToken, claimedWorkerId: "*");

        // Assert
        var echo = (await response.Content.ReadFromJsonAsync<JsonObject>(Token))!;
        Assert.Equal("", (string?)echo["x_worker_id"]);
    }

    [Fact]
    public async Task WithNoWorkerTokenConfiguredTheWorkerRoutesAreClosed()
    {
        // Arrange: the clients only.
        await using var service = await FakeService.StartAsync("backend-service", 0, Token);
        var settings = AccessFixture.ClientSettings(gateway.AdminTokenVariable);
        foreach (var key in settings.Keys.Where(key => key.StartsWith("worker", StringComparison.Ordinal)).ToList())
        {
            settings.Remove(key);
        }

        settings["clients:2:token_env"] = null;
        settings["clients:2:token_sha256"] = ClientTokenDigest.Hex(AccessFixture.AdminToken);
        settings["services:backend-service:http:0"] = service.Address.ToString();
        var (factory, client) = GatewayFixture.StartGateway(garnet, settings);
        await using var _ = factory;
        using var __ = client;

        // Act
        using var request = new HttpRequestMessage(HttpMethod.Post, "/_worker/workers/register");
        request.Headers.Add(AccessHeaders.WorkerToken, AccessFixture.SharedWorkerToken);
        using var response = await client.SendAsync(request, Token);

        // Assert
        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Contains("No worker tokens are configured", await DetailAsync(response), StringComparison.Ordinal);
    }

    private async Task<HttpResponseMessage> SendAsync(HttpMethod method, string path, string? workerToken, string? clientToken = null, string? claimedWorkerId = null)
    {
        using var request = new HttpRequestMessage(method, path);
        if (workerToken is not null)
        {
            request.Headers.Add(AccessHeaders.WorkerToken, workerToken);
        }

        if (clientToken is not null)
        {
            request.Headers.Add(AccessHeaders.ClientToken, clientToken);
        }

        if (claimedWorkerId is not null)
        {
            request.Headers.Add(AccessHeaders.WorkerId, claimedWorkerId);
        }

        return await gateway.Client.SendAsync(request, Token);
    }

    private static async Task<string> DetailAsync(HttpResponseMessage response) =>
        (string?)(await response.Content.ReadFromJsonAsync<JsonObject>(Token))?["detail"] ?? "";
}
