using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using DirectorsConsole.ServiceDefaults.Paths;
using DirectorsConsole.Messaging;
using DirectorsConsole.Testing;

namespace DirectorsConsole.PathService.Tests.Api;

/// <summary>Each test has its own Redis, since the import happens once per Redis database.</summary>
public sealed class PathMappingImportTests
{
    private const string OriginalFile = """
        {
          "version": 1,
          "mappings": [
            {"id": "0b7e2a8c-5f1e-4c1a-9d55-1c2b3a4d5e6f", "name": "Mandalore", "windows": "W:\\", "linux": "/mnt/Mandalore", "macos": "/Volumes/Mandalore", "enabled": true},
            {"id": "7c9d0e1f-2a3b-4c5d-8e9f-0a1b2c3d4e5f", "name": "Kessel", "windows": "R:\\", "linux": "/mnt/Kessel", "macos": "", "enabled": false},
            {"id": "1a2b3c4d-5e6f-4a1b-8c2d-3e4f5a6b7c8d", "name": "Dagobah", "windows": "Z:\\", "linux": "/mnt/Dagobah", "macos": "/Volumes/Dagobah"},
            {"id": "2b3c4d5e-6f7a-4b2c-9d3e-4f5a6b7c8d9e", "windows": "", "linux": "/mnt/only", "macos": ""},
            "3c4d5e6f-7a8b-4c3d-8e4f-5a6b7c8d9e0f"
          ]
        }
        """;

    [Fact]
    public async Task TwoReplicasStartingTogetherImportTheOriginalFileOnce()
    {
        // Arrange
        var ct = TestContext.Current.CancellationToken;
        await using var server = await RedisServerProcess.StartGarnetAsync(cancellationToken: ct);
        using var shared = new SharedDataDirectory(OriginalFile);
        var imports = 0;
        await using var subscriber = new RedisSubscriber(new RedisOptions { ConnectionString = server.ConnectionString });
        await using var subscription = await subscriber.SubscribeAsync(PathMappingKeys.ChangesChannel, (_, payload, _) =>
        {
            if (Encoding.UTF8.GetString(payload.Span).Contains($"\"{PathMappingChangeKinds.Imported}\"", StringComparison.Ordinal))
            {
                Interlocked.Increment(ref imports);
            }

            return Task.CompletedTask;
        }, cancellationToken: ct);
        await using var first = new ServiceFactory<Program>(server.ConnectionString, shared.Settings);
        await using var second = new ServiceFactory<Program>(server.ConnectionString, shared.Settings);

        // Act
        await Task.WhenAll(Task.Run(() => first.CreateClient(), ct), Task.Run(() => second.CreateClient(), ct));
        using var client = first.CreateClient();
        JsonArray mappings = [];
        var imported = await PathServiceClient.EventuallyAsync(async () =>
        {
            mappings = (await (await client.GetAsync("/api/path-mappings", ct)).ReadJsonAsync(ct))["mappings"]!.AsArray();
            return mappings.Count == 3 && Volatile.Read(ref imports) > 0;
        }, TimeSpan.FromSeconds(15), ct);
        await Task.Delay(TimeSpan.FromMilliseconds(500), ct); // room for a second import to show itself

        // Assert
        Assert.True(imported, $"Expected 3 imported mappings, found {mappings.Count}.");
        Assert.Equal(1, Volatile.Read(ref imports));
        Assert.Equal(["Dagobah", "Kessel", "Mandalore"], mappings.Select(m => (string?)m!["name"]));
        var kessel = mappings.Single(m => (string?)m!["name"] == "Kessel")!;
        Assert.Equal("7c9d0e1f-2a3b-4c5d-8e9f-0a1b2c3d4e5f", (string?)kessel["id"]);
        Assert.False((bool)kessel["enabled"]!);
        Assert.True((bool)mappings.Single(m => (string?)m!["name"] == "Dagobah")!["enabled"]!);
        Assert.True(File.Exists(shared.FilePath), "The original file must be left in place.");
    }

    [Fact]
    public async Task TheFileIsNotImportedAgainOnceImported()
    {
        // Arrange
        var ct = TestContext.Current.CancellationToken;
        await using var server = await RedisServerProcess.StartGarnetAsync(cancellationToken: ct);
        using var shared = new SharedDataDirectory(OriginalFile);
        await using var redis = new RedisConnection(new RedisOptions { ConnectionString = server.ConnectionString });
        await using (var first = new ServiceFactory<Program>(server.ConnectionString, shared.Settings))
        {
            using var client = first.CreateClient();
            Assert.True(await PathServiceClient.EventuallyAsync(
                async () => (await redis.StringGetAsync(PathMappingKeys.ImportedMarker, ct))?.StartsWith("imported 3 of 5", StringComparison.Ordinal) == true,
                TimeSpan.FromSeconds(15), ct), "The import did not finish.");
            using var deleted = await client.DeleteAsync("/api/path-mappings/0b7e2a8c-5f1e-4c1a-9d55-1c2b3a4d5e6f", ct);
            Assert.Equal(HttpStatusCode.OK, deleted.StatusCode);
        }

        // Act
        await using var restarted = new ServiceFactory<Program>(server.ConnectionString, shared.Settings);
        using var restartedClient = restarted.CreateClient();
        await Task.Delay(TimeSpan.FromSeconds(1), ct); // the importer runs in the background after start
        using var response = await restartedClient.GetAsync("/api/path-mappings", ct);

        // Assert
        var names = (await response.ReadJsonAsync(ct))["mappings"]!.AsArray().Select(m => (string?)m!["name"]);
        Assert.Equal(["Dagobah", "Kessel"], names);
    }

    [Fact]
    public async Task AnUnreadableFileIsNotMarkedAsImported()
    {
        // Arrange
        var ct = TestContext.Current.CancellationToken;
        await using var server = await RedisServerProcess.StartGarnetAsync(cancellationToken: ct);
        using var shared = new SharedDataDirectory("{\"version\": 1, \"mappings\": [");
        await using var factory = new ServiceFactory<Program>(server.ConnectionString, shared.Settings);
        using var client = factory.CreateClient();
        await using var redis = new RedisConnection(new RedisOptions { ConnectionString = server.ConnectionString });

        // Act
        using var health = await client.GetAsync("/health", ct);
        await Task.Delay(TimeSpan.FromSeconds(1), ct); // the importer runs in the background after start

        // Assert
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
        Assert.False(await redis.KeyExistsAsync(PathMappingKeys.ImportedMarker, ct));
    }

    /// <summary>A data directory both replicas use, holding the original's path_mappings.json.</summary>
    private sealed class SharedDataDirectory : IDisposable
    {
        private readonly string _root = Directory.CreateTempSubdirectory("dc-paths-").FullName;

        public SharedDataDirectory(string content)
        {
            File.WriteAllText(FilePath, content);
            Settings = new Dictionary<string, string?> { ["data_dir"] = _root };
        }

        public string FilePath => Path.Combine(_root, "path_mappings.json");

        public IReadOnlyDictionary<string, string?> Settings { get; }

        public void Dispose() => Directory.Delete(_root, recursive: true);
    }
}
