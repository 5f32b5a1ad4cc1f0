using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using DirectorsConsole.Testing;

namespace DirectorsConsole.BackendService.Tests.Backends;

public sealed class BackendProbeTests(GarnetFixture garnet) : IClassFixture<GarnetFixture>
{
    private static readonly TimeSpan OfflineWithin = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task AnAnsweringNodeIsIdleWithItsGpuAndDiscoveredNodes()
    {
        // Arrange
        var ct = TestContext.Current.CancellationToken;
        await using var emulator = await ComfyEmulatorProcess.StartAsync(["--gpu-name", "NVIDIA RTX 4090", "--vram-gb", "24"], ct);
        await using var factory = BackendTestClient.CreateFactory(garnet);
        using var client = factory.CreateClient();
        var id = $"gpu-{BackendTestClient.Unique()}";
        await client.CreateBackendAsync(new { id, host = "127.0.0.1", port = emulator.Port }, ct);

        // Act
        var backend = await Eventually.ReturnsAsync(
            () => client.GetBackendAsync(id, ct), b => (string?)b!["status"] == "idle" && b["discovered"]!["discovered_at"] is not null);
        using var list = await client.GetAsync("/api/backends", ct);
        using var status = await client.GetAsync($"/api/backends/{id}/status", ct);

        // Assert
        Assert.Equal("idle", (string?)backend!["status"]);
        Assert.True((bool)backend["online"]!);
        Assert.Equal("NVIDIA RTX 4090", (string?)backend["gpu_name"]);
        Assert.Equal(24L << 30, (long)backend["gpu_memory_total"]!);
        Assert.Equal((long)backend["gpu_memory_total"]! - (long)backend["gpu_memory_free"]!, (long)backend["gpu_memory_used"]!);
        Assert.InRange((double)backend["gpu_memory_percent"]!, 0.1, 100);
        Assert.True((long)backend["ram_total"]! > 0);
        Assert.Equal("posix", (string?)backend["os"]);
        Assert.False(string.IsNullOrEmpty((string?)backend["comfyui_version"]));
        Assert.Equal(0, (int)backend["queue_depth"]!);
        Assert.NotNull(backend["last_seen"]);
        Assert.Null(backend["last_error"]);
        var classes = backend["discovered"]!["node_classes"]!.AsArray().Select(c => (string?)c).ToArray();
        Assert.Contains("TestProgressImage", classes);
        Assert.Contains("SaveImage", classes);

        var listed = await list.ReadJsonAsync(ct);
        Assert.True((int)listed["online"]! >= 1);
        var runtime = await status.ReadJsonAsync(ct);
        Assert.Equal("idle", (string?)runtime["status"]);
        Assert.Equal("NVIDIA RTX 4090", (string?)runtime["gpu_name"]);
    }

    [Fact]
    public async Task AKilledNodeGoesOfflineAndComesBackOnline()
    {
        // Arrange
        var ct = TestContext.Current.CancellationToken;
        await using var emulator = await ComfyEmulatorProcess.StartAsync(cancellationToken: ct);
        await using var factory = BackendTestClient.CreateFactory(garnet, new Dictionary<string, string?>
        {
            // The default probe timing: the 10 s promise must hold without test tuning.
            ["Backends:Probe:Interval"] = "00:00:02",
            ["Backends:Probe:Timeout"] = "00:00:03",
        });
        using var client = factory.CreateClient();
        var id = $"flaky-{BackendTestClient.Unique()}";
        await client.CreateBackendAsync(new { id, host = "127.0.0.1", port = emulator.Port }, ct);
        var online = await Eventually.ReturnsAsync(() => client.GetStatusAsync(id, ct), s => s == "idle");

        // Act
        await emulator.KillAsync();
        var afterKill = await Eventually.ReturnsAsync(() => client.GetBackendAsync(id, ct), b => (string?)b!["status"] == "offline", OfflineWithin);
        await emulator.RestartAsync(ct);
        var afterRestart = await Eventually.ReturnsAsync(() => client.GetBackendAsync(id, ct), b => (string?)b!["status"] == "idle");

        // Assert
        Assert.Equal("idle", online);
        Assert.Equal("offline", (string?)afterKill!["status"]);
        Assert.False((bool)afterKill["online"]!);
        Assert.False(string.IsNullOrEmpty((string?)afterKill["last_error"]));
        Assert.Equal("idle", (string?)afterRestart!["status"]);
        Assert.Null(afterRestart["last_error"]);
    }

