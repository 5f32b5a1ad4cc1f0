using System.Net.Http.Json;
using System.Text.Json.Nodes;

namespace DirectorsConsole.IntegrationTests;

/// <summary>The render nodes of the suite the README starts: with none configured, two emulated ComfyUI nodes.</summary>
[Collection(nameof(SuiteCollection))]
public sealed class RenderNodeTests(RunningSuiteFixture fixture)
{
    private static readonly TimeSpan OfflineWithin = TimeSpan.FromSeconds(10);

    private SuiteApp Suite => fixture.Suite;

    [Fact]
    public async Task TwoEmulatedBackendsAreOnlineWithGpuFigures()
    {
        // Act
        var list = await WaitForBackendsAsync(body => (int?)body["online"] == 2, TimeSpan.FromSeconds(60));

        // Assert
        Assert.Equal(2, (int?)list["total"]);
        Assert.All(list["backends"]!.AsArray(), backend =>
        {
            Assert.Equal("127.0.0.1", (string?)backend!["host"]);
            Assert.Contains((string?)backend["status"], new[] { "idle", "busy" });
            Assert.Contains("Emulated RTX 4090", (string?)backend["gpu_name"]);
            Assert.Equal(24L << 30, (long?)backend["gpu_memory_total"]);
        });
    }

    [Fact]
    public async Task AStoppedEmulatorIsOfflineWithinTenSecondsAndOnlineAgainOnceTheAppHostRestartsIt()
    {
        // Arrange
        var ct = TestContext.Current.CancellationToken;
        await WaitForBackendsAsync(body => (int?)body["online"] == 2, TimeSpan.FromSeconds(60));
        var (pid, commandLine) = Suite.FindSuiteProcesses().First(p => RunningSuite.Runs(p.CommandLine, "ComfyEmulator"));
        var port = commandLine.Split(' ').SkipWhile(a => a != "--port").Skip(1).First();
        var id = $"127.0.0.1_{port}";

        // Act: stop it from answering, then kill it for the AppHost to restart
        RunningSuite.Freeze(pid);
        var stoppedAt = DateTime.UtcNow;
        var offline = await WaitForBackendsAsync(body => StatusOf(body, id) == "offline", TimeSpan.FromSeconds(30));
        var tookToGoOffline = DateTime.UtcNow - stoppedAt;
        RunningSuite.Kill(pid);
        var online = await WaitForBackendsAsync(body => StatusOf(body, id) is "idle" or "busy", TimeSpan.FromSeconds(90));

        // Assert
        Assert.True(tookToGoOffline <= OfflineWithin + TimeSpan.FromSeconds(1), $"{id} took {tookToGoOffline.TotalSeconds:0.0} s to show offline");
        Assert.Equal(1, (int?)offline["online"]);
        Assert.NotNull((string?)Find(offline, id)!["last_error"]);
        Assert.Equal(2, (int?)online["online"]);
        var status = await Suite.Gateway.GetFromJsonAsync<JsonObject>($"/api/backends/{id}/status", ct);
        Assert.True((bool?)status!["online"]);
    }

    private async Task<JsonObject> WaitForBackendsAsync(Func<JsonObject, bool> accept, TimeSpan timeout)
    {
        var ct = TestContext.Current.CancellationToken;
        var deadline = DateTime.UtcNow + timeout;
        JsonObject? last = null;
        while (DateTime.UtcNow < deadline)
        {
            last = await Suite.Gateway.GetFromJsonAsync<JsonObject>("/api/backends", ct);
            if (last is not null && accept(last))
            {
                return last;
            }

            await Task.Delay(250, ct);
        }

        throw new TimeoutException($"/api/backends did not reach the expected state; last: {last?.ToJsonString()}\n{Suite.DescribeProcesses()}");
    }

    private static JsonNode? Find(JsonObject list, string id) =>
        list["backends"]!.AsArray().FirstOrDefault(b => (string?)b!["id"] == id);

    private static string? StatusOf(JsonObject list, string id) => (string?)Find(list, id)?["status"];
}
