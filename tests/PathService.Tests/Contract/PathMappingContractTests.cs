using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using DirectorsConsole.PathService.Tests.Api;
using DirectorsConsole.Testing;

namespace DirectorsConsole.PathService.Tests.Contract;

/// <summary>
/// The path-mapping dialog of the original Director's Console web app, request for request: it lists the
/// mappings, adds one with empty prefixes, then PUTs the whole mapping on every
/// keystroke, tests a translation and deletes. Every field it reads is checked with its JSON type.
/// </summary>
public sealed class PathMappingContractTests(GarnetFixture garnet) : IClassFixture<GarnetFixture>
{
    [Fact]
    public async Task TheDialogListsMappingsWithTheServersOs()
    {
        // Arrange
        var ct = TestContext.Current.CancellationToken;
        await using var factory = new ServiceFactory<Program>(garnet.ConnectionString);
        using var client = factory.CreateClient();
        await AddAsync(client, "Mapping 1", ct);

        // Act
        using var response = await client.GetAsync("/api/path-mappings", ct);

        // Assert
        Assert.True(response.IsSuccessStatusCode);
        var body = await response.ReadJsonAsync(ct);
        Assert.Equal(JsonValueKind.String, body["current_os"]!.GetValueKind());
        Assert.Contains((string)body["current_os"]!, new[] { "windows", "linux", "macos" });
        var mappings = body["mappings"]!.AsArray();
        Assert.NotEmpty(mappings);
        Assert.All(mappings, AssertMappingShape);
    }

    [Fact]
    public async Task AddCreatesAMappingWithEmptyPrefixesEvenWhenTheNameRepeats()
    {
        // Arrange
        var ct = TestContext.Current.CancellationToken;
        await using var factory = new ServiceFactory<Program>(garnet.ConnectionString);
        using var client = factory.CreateClient();

        // Act: "Mapping N" counts the mappings shown, so after a delete the app asks for a name that exists.
        var first = await AddAsync(client, "Mapping 2", ct);
        var second = await AddAsync(client, "Mapping 2", ct);

        // Assert
        foreach (var mapping in new[] { first, second })
        {
            AssertMappingShape(mapping);
            Assert.Equal("Mapping 2", (string?)mapping["name"]);
            Assert.Equal("", (string?)mapping["windows"]);
            Assert.Equal("", (string?)mapping["linux"]);
            Assert.Equal("", (string?)mapping["macos"]);
            Assert.True((bool)mapping["enabled"]!);
        }

        Assert.NotEqual((string?)first["id"], (string?)second["id"]);
    }

    [Fact]
    public async Task EveryKeystrokeIsSavedAndTheFinishedMappingTranslates()
    {
        // Arrange
        var ct = TestContext.Current.CancellationToken;
        await using var factory = new ServiceFactory<Program>(garnet.ConnectionString);
        using var client = factory.CreateClient();
        var token = PathServiceClient.Unique();
        var mapping = await AddAsync(client, "Mapping 1", ct);
        var id = (string)mapping["id"]!;
        var state = new Dictionary<string, object?>
        {
            ["name"] = "Mapping 1", ["windows"] = "", ["linux"] = "", ["macos"] = "", ["enabled"] = true,
        };
        var statuses = new List<HttpStatusCode>();

        // Act: the name cleared and retyped, then each prefix typed one character at a time.
        foreach (var (field, text) in new[] { ("name", $"Nas {token}"), ("windows", $"\\\\nas-{token}\\share"), ("linux", $"/mnt/{token}") })
        {
            for (var length = field == "name" ? 0 : 1; length <= text.Length; length++)
            {
                state[field] = text[..length];
                using var put = await client.PutAsJsonAsync($"/api/path-mappings/{id}", state, ct);
                statuses.Add(put.StatusCode);
            }
        }

        using var test = await client.PostAsJsonAsync("/api/translate-path", new { path = $"\\\\nas-{token}\\share\\Film\\shot.png" }, ct);
        using var listed = await client.GetAsync("/api/path-mappings", ct);

        // Assert
        Assert.All(statuses, status => Assert.Equal(HttpStatusCode.OK, status));
        Assert.True(test.IsSuccessStatusCode);
        var translation = await test.ReadJsonAsync(ct);
        Assert.Equal(JsonValueKind.String, translation["translated"]!.GetValueKind());
        var expected = OperatingSystem.IsWindows() ? $"\\\\nas-{token}\\share\\Film\\shot.png" : $"/mnt/{token}/Film/shot.png";
        Assert.Equal(expected, (string?)translation["translated"]);
        var stored = (await listed.ReadJsonAsync(ct))["mappings"]!.AsArray().Single(m => (string?)m!["id"] == id)!;
        Assert.Equal($"Nas {token}", (string?)stored["name"]);
        Assert.Equal($"/mnt/{token}", (string?)stored["linux"]);
    }

