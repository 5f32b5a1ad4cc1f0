using System.Net.Http.Json;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json.Nodes;
using DirectorsConsole.BackendService.Tests.Dispatch;
using DirectorsConsole.Contracts;
using DirectorsConsole.Testing;

namespace DirectorsConsole.BackendService.Tests.Agents;

/// <summary>
/// One BackendService replica in memory on a private Garnet, with short agent intervals (TTL 2 s, a hand-out offered
/// again after 2 s, prompts of an offline agent lost after 2 s), driven by the tests as render agents would drive it:
/// over HTTP and WebSocket, with the worker id the Gateway would forward.
/// </summary>
public sealed class AgentRig : IAsyncLifetime
{
    public static readonly IReadOnlyDictionary<string, string?> Settings = new Dictionary<string, string?>
    {
        ["Agents:HeartbeatTtl"] = "00:00:02",
        ["Agents:PollTimeout"] = "00:00:05",
        ["Agents:HandOutTimeout"] = "00:00:02",
        ["Backends:Dispatch:OfflineGrace"] = "00:00:02",
    };

    public DispatchRig Dispatch { get; private set; } = null!;

    public ServiceFactory<Program> Service { get; private set; } = null!;

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        Dispatch = await DispatchRig.StartAsync(emulators: 0, replicas: 0);
        Service = Dispatch.AddReplica(overrides: Settings);
    }

    public async ValueTask DisposeAsync()
    {
        if (Dispatch is not null)
        {
            await Dispatch.DisposeAsync();
        }
    }

    public static string NewAgentId() => "agent-" + Guid.NewGuid().ToString("N")[..8];

    /// <summary>A client acting as the Gateway forwards a worker: <paramref name="workerId"/> is the id its token is bound to.</summary>
    public HttpClient Client(string workerId)
    {
        var client = Service.CreateClient();
        client.DefaultRequestHeaders.Add("X-Worker-Id", workerId);
        return client;
    }

    public static object Registration(string agentId, int maxConcurrentJobs = 1) => new
    {
        worker_id = agentId,
        name = "Agent " + agentId,
        max_concurrent_jobs = maxConcurrentJobs,
        prefetch = 0,
        capabilities = new
        {
            models = new[] { "sd15.safetensors" },
            node_classes = new[] { "KSampler", "SaveImage", "TestProgressImage" },
            gpu = "RTX 4090",
            vram_bytes = 25757220864,
            comfyui_version = "0.3.64",
        },
    };

    public async Task<HttpClient> RegisterAsync(string agentId)
    {
        var client = Client(agentId);
        using var response = await client.PostAsJsonAsync("/_worker/workers/register", Registration(agentId), Token);
        Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync(Token));
        return client;
    }

    /// <summary>Enqueues a prompt for the agent's backend as the scheduler does.</summary>
    public Task<RunPromptCommand> EnqueueAsync(string agentId, long seed = 7) =>
        Dispatch.EnqueueAsync(DispatchRig.ProgressWorkflow(steps: 2, delayMs: 0), agentId, seed);

    public async Task<WebSocket> ConnectAsync(string agentId)
    {
        var client = Service.Server.CreateWebSocketClient();
        client.ConfigureRequest = request => request.Headers["X-Worker-Id"] = agentId;
        return await client.ConnectAsync(new Uri(Service.Server.BaseAddress, $"/_worker/ws/{agentId}"), Token);
    }

    public static Task SendAsync(WebSocket socket, string type, JsonObject data) =>
        socket.SendAsync(Encoding.UTF8.GetBytes(new JsonObject { ["type"] = type, ["data"] = data }.ToJsonString()), WebSocketMessageType.Text, true, Token);

    public static async Task<JsonObject> ReceiveAsync(WebSocket socket)
    {
        var buffer = new byte[64 * 1024];
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Token);
        timeout.CancelAfter(TimeSpan.FromSeconds(30));
        var result = await socket.ReceiveAsync(buffer, timeout.Token);
        return (JsonObject)JsonNode.Parse(buffer.AsSpan(0, result.Count))!;
    }

    public static object Result(RunPromptCommand command, string workerId, string status = "success") => new
    {
        job_id = command.JobId,
        task_id = command.PromptId,
        worker_id = workerId,
        result = new
        {
            status,
            data = new
            {
                outputs = new JsonObject
                {
                    ["2"] = new JsonObject
                    {
                        ["images"] = new JsonArray(new JsonObject { ["filename"] = "run_00001_.png", ["subfolder"] = "dispatch", ["type"] = "output" }),
                    },
                },
            },
            error = status == "failure" ? new { code = "TRANSIENT", message = "CUDA out of memory" } : null,
        },
    };
}
