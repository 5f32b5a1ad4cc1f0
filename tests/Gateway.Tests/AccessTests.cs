using System.Net;
using System.Net.Http.Json;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json.Nodes;
using DirectorsConsole.Gateway.Access;
using DirectorsConsole.ServiceDefaults.Access;
using DirectorsConsole.Testing;
using Microsoft.Extensions.Options;

namespace DirectorsConsole.Gateway.Tests;

/// <summary>
/// Access through a gateway with clients configured: every public path of API docs 1–5 needs a token (401 without,
/// 403 with a wrong one), a viewer only reads, an operator also changes things, an admin also reaches the debug
/// routes; the services get the caller's name and role and the gateway's secret but never the token; WebSockets
/// may carry the token as a subprotocol or a query parameter; no token shows in a log or a span.
/// </summary>
public sealed class AccessTests(AccessFixture gateway) : IClassFixture<AccessFixture>
{
    /// <summary>Routes that need no token at all.</summary>
    private static readonly HashSet<(string, string)> Public =
    [
        ("GET", "/_public/metrics"),
        ("POST", "/_public/webhooks/approval/0f6b2a9e"),
    ];

    /// <summary>Reads the original's clients send as POST: a viewer may call them.</summary>
    private static readonly string[] ReadsSentAsPost =
    [
        "/api/gallery/scan-tree", "/api/gallery/scan-folder", "/api/gallery/scan-recursive", "/api/gallery/file-info",
        "/api/gallery/search", "/api/gallery/find-duplicates", "/api/gallery/folder-stats", "/api/load-project",
        "/api/scan-project-images", "/api/scan-project-panels", "/api/scan-folder-images", "/api/translate-path",
    ];

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    /// <summary>Every client route (the render agents' routes take worker tokens: <see cref="WorkerAccessTests"/>).</summary>
    public static TheoryData<string, string, string> SpecPaths
    {
        get
        {
            var paths = new TheoryData<string, string, string>();
            foreach (var row in RoutingTests.SpecPaths)
            {
                var (method, path, service) = row.Data;
                if (!path.StartsWith("/_worker/", StringComparison.Ordinal))
                {
                    paths.Add(method, path, service);
                }
            }

            return paths;
        }
    }

    [Theory]
    [MemberData(nameof(SpecPaths))]
    public async Task EveryRouteAnswersEachRoleAsTheTableSays(string method, string path, string service)
    {
        // Arrange
        var isPublic = Public.Contains((method, path));
        var isDebug = path.StartsWith("/_public/debug/", StringComparison.Ordinal);
        var viewerMay = method == "GET" || ReadsSentAsPost.Contains(path);

        // Act
        using var anonymous = await SendAsync(method, path, token: null);
        using var wrong = await SendAsync(method, path, "not-a-token-of-anyone");
        using var viewer = await SendAsync(method, path, AccessFixture.ViewerToken);
        using var @operator = await SendAsync(method, path, AccessFixture.OperatorToken);
        using var admin = await SendAsync(method, path, AccessFixture.AdminToken);

        // Assert
        await AssertAnswerAsync(anonymous, isPublic ? HttpStatusCode.OK : HttpStatusCode.Unauthorized, service);
        await AssertAnswerAsync(wrong, isPublic ? HttpStatusCode.OK : HttpStatusCode.Forbidden, service);
        await AssertAnswerAsync(viewer, isPublic || (viewerMay && !isDebug) ? HttpStatusCode.OK : HttpStatusCode.Forbidden, service);
        await AssertAnswerAsync(@operator, isDebug ? HttpStatusCode.Forbidden : HttpStatusCode.OK, service);
        await AssertAnswerAsync(admin, HttpStatusCode.OK, service);
        if (!isPublic)
        {
            Assert.Equal(ClientTokenAuthenticationHandler.Challenge, anonymous.Headers.WwwAuthenticate.ToString());
        }
    }

