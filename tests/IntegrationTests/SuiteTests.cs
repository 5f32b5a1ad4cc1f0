using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using DirectorsConsole.Testing;

namespace DirectorsConsole.IntegrationTests;

/// <summary>One suite, run by the AppHost on Aspire.Hosting.Testing with two PathService replicas, shared by these tests.</summary>
public sealed class RunningSuiteFixture : IAsyncLifetime
{
    private readonly string _workingDirectory = Directory.CreateTempSubdirectory("dc-suite-").FullName;

    public SuiteApp Suite { get; private set; } = null!;

    public async ValueTask InitializeAsync() =>
        Suite = await SuiteApp.StartAsync(_workingDirectory, ["--replicas", "path-service=2"], TestContext.Current.CancellationToken);

    public async ValueTask DisposeAsync()
    {
        await Suite.DisposeAsync();
        Directory.Delete(_workingDirectory, recursive: true);
    }
}

[CollectionDefinition(nameof(SuiteCollection))]
public sealed class SuiteCollection : ICollectionFixture<RunningSuiteFixture>;

[Collection(nameof(SuiteCollection))]
public sealed class SuiteTests(RunningSuiteFixture fixture)
{
    private SuiteApp Suite => fixture.Suite;

    [Fact]
    public async Task HealthIsOkAndListsEveryService()
    {
        // Act
        var health = await Suite.Gateway.GetFromJsonAsync<JsonObject>("/health", TestContext.Current.CancellationToken);
        var alias = await Suite.Gateway.GetFromJsonAsync<JsonObject>("/api/health", TestContext.Current.CancellationToken);

        // Assert
        Assert.Equal("healthy", (string?)health!["status"]);
        Assert.Equal("orchestrator-api", (string?)health["service"]);
        Assert.True(RunningSuite.AllServicesHealthy(health), health.ToJsonString());
        Assert.NotNull(health["timestamp"]);
        Assert.NotNull(health["version"]);
        Assert.NotNull(health["backends_online"]);
        Assert.Equal("healthy", (string?)alias!["status"]);
    }

