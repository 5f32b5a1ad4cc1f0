using System.Net;
using System.Net.Http.Json;
using DirectorsConsole.BackendService.Infrastructure;
using DirectorsConsole.BackendService.Model;
using DirectorsConsole.ServiceDefaults.Backends;
using DirectorsConsole.Testing;
using Microsoft.Extensions.Configuration;

namespace DirectorsConsole.BackendService.Tests.Backends;

public sealed class BackendSeedingTests(GarnetFixture garnet) : IClassFixture<GarnetFixture>
{
    private static BackendSeedOptions Read(Dictionary<string, string?> settings)
    {
        var options = new BackendSeedOptions();
        BackendSeedOptions.Read(options, new ConfigurationBuilder().AddInMemoryCollection(settings).Build());
        return options;
    }

    [Fact]
    public void ComfyNodesAcceptsHostPortAndUrlForms()
    {
        // Act
        var options = Read(new() { ["COMFY_NODES"] = "127.0.0.1:8188, http://10.0.0.5:9000/ ,render-3,[::1]:8190" });

        // Assert
        Assert.Empty(options.Problems);
        Assert.Equal(["127.0.0.1_8188", "10.0.0.5_9000", "render-3_8188", "ip6--1_8190"], options.Backends.Select(b => b.Id));
        Assert.All(options.Backends, b => Assert.Equal(BackendSource.Environment, b.Source));
        Assert.All(options.Backends, b => Assert.Equal(b.Id, b.Name));
        Assert.Equal("::1", options.Backends[3].Host);
    }

    [Fact]
    public void ConfigEntriesTakeTheOriginalDefaults()
    {
        // Act
        var options = Read(new()
        {
            ["backends:0:id"] = "node1",
            ["backends:0:host"] = "192.168.1.100",
            ["backends:1:id"] = "node2",
            ["backends:1:name"] = "Beast (5090)",
            ["backends:1:host"] = "beast.lan",
            ["backends:1:port"] = "8190",
            ["backends:1:enabled"] = "false",
            ["backends:1:capabilities:0"] = "flux",
            ["backends:1:capabilities:1"] = "sdxl",
            ["backends:1:max_concurrent_jobs"] = "2",
            ["backends:1:prefetch"] = "3",
            ["backends:1:tags:0"] = "5090",
        });

        // Assert
        Assert.Empty(options.Problems);
        var (first, second) = (options.Backends[0], options.Backends[1]);
        Assert.Equal(("node1", "node1", 8188, true, 1), (first.Id, first.Name, first.Port, first.Enabled, first.MaxConcurrentJobs));
        Assert.Empty(first.Capabilities);
        Assert.Equal(("Beast (5090)", "beast.lan", 8190, false, 2), (second.Name, second.Host, second.Port, second.Enabled, second.MaxConcurrentJobs));
        Assert.Equal(["flux", "sdxl"], second.Capabilities);
        Assert.Equal(["5090"], second.Tags);
        Assert.Null(first.Prefetch);
        Assert.Equal(3, second.Prefetch);
        Assert.Equal(BackendSource.Config, second.Source);
    }

    [Fact]
    public void InvalidEntriesAreNamedInTheProblems()
    {
        // Act
        var options = Read(new()
        {
            ["backends:0:id"] = "ok",
            ["backends:0:host"] = "10.0.0.1",
            ["backends:1:id"] = "meta",
            ["backends:1:host"] = "169.254.169.254",
            ["backends:2:id"] = "badport",
            ["backends:2:host"] = "10.0.0.2",
            ["backends:2:port"] = "http",
            ["backends:3:id"] = "ok",
            ["backends:3:host"] = "10.0.0.3",
            ["COMFY_NODES"] = "https://10.0.0.9:8188",
        });

        // Assert
        Assert.Equal(4, options.Problems.Count);
        Assert.Contains("backends[1] (id 'meta')", options.Problems[0]);
        Assert.Contains("metadata", options.Problems[0]);
        Assert.Contains("backends[2]: port 'http' is not a whole number", options.Problems[1]);
        Assert.Contains("repeats the id 'ok'", options.Problems[2]);
        Assert.Contains("ORCHESTRATOR_COMFY_NODES entry 'https://10.0.0.9:8188'", options.Problems[3]);
    }

    [Fact]
    public async Task BackendsAreSeededFromConfigYamlAndComfyNodes()
    {
        // Arrange
        var ct = TestContext.Current.CancellationToken;
        var token = BackendTestClient.Unique();
        var envPort = BackendTestClient.DeadPort();
        await using var factory = BackendTestClient.CreateFactory(garnet, new Dictionary<string, string?> { ["COMFY_NODES"] = $"127.0.0.1:{envPort}" });
        await File.WriteAllTextAsync(Path.Combine(factory.RootDirectory, "config.yaml"), $"""
            backends:
              - id: yaml-{token}
                name: "Beast (5090)"
                host: 127.0.0.1
                port: {BackendTestClient.DeadPort()}
                capabilities: ["flux", "sdxl"]
                max_concurrent_jobs: 2
                tags: [hero]
              - id: quiet-{token}
                host: 127.0.0.1
                enabled: false
            """, ct);
        using var client = factory.CreateClient();

        // Act
        var yaml = await Eventually.ReturnsAsync(() => client.GetBackendAsync($"yaml-{token}", ct), b => b is not null);
        var quiet = await Eventually.ReturnsAsync(() => client.GetBackendAsync($"quiet-{token}", ct), b => b is not null);
        var env = await Eventually.ReturnsAsync(() => client.GetBackendAsync($"127.0.0.1_{envPort}", ct), b => b is not null);

        // Assert
        Assert.NotNull(yaml);
        Assert.Equal("Beast (5090)", (string?)yaml["name"]);
        Assert.Equal(["flux", "sdxl"], yaml["capabilities"]!.AsArray().Select(c => (string?)c));
        Assert.Equal(["hero"], yaml["tags"]!.AsArray().Select(c => (string?)c));
        Assert.Equal(2, (int)yaml["max_concurrent_jobs"]!);
        Assert.Equal("config", (string?)yaml["source"]);
        Assert.NotNull(quiet);
        Assert.Equal(8188, (int)quiet["port"]!);
        Assert.Equal("disabled", (string?)quiet["status"]);
        Assert.NotNull(env);
        Assert.Equal("environment", (string?)env["source"]);
        Assert.Equal(envPort, (int)env["port"]!);
    }