    [Fact]
    public async Task TheToggleAndDeleteButtonsWork()
    {
        // Arrange
        var ct = TestContext.Current.CancellationToken;
        await using var factory = new ServiceFactory<Program>(garnet.ConnectionString);
        using var client = factory.CreateClient();
        var mapping = await AddAsync(client, "Mapping 3", ct);
        var id = (string)mapping["id"]!;

        // Act
        using var toggled = await client.PutAsJsonAsync($"/api/path-mappings/{id}",
            new { name = "Mapping 3", windows = "", linux = "", macos = "", enabled = false }, ct);
        using var deleted = await client.DeleteAsync($"/api/path-mappings/{id}", ct);
        using var again = await client.DeleteAsync($"/api/path-mappings/{id}", ct);

        // Assert
        Assert.True(toggled.IsSuccessStatusCode);
        Assert.False((bool)(await toggled.ReadJsonAsync(ct))["mapping"]!["enabled"]!);
        Assert.True(deleted.IsSuccessStatusCode);
        Assert.Equal(HttpStatusCode.NotFound, again.StatusCode);
        Assert.Equal(JsonValueKind.String, (await again.ReadJsonAsync(ct))["detail"]!.GetValueKind());
    }

    [Fact]
    public async Task TestingAPathWithNoMappingAnswersThePath()
    {
        // Arrange
        var ct = TestContext.Current.CancellationToken;
        await using var factory = new ServiceFactory<Program>(garnet.ConnectionString);
        using var client = factory.CreateClient();
        var path = $"/srv/{PathServiceClient.Unique()}/x";

        // Act
        using var response = await client.PostAsJsonAsync("/api/translate-path", new { path }, ct);

        // Assert
        Assert.True(response.IsSuccessStatusCode);
        var body = await response.ReadJsonAsync(ct);
        Assert.Equal(JsonValueKind.String, body["translated"]!.GetValueKind());
        Assert.Equal(JsonValueKind.String, body["original"]!.GetValueKind());
        Assert.Equal(JsonValueKind.String, body["current_os"]!.GetValueKind());
    }

    // The body the app's Add button sends.
    private static async Task<JsonNode> AddAsync(HttpClient client, string name, CancellationToken cancellationToken)
    {
        using var response = await client.PostAsJsonAsync("/api/path-mappings",
            new { name, windows = "", linux = "", macos = "", enabled = true }, cancellationToken);
        Assert.True(response.IsSuccessStatusCode, $"Add answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync(cancellationToken)}");
        return (await response.ReadJsonAsync(cancellationToken))["mapping"]!;
    }

    private static void AssertMappingShape(JsonNode? mapping)
    {
        Assert.NotNull(mapping);
        foreach (var field in new[] { "id", "name", "windows", "linux", "macos" })
        {
            Assert.Equal(JsonValueKind.String, mapping[field]!.GetValueKind());
        }

        Assert.Contains(mapping["enabled"]!.GetValueKind(), new[] { JsonValueKind.True, JsonValueKind.False });
    }
}
