using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;

namespace DirectorsConsole.Gateway.Tests;

public sealed class FailoverTests(GatewayFixture gateway) : IClassFixture<GatewayFixture>
{
    [Fact]
    public async Task StoppedReplicaIsSkipped()
    {
        // Arrange
        await gateway.Replica("job-service", 1).StopAsync();

        // Act: at most one request (the first sent to the stopped replica) meets the refused connection.
        var answers = new List<(HttpStatusCode Status, int? Replica)>();
        for (var i = 0; i < 20; i++)
        {
            using var response = await gateway.Client.GetAsync("/api/jobs", TestContext.Current.CancellationToken);
            var body = await response.Content.ReadFromJsonAsync<JsonObject>(TestContext.Current.CancellationToken);
            answers.Add((response.StatusCode, (int?)body?["replica"]));
        }

        // Assert
        Assert.True(answers.Count(a => a.Status != HttpStatusCode.OK) <= 1, string.Join(", ", answers));
        Assert.All(answers.Where(a => a.Status == HttpStatusCode.OK), a => Assert.Equal(0, a.Replica));
    }

    [Fact]
    public async Task RefusedConnectionAnswers502NamingTheService()
    {
        // Arrange: gallery-service has a single replica, so the request that finds it gone cannot go elsewhere.
        await gateway.Replica("gallery-service").StopAsync();

        // Act
        using var response = await gateway.Client.PostAsync("/api/gallery/search", null, TestContext.Current.CancellationToken);

        // Assert
        var problem = (await response.Content.ReadFromJsonAsync<JsonObject>(TestContext.Current.CancellationToken))!;
        Assert.True(response.StatusCode is HttpStatusCode.BadGateway or HttpStatusCode.ServiceUnavailable, response.StatusCode.ToString());
        Assert.Contains((string?)problem["detail"], new[] { "gallery-service refused the connection", "gallery-service has no live instance" });
    }
}