    [Fact]
    public async Task EditedAndDeletedSeedsStayAsTheUserLeftThemAcrossRestarts()
    {
        // Arrange
        var ct = TestContext.Current.CancellationToken;
        var token = BackendTestClient.Unique();
        var port = BackendTestClient.DeadPort();
        var config = $"""
            backends:
              - id: edited-{token}
                host: 127.0.0.1
                port: {port}
              - id: deleted-{token}
                host: 127.0.0.1
                port: {port}
            """;
        await using (var first = BackendTestClient.CreateFactory(garnet))
        {
            await File.WriteAllTextAsync(Path.Combine(first.RootDirectory, "config.yaml"), config, ct);
            using var client = first.CreateClient();
            await Eventually.ReturnsAsync(() => client.GetBackendAsync($"deleted-{token}", ct), b => b is not null);
            using var edit = await client.PutAsJsonAsync($"/api/backends/edited-{token}", new { name = "Renamed", host = "127.0.0.1", port }, ct);
            using var delete = await client.DeleteAsync($"/api/backends/deleted-{token}", ct);
            Assert.Equal(HttpStatusCode.OK, edit.StatusCode);
            Assert.Equal(HttpStatusCode.OK, delete.StatusCode);
        }

        // Act: a restart with the same config.yaml plus one new entry, seeded last, to know seeding is done.
        await using var second = BackendTestClient.CreateFactory(garnet);
        await File.WriteAllTextAsync(Path.Combine(second.RootDirectory, "config.yaml"), config + $"""

              - id: marker-{token}
                host: 127.0.0.1
                port: {port}
            """, ct);
        using var restarted = second.CreateClient();
        await Eventually.ReturnsAsync(() => restarted.GetBackendAsync($"marker-{token}", ct), b => b is not null);
        var edited = await restarted.GetBackendAsync($"edited-{token}", ct);
        var deleted = await restarted.GetBackendAsync($"deleted-{token}", ct);
        using var recreated = await restarted.PostAsJsonAsync("/api/backends", new { id = $"deleted-{token}", host = "127.0.0.1", port }, ct);

        // Assert
        Assert.Equal("Renamed", (string?)edited!["name"]);
        Assert.Null(deleted);
        Assert.Equal(HttpStatusCode.Created, recreated.StatusCode);
    }

    [Fact]
    public async Task NodesNoLongerListedInComfyNodesAreRemovedButOthersStay()
    {
        // Arrange: a first start lists two nodes; an API backend and a config.yaml backend exist beside them
        var ct = TestContext.Current.CancellationToken;
        var token = BackendTestClient.Unique();
        var (kept, dropped, port) = (BackendTestClient.DeadPort(), BackendTestClient.DeadPort(), BackendTestClient.DeadPort());
        var config = $"""
            backends:
              - id: yaml-{token}
                host: 127.0.0.1
                port: {port}
            """;
        await using (var first = BackendTestClient.CreateFactory(garnet, new Dictionary<string, string?> { ["COMFY_NODES"] = $"127.0.0.1:{kept},127.0.0.1:{dropped}" }))
        {
            await File.WriteAllTextAsync(Path.Combine(first.RootDirectory, "config.yaml"), config, ct);
            using var client = first.CreateClient();
            await Eventually.ReturnsAsync(() => client.GetBackendAsync($"127.0.0.1_{dropped}", ct), b => b is not null);
            using var created = await client.PostAsJsonAsync("/api/backends", new { id = $"api-{token}", host = "127.0.0.1", port }, ct);
            Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        }

        // Act: the next start lists only one of them (as the AppHost's emulators on new ports)
        await using var second = BackendTestClient.CreateFactory(garnet, new Dictionary<string, string?> { ["COMFY_NODES"] = $"127.0.0.1:{kept}" });
        await File.WriteAllTextAsync(Path.Combine(second.RootDirectory, "config.yaml"), config, ct);
        using var restarted = second.CreateClient();
        var gone = await Eventually.ReturnsAsync(() => restarted.GetBackendAsync($"127.0.0.1_{dropped}", ct), b => b is null);

        // Assert
        Assert.Null(gone);
        Assert.NotNull(await restarted.GetBackendAsync($"127.0.0.1_{kept}", ct));
        Assert.NotNull(await restarted.GetBackendAsync($"api-{token}", ct));
        Assert.NotNull(await restarted.GetBackendAsync($"yaml-{token}", ct));
    }

    [Fact]
    public async Task AnInvalidConfiguredBackendStopsStartUpNamingTheEntry()
    {
        // Arrange
        var ct = TestContext.Current.CancellationToken;
        await using var factory = BackendTestClient.CreateFactory(garnet);
        await File.WriteAllTextAsync(Path.Combine(factory.RootDirectory, "config.yaml"), """
            backends:
              - id: cloud
                host: metadata.google.internal
            """, ct);

        // Act
        var error = Record.Exception(() => factory.CreateClient());

        // Assert
        Assert.NotNull(error);
        Assert.Contains("backends[0] (id 'cloud')", error.ToString());
        Assert.Contains("metadata", error.ToString());
    }
}
