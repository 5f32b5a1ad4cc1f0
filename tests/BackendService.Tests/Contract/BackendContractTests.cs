using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using DirectorsConsole.BackendService.Tests.Backends;
using DirectorsConsole.Testing;

namespace DirectorsConsole.BackendService.Tests.Contract;

/// <summary>
/// The web app's node list (its orchestrator node manager) reads <c>GET /api/backends</c> and nothing else of
/// BackendService: every field it reads is checked with its JSON type. GPU and CPU load come from a resource-monitor
/// extension on the node, pushed over ComfyUI's WebSocket, as the original server read them.
/// </summary>
public sealed class BackendContractTests(GarnetFixture garnet) : IClassFixture<GarnetFixture>
{
    [Theory]
    [InlineData("crystools.monitor", """{"cpu_utilization": 12.5, "ram_total": 68719476736, "ram_used": 17179869184, "ram_used_percent": 25.0, "hdd_total": -1, "hdd_used": -1, "hdd_used_percent": -1, "device_type": "cuda", "gpus": [{"gpu_utilization": 87.0, "gpu_temperature": 71.0, "vram_total": 25769803776, "vram_used": 8589934592, "vram_used_percent": 33.3}]}""")]
    [InlineData("kaytool.resources", """{"cpu_percent": 12.5, "ram_total": 64.0, "ram_used": 16.0, "ram_percent": 25.0, "gpu": [{"load": 87.0, "memory_used": 8.0, "memory_total": 24.0, "memory_percent": 33.3, "temperature": 71.0, "name": "NVIDIA GeForce RTX 4090"}]}""")]
    public async Task TheNodeListCarriesEveryFieldTheAppReadsWithTheMonitorsLoads(string monitor, string reading)
    {
        // Arrange
        var ct = TestContext.Current.CancellationToken;
        await using var emulator = await ComfyEmulatorProcess.StartAsync(["--gpu-name", "NVIDIA GeForce RTX 4090", "--vram-gb", "24"], ct);
        await using var factory = BackendTestClient.CreateFactory(garnet);
        using var client = factory.CreateClient();
        var id = $"monitored-{BackendTestClient.Unique()}";
        await client.CreateBackendAsync(new { id, name = "Beast", host = "127.0.0.1", port = emulator.Port }, ct);

        // Act: the monitor pushes a reading every second or so; the app polls the list.
        var backend = await Eventually.ReturnsAsync(async () =>
        {
            using var pushed = await emulator.Client.PostAsJsonAsync("/_emulator/broadcast",
                new { type = monitor, data = JsonNode.Parse(reading) }, ct);
            pushed.EnsureSuccessStatusCode();
            using var response = await client.GetAsync("/api/backends", ct);
            return (await response.ReadJsonAsync(ct))["backends"]!.AsArray().SingleOrDefault(b => (string?)b!["id"] == id);
        }, b => b?["gpu_utilization"] is not null && b["gpu_temperature"] is not null);

        // Assert
        WireAssert.Kind(backend, "id", JsonValueKind.String);
        Assert.Equal("Beast", (string?)WireAssert.Kind(backend, "name", JsonValueKind.String));
        Assert.Equal("127.0.0.1", (string?)WireAssert.Kind(backend, "host", JsonValueKind.String));
        Assert.Equal(emulator.Port, (int)WireAssert.Kind(backend, "port", JsonValueKind.Number));
        Assert.Equal(JsonValueKind.True, WireAssert.Kind(backend, "online", JsonValueKind.True).GetValueKind());
        Assert.Contains((string)WireAssert.Kind(backend, "status", JsonValueKind.String)!, new[] { "idle", "busy" });
        Assert.Equal("NVIDIA GeForce RTX 4090", (string?)WireAssert.Kind(backend, "gpu_name", JsonValueKind.String));
        Assert.Equal(24L << 30, (long)WireAssert.Kind(backend, "gpu_memory_total", JsonValueKind.Number));
        WireAssert.Kind(backend, "gpu_memory_used", JsonValueKind.Number);
        Assert.Equal(87.0, (double)WireAssert.Kind(backend, "gpu_utilization", JsonValueKind.Number));
        Assert.Equal(71.0, (double)WireAssert.Kind(backend, "gpu_temperature", JsonValueKind.Number));
        Assert.Equal(12.5, (double)WireAssert.Kind(backend, "cpu_utilization", JsonValueKind.Number));
        Assert.True((long)WireAssert.Kind(backend, "ram_total", JsonValueKind.Number) > 0);
        WireAssert.Kind(backend, "ram_used", JsonValueKind.Number);
        WireAssert.IsoTimestamp(backend, "last_seen");
    }

    [Fact]
    public async Task ANodeWithoutAMonitorHasNoLoadsAndAnOfflineNodeSaysSo()
    {
        // Arrange
        var ct = TestContext.Current.CancellationToken;
        await using var emulator = await ComfyEmulatorProcess.StartAsync(cancellationToken: ct);
        await using var factory = BackendTestClient.CreateFactory(garnet);
        using var client = factory.CreateClient();
        var plain = $"plain-{BackendTestClient.Unique()}";
        var dead = $"dead-{BackendTestClient.Unique()}";
        await client.CreateBackendAsync(new { id = plain, host = "127.0.0.1", port = emulator.Port }, ct);
        await client.CreateBackendAsync(new { id = dead, host = "127.0.0.1", port = BackendTestClient.DeadPort() }, ct);

        // Act
        var body = await Eventually.ReturnsAsync(async () =>
        {
            using var response = await client.GetAsync("/api/backends", ct);
            return await response.ReadJsonAsync(ct);
        }, b => b["backends"]!.AsArray().Any(x => (string?)x!["id"] == plain && (string?)x["status"] == "idle")
            && b["backends"]!.AsArray().Any(x => (string?)x!["id"] == dead && x["last_error"] is not null));

        // Assert
        WireAssert.Kind(body, "total", JsonValueKind.Number);
        var backends = body["backends"]!.AsArray();
        var online = backends.Single(b => (string?)b!["id"] == plain);
        foreach (var load in new[] { "gpu_utilization", "gpu_temperature", "cpu_utilization" })
        {
            WireAssert.Kind(online, load, JsonValueKind.Null);
        }

        var offline = backends.Single(b => (string?)b!["id"] == dead);
        Assert.Equal(JsonValueKind.False, WireAssert.Kind(offline, "online", JsonValueKind.False).GetValueKind());
        Assert.Equal("offline", (string?)offline!["status"]);
        WireAssert.Kind(offline, "last_seen", JsonValueKind.Null);
    }
}