    [Fact]
    public async Task ANodeThatAcceptsConnectionsButNeverAnswersIsOffline()
    {
        // Arrange
        var ct = TestContext.Current.CancellationToken;
        using var silent = new TcpListener(IPAddress.Loopback, 0);
        silent.Start();
        var port = ((IPEndPoint)silent.LocalEndpoint).Port;
        var accepted = new ConcurrentQueue<TcpClient>();
        using var stopAccepting = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var acceptLoop = Task.Run(async () =>
        {
            try
            {
                while (true)
                {
                    accepted.Enqueue(await silent.AcceptTcpClientAsync(stopAccepting.Token));
                }
            }
            catch (OperationCanceledException)
            {
                // The test is over.
            }
        }, ct);
        await using var factory = BackendTestClient.CreateFactory(garnet);
        using var client = factory.CreateClient();
        var id = $"hung-{BackendTestClient.Unique()}";
        await client.CreateBackendAsync(new { id, host = "127.0.0.1", port }, ct);

        // Act
        var backend = await Eventually.ReturnsAsync(() => client.GetBackendAsync(id, ct), b => b!["last_error"] is not null, OfflineWithin);

        // Assert
        Assert.Equal("offline", (string?)backend!["status"]);
        Assert.Contains("did not answer", (string?)backend["last_error"]);
        Assert.NotEmpty(accepted);
        await stopAccepting.CancelAsync();
        await acceptLoop;
        foreach (var connection in accepted)
        {
            connection.Dispose();
        }
    }

    [Fact]
    public async Task ADisabledNodeIsNotProbedAndIsProbedAgainWhenEnabled()
    {
        // Arrange
        var ct = TestContext.Current.CancellationToken;
        await using var emulator = await ComfyEmulatorProcess.StartAsync(cancellationToken: ct);
        await using var factory = BackendTestClient.CreateFactory(garnet);
        using var client = factory.CreateClient();
        var id = $"off-{BackendTestClient.Unique()}";
        await client.CreateBackendAsync(new { id, host = "127.0.0.1", port = emulator.Port, enabled = false }, ct);

        // Act
        var disabled = await client.GetBackendAsync(id, ct);
        using var enable = await client.PostAsync($"/api/backends/{id}/enable", null, ct);
        var enabled = await Eventually.ReturnsAsync(() => client.GetStatusAsync(id, ct), s => s == "idle");
        using var disable = await client.PostAsync($"/api/backends/{id}/disable", null, ct);
        var disabledAgain = await client.GetStatusAsync(id, ct);

        // Assert
        Assert.Equal("disabled", (string?)disabled!["status"]);
        Assert.Null(disabled["last_seen"]);
        Assert.Equal("idle", enabled);
        Assert.Equal("disabled", disabledAgain);
    }

    [Fact]
    public async Task RestartInterruptsAndFreesTheNode()
    {
        // Arrange
        var ct = TestContext.Current.CancellationToken;
        await using var emulator = await ComfyEmulatorProcess.StartAsync(cancellationToken: ct);
        using var interruptProbe = await emulator.Client.PostAsJsonAsync("interrupt", new JsonObject(), ct);
        Assert.SkipWhen(interruptProbe.StatusCode == HttpStatusCode.NotFound, "The emulator does not serve POST /interrupt yet.");
        await using var factory = BackendTestClient.CreateFactory(garnet);
        using var client = factory.CreateClient();
        var id = $"restart-{BackendTestClient.Unique()}";
        await client.CreateBackendAsync(new { id, host = "127.0.0.1", port = emulator.Port }, ct);

        // Act
        using var response = await client.PostAsJsonAsync($"/api/backends/{id}/restart", new { }, ct);

        // Assert
        var body = await response.ReadJsonAsync(ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.True((bool)body["success"]!);
        Assert.Equal(id, (string?)body["backend_id"]);
        Assert.Contains("freed memory", (string?)body["message"]);
    }
}
