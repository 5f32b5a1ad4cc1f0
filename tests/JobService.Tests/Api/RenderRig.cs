extern alias backend;
using System.Globalization;
using System.Net.Http.Json;
using System.Net.WebSockets;
using System.Text.Json.Nodes;
using DirectorsConsole.Testing;
using BackendProgram = backend::Program;

namespace DirectorsConsole.JobService.Tests.Api;

/// <summary>
/// A private Garnet, ComfyUI emulators as processes (backends <c>emu-0</c>, <c>emu-1</c>…), a real BackendService in
/// memory that probes them and dispatches to them, and JobService replicas in memory on the same Garnet, so the API and
/// its WebSockets are tested against real renders, events and replicas.
/// </summary>
public sealed class RenderRig : IAsyncDisposable
{
    private RenderRig(RedisServerProcess garnet, IReadOnlyList<ComfyEmulatorProcess> emulators, ServiceFactory<BackendProgram> backendService)
    {
        Garnet = garnet;
        Emulators = emulators;
        BackendService = backendService;
    }

    public RedisServerProcess Garnet { get; }

    public IReadOnlyList<ComfyEmulatorProcess> Emulators { get; }

    public ServiceFactory<BackendProgram> BackendService { get; }

    public List<ServiceFactory<Program>> JobReplicas { get; } = [];

    public static string BackendId(int index) => $"emu-{index.ToString(CultureInfo.InvariantCulture)}";

    public static async Task<RenderRig> StartAsync(int emulators = 2, int jobReplicas = 2)
    {
        var cancellationToken = TestContext.Current.CancellationToken;
        var garnet = await RedisServerProcess.StartGarnetAsync(cancellationToken: cancellationToken);
        var nodes = await Task.WhenAll(Enumerable.Range(0, emulators).Select(_ => ComfyEmulatorProcess.StartAsync(["--step-delay-ms", "0"], cancellationToken)));
        var settings = new Dictionary<string, string?>
        {
            ["Backends:Probe:Interval"] = "00:00:00.5",
            ["Backends:Probe:Timeout"] = "00:00:02",
            ["Backends:Leases:Ttl"] = "00:00:03",
            ["Backends:Leases:RenewalInterval"] = "00:00:01",
            ["Backends:Dispatch:HealthCheckInterval"] = "00:00:00.2",
        };
        for (var i = 0; i < nodes.Length; i++)
        {
            var prefix = $"backends:{i.ToString(CultureInfo.InvariantCulture)}:";
            settings[prefix + "id"] = BackendId(i);
            settings[prefix + "host"] = "127.0.0.1";
            settings[prefix + "port"] = nodes[i].Port.ToString(CultureInfo.InvariantCulture);
        }

        var backendService = new ServiceFactory<BackendProgram>(garnet.ConnectionString, settings);
        var rig = new RenderRig(garnet, nodes, backendService);
        for (var i = 0; i < jobReplicas; i++)
        {
            var replica = new ServiceFactory<Program>(garnet.ConnectionString);
            _ = replica.Services; // starts the host
            rig.JobReplicas.Add(replica);
        }

        await rig.WaitUntilOnlineAsync(emulators);
        return rig;
    }

    public HttpClient Client(int replica = 0) => JobReplicas[replica].CreateClient();

    /// <summary>Opens a WebSocket to a JobService replica (in memory, through its test server).</summary>
    public Task<WebSocket> ConnectAsync(string pathAndQuery, int replica = 0) =>
        JobReplicas[replica].Server.CreateWebSocketClient().ConnectAsync(new Uri($"ws://localhost{pathAndQuery}"), TestContext.Current.CancellationToken);

    /// <summary>TestProgressImage → SaveImage, as in progress_success.jsonl.</summary>
    public static JsonObject ProgressWorkflow(int steps, int delayMs) => new()
    {
        ["1"] = new JsonObject
        {
            ["class_type"] = "TestProgressImage",
            ["inputs"] = new JsonObject { ["steps"] = steps, ["delay_ms"] = delayMs, ["seed"] = 1, ["width"] = 16, ["height"] = 16 },
        },
        ["2"] = new JsonObject
        {
            ["class_type"] = "SaveImage",
            ["inputs"] = new JsonObject { ["images"] = new JsonArray("1", 0), ["filename_prefix"] = "api/run" },
        },
    };

    private async Task WaitUntilOnlineAsync(int count)
    {
        using var client = BackendService.CreateClient();
        var list = await Eventually.ReturnsAsync(
            () => client.GetFromJsonAsync<JsonObject>("/api/backends", TestContext.Current.CancellationToken),
            body => (int?)body?["online"] == count,
            TimeSpan.FromSeconds(60));
        Assert.True((int?)list?["online"] == count, $"The emulated backends did not come online: {list?.ToJsonString()}");
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var replica in JobReplicas)
        {
            await replica.DisposeAsync();
        }

        await BackendService.DisposeAsync();
        foreach (var emulator in Emulators)
        {
            await emulator.DisposeAsync();
        }

        await Garnet.DisposeAsync();
    }
}