    [Theory]
    [InlineData("/health")]
    [InlineData("/api/health")]
    [InlineData("/health/self")]
    [InlineData("/alive")]
    [InlineData("/_public/status")]
    [InlineData("/openapi.json")]
    [InlineData("/docs/index.html")]
    [InlineData("/redoc/index.html")]
    public async Task TheGatewaysOwnPublicRoutesNeedNoToken(string path)
    {
        // Act
        using var response = await gateway.Client.GetAsync(path, Token);

        // Assert
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task PublicDocsLeadToTheDocumentationWithoutAToken()
    {
        // Act
        using var response = await gateway.Client.GetAsync("/_public/docs", Token);

        // Assert: the redirect to Swagger UI was followed, without a token either.
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/html", response.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task AnUnknownApiPathNeedsATokenBeforeItIsA404()
    {
        // Act
        using var anonymous = await SendAsync("GET", "/api/nothing-here", token: null);
        using var viewer = await SendAsync("GET", "/api/nothing-here", AccessFixture.ViewerToken);

        // Assert
        Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, viewer.StatusCode);
    }

    [Fact]
    public async Task TheServiceGetsTheCallerAndTheSecretButNeverTheToken()
    {
        // Arrange: a client trying to pass for the gateway and for an admin.
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/job");
        request.Headers.Add(AccessHeaders.ClientToken, AccessFixture.OperatorToken);
        request.Headers.Add(AccessHeaders.ClientName, "ops");
        request.Headers.Add(AccessHeaders.ClientRole, "admin");
        request.Headers.Add(AccessHeaders.GatewaySecret, "forged-secret-value-123456");

        // Act
        using var response = await gateway.Client.SendAsync(request, Token);
        var echo = (await response.Content.ReadFromJsonAsync<JsonObject>(Token))!;

        // Assert
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("pipeline", (string?)echo["x_client_name"]);
        Assert.Equal("operator", (string?)echo["x_client_role"]);
        Assert.Equal(AccessFixture.GatewaySecret, (string?)echo["x_gateway_secret"]);
        Assert.Equal("", (string?)echo["x_client_token"]);
    }

    [Theory]
    [InlineData(AccessFixture.OperatorToken, "operator")]
    [InlineData(AccessFixture.ViewerToken, "viewer")]
    [InlineData(null, "none")]
    public async Task TheOpenApprovalRouteStillForwardsTheRoleOfATokenItWasGiven(string? token, string forwardedRole)
    {
        // Arrange: the approval route needs no token, but JobService accepts an operator's decision without the
        // job's signed link, so the role must be the token's and never one the caller claims.
        using var request = new HttpRequestMessage(HttpMethod.Post, "/_public/webhooks/approval/0f6b2a9e");
        if (token is not null)
        {
            request.Headers.Add(AccessHeaders.ClientToken, token);
        }

        request.Headers.Add(AccessHeaders.ClientRole, "admin");

        // Act
        using var response = await gateway.Client.SendAsync(request, Token);
        var echo = (await response.Content.ReadFromJsonAsync<JsonObject>(Token))!;

        // Assert
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(forwardedRole, (string?)echo["x_client_role"]);
        Assert.Equal("", (string?)echo["x_client_token"]);
    }

    [Fact]
    public async Task RefusalsSayWhatTheRouteNeedsWithoutRepeatingTheToken()
    {
        // Act
        using var missing = await SendAsync("POST", "/api/job", token: null);
        using var wrong = await SendAsync("POST", "/api/job", "wrong-token-3b1f");
        using var low = await SendAsync("POST", "/api/job", AccessFixture.ViewerToken);

        // Assert
        var missingDetail = await DetailAsync(missing);
        Assert.Contains("X-Client-Token", missingDetail);
        Assert.Contains("needs the role 'operator'", missingDetail);
        var wrongDetail = await DetailAsync(wrong);
        Assert.Contains("not valid", wrongDetail);
        Assert.DoesNotContain("wrong-token-3b1f", wrongDetail);
        Assert.Contains("'dashboard' has the role 'viewer'", await DetailAsync(low));
    }

    [Fact]
    public async Task AWebSocketMayCarryItsTokenAsASubprotocolWhichIsChosenBack()
    {
        // Arrange
        using var socket = new ClientWebSocket();
        socket.Options.AddSubProtocol(AccessFixture.ViewerToken);

        // Act
        await socket.ConnectAsync(WebSocketUri("/ws/job-groups/jg_1/inspect?since=3"), Token);
        var received = await ReceiveJsonAsync(socket);

        // Assert: a browser accepts the handshake only when the server names one of the offered protocols.
        Assert.Equal(AccessFixture.ViewerToken, socket.SubProtocol);
        Assert.Equal("", (string?)received["sec_websocket_protocol"]);
        Assert.Equal("?since=3", (string?)received["query"]);
        Assert.Equal("dashboard", (string?)received["x_client_name"]);
        await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, null, Token);
    }

