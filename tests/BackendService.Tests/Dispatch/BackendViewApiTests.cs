using System.Net;
using System.Text.Json.Nodes;

namespace DirectorsConsole.BackendService.Tests.Dispatch;

/// <summary>The view proxy's answers when the request or the node is not right.</summary>
public sealed class BackendViewApiTests
{
    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Fact]
    public async Task ProxyRefusesBadPathsAndReportsMissingFilesUnknownBackendsAndDeadNodes()
    {
        // Arrange
        await using var rig = await DispatchRig.StartAsync();
        using var client = rig.Replicas[0].CreateClient();
        var view = $"/api/backends/{DispatchRig.BackendId(0)}/view";

        // Act
        using var traversal = await client.GetAsync($"{view}?filename=..%2Fsecret.png", Token);
        using var absolute = await client.GetAsync($"{view}?filename=%2Fetc%2Fpasswd", Token);
        using var escapingSubfolder = await client.GetAsync($"{view}?filename=a.png&subfolder=..%2F..", Token);
        using var unknownBackend = await client.GetAsync("/api/backends/no-such-node/view?filename=a.png", Token);
        using var missingFile = await client.GetAsync($"{view}?filename=never_written.png&type=output", Token);
        using var openApi = await client.GetAsync("/openapi/v1.json", Token);
        await rig.Emulators[0].KillAsync();
        using var deadNode = await client.GetAsync($"{view}?filename=a.png", Token);

        // Assert
        Assert.Equal(HttpStatusCode.UnprocessableEntity, traversal.StatusCode);
        Assert.Equal("filename", (string?)JsonNode.Parse(await traversal.Content.ReadAsStringAsync(Token))!["detail"]![0]!["loc"]![1]);
        Assert.Equal(HttpStatusCode.UnprocessableEntity, absolute.StatusCode);
        Assert.Equal(HttpStatusCode.UnprocessableEntity, escapingSubfolder.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, unknownBackend.StatusCode);
        Assert.Contains("no-such-node", (string?)JsonNode.Parse(await unknownBackend.Content.ReadAsStringAsync(Token))!["detail"]);
        Assert.Equal(HttpStatusCode.NotFound, missingFile.StatusCode);
        Assert.Contains("never_written.png", (string?)JsonNode.Parse(await missingFile.Content.ReadAsStringAsync(Token))!["detail"]);
        Assert.Equal(HttpStatusCode.BadGateway, deadNode.StatusCode);
        Assert.Contains("cannot be reached", (string?)JsonNode.Parse(await deadNode.Content.ReadAsStringAsync(Token))!["detail"]);
        var document = JsonNode.Parse(await openApi.Content.ReadAsStringAsync(Token))!;
        var operation = document["paths"]!["/api/backends/{id}/view"]!["get"]!;
        Assert.Equal("ViewBackendFile", (string?)operation["operationId"]);
        Assert.Equal("Backends", (string?)operation["tags"]![0]);
    }
}
