using System.Net;
using System.Net.Http.Json;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json.Nodes;
using DirectorsConsole.Testing;

namespace DirectorsConsole.Gateway.Tests;

public sealed class FailoverTests(GatewayFixture gateway, GarnetFixture garnet) : IClassFixture<GatewayFixture>
{
    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Fact]
    public async Task StoppedReplicaIsSkippedWithoutAnyFailedRequest()
    {
        // Arrange
        var stopped = gateway.Replica("job-service", 1);
        await stopped.StopAsync();

        // Act: POSTs with a body, so the one that meets the refused connection must be sent again whole.
        var answers = new List<(HttpStatusCode Status, int? Replica, long? BodyLength)>();
        for (var i = 0; i < 20; i++)
        {
            using var response = await gateway.Client.PostAsync("/api/job", new StringContent($"{{\"n\":{i}}}", Encoding.UTF8, "application/json"), Token);
            var body = await response.Content.ReadFromJsonAsync<JsonObject>(Token);
            answers.Add((response.StatusCode, (int?)body?["replica"], (long?)body?["body_length"]));
        }

        var webSocketEchoes = new List<string>();
        for (var i = 0; i < 5; i++)
        {
            using var socket = new ClientWebSocket();
            await socket.ConnectAsync(new Uri($"ws://{gateway.GatewayAddress.Authority}/ws/job-groups/jg_{i}"), Token);
            await socket.SendAsync(Encoding.UTF8.GetBytes("ping"), WebSocketMessageType.Text, true, Token);
            var buffer = new byte[64];
            var received = await socket.ReceiveAsync(buffer, Token);
            webSocketEchoes.Add(Encoding.UTF8.GetString(buffer, 0, received.Count));
            await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, null, Token);
        }

        await stopped.StartAsync(Token);

        // Assert
        Assert.All(answers, a => Assert.Equal((HttpStatusCode.OK, 0), (a.Status, a.Replica)));
        Assert.All(answers.Select((a, i) => (a.BodyLength, Expected: (long)$"{{\"n\":{i}}}".Length)), a => Assert.Equal(a.Expected, a.BodyLength));
        Assert.All(webSocketEchoes, echo => Assert.Equal("ping", echo));
    }

    [Fact]
    public async Task RestartedReplicaIsBackInRotation()
    {
        // Arrange: a refused connection takes the replica out of rotation.
        var replica = gateway.Replica("job-service", 1);
        await replica.StopAsync();
        for (var i = 0; i < 5; i++)
        {
            using var _ = await gateway.Client.GetAsync("/api/jobs", Token);
        }

        // Act
        await replica.StartAsync(Token);
        var answeredBy = await Eventually.ReturnsAsync(
            async () => (int?)(await gateway.GetJsonAsync("/api/jobs"))["replica"],
            answered => answered == 1);

        // Assert
        Assert.Equal(1, answeredBy);
    }

    [Fact]
    public async Task ServiceThatStaysDownAnswers503WithRetryAfterAfterTheHold()
    {
        // Arrange: gallery-service has a single replica, so the request that finds it gone cannot go elsewhere.
        await gateway.Replica("gallery-service").StopAsync();

        // Act
        using var response = await gateway.Client.PostAsync("/api/gallery/search", null, Token);

        // Assert
        var problem = (await response.Content.ReadFromJsonAsync<JsonObject>(Token))!;
        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.NotNull(response.Headers.RetryAfter);
        Assert.StartsWith("gallery-service has no live instance", (string?)problem["detail"]);
        Assert.Equal("gallery-service", (string?)problem["service"]);
    }

    [Fact]
    public async Task PostIsHeldWhileTheOnlyReplicaRestartsAndDeliveredOnce()
    {
        // Arrange: a gateway of its own with a long hold, in front of one path-service replica that is down.
        await using var service = await FakeService.StartAsync("path-service", 0, Token);
        var (factory, client) = GatewayFixture.StartGateway(garnet, new Dictionary<string, string?>
        {
            ["services:path-service:http:0"] = service.Address.ToString(),
            ["restart_hold_seconds"] = "60",
        });
        await using var _ = factory;
        using var __ = client;
        await service.StopAsync();
        var body = new string('x', 200_000);

        // Act
        var pending = client.PostAsync("/api/path-mappings", new StringContent(body, Encoding.UTF8, "application/json"), Token);
        await Task.Delay(TimeSpan.FromMilliseconds(500), Token);
        var answeredWhileDown = pending.IsCompleted;
        await service.StartAsync(Token);
        using var response = await pending;

        // Assert
        Assert.False(answeredWhileDown, "the gateway answered while the only replica was down");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var echo = (await response.Content.ReadFromJsonAsync<JsonObject>(Token))!;
        Assert.Equal(body.Length, (long?)echo["body_length"]);
        Assert.Equal("path-service", (string?)echo["service"]);
    }
}