    [Fact]
    public async Task AWebSocketMayCarryItsTokenInTheQueryWhichTheServiceNeverSees()
    {
        // Arrange
        using var socket = new ClientWebSocket();

        // Act
        await socket.ConnectAsync(WebSocketUri($"/ws/job-groups/jg_1/inspect?since=3&token={AccessFixture.OperatorToken}"), Token);
        var received = await ReceiveJsonAsync(socket);

        // Assert
        Assert.Equal("?since=3", (string?)received["query"]);
        Assert.Equal("operator", (string?)received["x_client_role"]);
        await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, null, Token);
    }

    [Theory]
    [InlineData(null, HttpStatusCode.Unauthorized)]
    [InlineData("not-a-token-of-anyone", HttpStatusCode.Forbidden)]
    public async Task AWebSocketWithoutAValidTokenIsRefusedBeforeTheHandshake(string? subprotocol, HttpStatusCode expected)
    {
        // Arrange
        using var socket = new ClientWebSocket();
        socket.Options.CollectHttpResponseDetails = true;
        if (subprotocol is not null)
        {
            socket.Options.AddSubProtocol(subprotocol);
        }

        // Act
        await Assert.ThrowsAsync<WebSocketException>(() => socket.ConnectAsync(WebSocketUri("/ws/job-groups/jg_1"), Token));

        // Assert
        Assert.Equal(expected, socket.HttpStatusCode);
    }

    [Fact]
    public async Task NoTokenIsWrittenToALogOrASpan()
    {
        // Arrange: each token in each place a client may put it.
        string[] tokens = [AccessFixture.ViewerToken, AccessFixture.OperatorToken, AccessFixture.AdminToken];
        using (var header = await SendAsync("POST", "/api/jobs/0f6b2a9e/cancel", AccessFixture.AdminToken))
        {
            Assert.Equal(HttpStatusCode.OK, header.StatusCode);
        }

        using (var socket = new ClientWebSocket())
        {
            socket.Options.AddSubProtocol(AccessFixture.ViewerToken);
            await socket.ConnectAsync(WebSocketUri("/ws/job-groups/jg_2"), Token);
            await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, null, Token);
        }

        using (var socket = new ClientWebSocket())
        {
            await socket.ConnectAsync(WebSocketUri($"/ws/job-groups/jg_3?token={AccessFixture.OperatorToken}"), Token);
            await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, null, Token);
        }

        // Act: the spans of those requests have ended once the gateway logged them.
        var spans = await Eventually.ReturnsAsync(
            () => Task.FromResult(gateway.Spans.All),
            all => all.Count(span => span.Contains("/ws/job-groups/jg_", StringComparison.Ordinal)) >= 2);
        var logs = gateway.Logs.Messages;

        // Assert
        Assert.NotEmpty(logs);
        foreach (var token in tokens)
        {
            Assert.DoesNotContain(logs, message => message.Contains(token, StringComparison.Ordinal));
            Assert.DoesNotContain(spans, span => span.Contains(token, StringComparison.Ordinal));
        }
    }

    [Fact]
    public void ATokenIsFoundOnlyWhenEveryByteOfItsDigestMatches()
    {
        // Arrange
        var clients = new ClientDirectory(new AccessOptions
        {
            Clients = [new ClientOptions { Name = "ci", Role = "operator", TokenSha256 = ClientTokenDigest.Hex("secret-token-a") }],
            GatewaySecret = AccessFixture.GatewaySecret,
        }, _ => null);

        // Act + Assert: near misses at either end, other lengths and the empty token are all no one.
        Assert.Equal("ci", clients.Find("secret-token-a")?.Name);
        Assert.Null(clients.Find("secret-token-b"));
        Assert.Null(clients.Find("Secret-token-a"));
        Assert.Null(clients.Find("secret-token-a "));
        Assert.Null(clients.Find(""));
        Assert.Null(clients.Find(new string('x', 100_000)));
    }

    [Theory]
    [InlineData("GET", "/api/jobs", ClientRole.Viewer)]
    [InlineData("HEAD", "/api/serve-image", ClientRole.Viewer)]
    [InlineData("POST", "/api/jobs", ClientRole.Operator)]
    [InlineData("PUT", "/api/some/route/added/later", ClientRole.Operator)]
    [InlineData("GET", "/api/v1/admin/reload-workers", ClientRole.Admin)]
    [InlineData("GET", "/_public/DEBUG/anything", ClientRole.Admin)]
    [InlineData("POST", "//_public//debug/flush_db", ClientRole.Admin)]
    [InlineData("GET", "/_public/status", ClientRole.None)]
    [InlineData("GET", "/HEALTH/", ClientRole.None)]
    [InlineData("POST", "/health", ClientRole.Operator)]
    [InlineData("POST", "/_public/webhooks/approval/abc", ClientRole.None)]
    [InlineData("POST", "/api/gallery/search", ClientRole.Viewer)]
    [InlineData("POST", "/api/gallery/search/extra", ClientRole.Operator)]
    public void TheTableCoversRoutesItDoesNotName(string method, string path, ClientRole required) =>
        Assert.Equal(required, AccessRules.RequiredRole(method, path));

    private Task<HttpResponseMessage> SendAsync(string method, string path, string? token)
    {
        var request = new HttpRequestMessage(new HttpMethod(method), path);
        if (token is not null)
        {
            request.Headers.Add(AccessHeaders.ClientToken, token);
        }

        if (method is "POST" or "PUT" or "PATCH")
        {
            request.Content = JsonContent.Create(new { name = "x" });
        }

        return gateway.Client.SendAsync(request, Token);
    }

    private static async Task AssertAnswerAsync(HttpResponseMessage response, HttpStatusCode expected, string service)
    {
        var body = await response.Content.ReadFromJsonAsync<JsonObject>(Token);
        Assert.True(expected == response.StatusCode, $"{response.RequestMessage?.Method} {response.RequestMessage?.RequestUri}: expected {expected}, got {response.StatusCode} {body?.ToJsonString()}");
        if (expected == HttpStatusCode.OK)
        {
            Assert.Equal(service, (string?)body?["service"]);
        }
        else
        {
            Assert.IsType<string>((string?)body?["detail"]);
        }
    }

    private static async Task<string> DetailAsync(HttpResponseMessage response) =>
        (string)(await response.Content.ReadFromJsonAsync<JsonObject>(Token))!["detail"]!;

    private Uri WebSocketUri(string pathAndQuery) => new($"ws://{gateway.GatewayAddress.Authority}{pathAndQuery}");

    private static async Task<JsonObject> ReceiveJsonAsync(ClientWebSocket socket)
    {
        var buffer = new byte[16 * 1024];
        var received = await socket.ReceiveAsync(buffer, Token);
        return JsonNode.Parse(Encoding.UTF8.GetString(buffer, 0, received.Count))!.AsObject();
    }
}