    [Fact]
    public async Task DocsRedocAndOpenApiShowPathServiceEndpoints()
    {
        // Act: a service that does not answer within the Gateway's fetch timeout (a cold service on a loaded machine)
        // is left out of the merged document for a few seconds, until the Gateway asks again
        var document = await Eventually.ReturnsAsync(
            async () => (await Suite.Gateway.GetFromJsonAsync<JsonObject>("/openapi.json", TestContext.Current.CancellationToken))!,
            merged => merged["paths"]!.AsObject().ContainsKey("/api/path-mappings"), TimeSpan.FromSeconds(60));
        using var docs = await Suite.Gateway.GetAsync("/docs/index.html", TestContext.Current.CancellationToken);
        using var redoc = await Suite.Gateway.GetAsync("/redoc/index.html", TestContext.Current.CancellationToken);

        // Assert
        var paths = document!["paths"]!.AsObject();
        Assert.Contains("/api/path-mappings", paths.Select(p => p.Key));
        Assert.Contains("/api/path-mappings/{id}", paths.Select(p => p.Key));
        Assert.Contains("/api/translate-path", paths.Select(p => p.Key));
        Assert.Equal(HttpStatusCode.OK, docs.StatusCode);
        Assert.Contains("text/html", docs.Content.Headers.ContentType?.MediaType);
        Assert.Equal(HttpStatusCode.OK, redoc.StatusCode);
        Assert.Contains("text/html", redoc.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task MappingCreatedThroughGatewayIsSeenByEveryReplica()
    {
        // Arrange
        var name = $"NAS {Guid.NewGuid():n}";
        var ct = TestContext.Current.CancellationToken;

        // Act
        using var created = await Suite.Gateway.PostAsJsonAsync("/api/path-mappings",
            new { name, windows = @"W:\", linux = "/mnt/Mandalore", macos = "/Volumes/Mandalore" }, ct);
        var lists = new List<JsonObject>();
        for (var i = 0; i < 12; i++)
        {
            lists.Add((await Suite.Gateway.GetFromJsonAsync<JsonObject>("/api/path-mappings", ct))!);
        }

        using var translated = await Suite.Gateway.PostAsJsonAsync("/api/translate-path",
            new { path = @"W:\VFX\Eliot\renders", target_os = "linux" }, ct);

        // Assert
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        Assert.All(lists, list => Assert.Contains(list["mappings"]!.AsArray(), m => (string?)m!["name"] == name));
        Assert.Equal(HttpStatusCode.OK, translated.StatusCode);
        var body = (await translated.Content.ReadFromJsonAsync<JsonObject>(ct))!;
        Assert.Equal("/mnt/Mandalore/VFX/Eliot/renders", (string?)body["translated"]);
    }

    [Fact]
    public async Task KilledServiceMakesHealthDegradedUntilTheAppHostRestartsIt()
    {
        // Arrange
        var ct = TestContext.Current.CancellationToken;
        var pid = Suite.FindServicePid("DirectorsConsole.GalleryService");

        // Act: freeze it first, so the degraded state lasts until we have seen it (a killed service is back
        // within a couple of seconds), then kill it for the AppHost to restart.
        RunningSuite.Freeze(pid);
        var degraded = await Suite.WaitForHealthAsync(status => status == "degraded", TimeSpan.FromSeconds(30), ct);
        RunningSuite.Kill(pid);
        var recovered = await Suite.WaitForHealthAsync(status => status == "healthy", TimeSpan.FromSeconds(90), ct,
            RunningSuite.AllServicesHealthy);

        // Assert
        Assert.NotEqual("healthy", (string?)degraded["services"]!["gallery-service"]);
        Assert.Contains("gallery-service", degraded.ToJsonString());
        Assert.Equal("healthy", (string?)recovered["services"]!["gallery-service"]);
        Assert.NotEqual(pid, Suite.FindServicePid("DirectorsConsole.GalleryService"));
    }
}

/// <summary>
/// Starts and stops whole suites, so it runs after the shared suite's tests, in the same collection. The AppHost runs
/// as a process of its own here, as a user or a service manager runs it: what is under test is what its stop signal
/// leaves behind and that state survives a restart of the AppHost process, which an AppHost inside the test process
/// cannot show.
/// </summary>
[Collection(nameof(SuiteCollection))]
public sealed class SuiteRestartTests
{
    private static readonly TimeSpan StopWithin = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task MappingsSurviveAFullRestartAndSigtermLeavesNoProcess()
    {
        // Arrange
        var ct = TestContext.Current.CancellationToken;
        var workingDirectory = Directory.CreateTempSubdirectory("dc-restart-").FullName;
        try
        {
            string id;
            await using (var first = new SuiteProcess(workingDirectory))
            {
                await first.StartAsync(ct);
                using var created = await first.Gateway.PostAsJsonAsync("/api/path-mappings",
                    new { name = "Kessel", windows = @"R:\", linux = "/mnt/Kessel" }, ct);
                Assert.Equal(HttpStatusCode.Created, created.StatusCode);
                id = (string)(await created.Content.ReadFromJsonAsync<JsonObject>(ct))!["mapping"]!["id"]!;

                // Act: stop as a service manager would
                var exitCode = await first.StopAsync(ct);

                // Assert: clean exit, and within 10 s of the signal nothing left running (Aspire's orchestrator
                // ends its own helper processes a moment after the AppHost)
                Assert.Equal(0, exitCode);
                await first.WaitUntilNoProcessLeftAsync(StopWithin - first.SinceStopSignal);
            }

            await using var second = new SuiteProcess(workingDirectory);
            await second.StartAsync(ct);

            // Assert: the mapping is back after the restart
            var mapping = await second.Gateway.GetFromJsonAsync<JsonObject>($"/api/path-mappings/{id}", ct);
            Assert.Equal("Kessel", (string?)mapping!["name"] ?? (string?)mapping["mapping"]?["name"]);
            Assert.True(Directory.Exists(Path.Combine(workingDirectory, "data")));
            Assert.True(Directory.Exists(Path.Combine(workingDirectory, "logs")));
        }
        finally
        {
            Directory.Delete(workingDirectory, recursive: true);
        }
    }
}
