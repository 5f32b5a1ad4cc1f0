using System.Buffers.Binary;
using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using DirectorsConsole.Testing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace DirectorsConsole.RenderAgent.Tests;

/// <summary>A real ComfyUI emulator process, the orchestrator double and the agent between them, in this process.</summary>
public sealed class AgentRig : IAsyncDisposable
{
    public const string WorkerId = "gpu-test";

    private AgentRig(ComfyEmulatorProcess emulator, OrchestratorDouble orchestrator, IHost agent)
    {
        Emulator = emulator;
        Orchestrator = orchestrator;
        Agent = agent;
    }

    public ComfyEmulatorProcess Emulator { get; }

    public OrchestratorDouble Orchestrator { get; }

    public IHost Agent { get; }

    public static async Task<AgentRig> StartAsync(int maxConcurrentJobs = 1, int prefetch = 0, IReadOnlyList<string>? emulatorOptions = null)
    {
        var emulator = await ComfyEmulatorProcess.StartAsync(emulatorOptions, TestContext.Current.CancellationToken);
        var orchestrator = await OrchestratorDouble.StartAsync();
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Agent:Orchestrator"] = orchestrator.BaseAddress.AbsoluteUri,
            ["Agent:Token"] = OrchestratorDouble.Token,
            ["Agent:WorkerId"] = WorkerId,
            ["Agent:ComfyUi"] = emulator.BaseAddress.AbsoluteUri,
            ["Agent:MaxConcurrentJobs"] = maxConcurrentJobs.ToString(CultureInfo.InvariantCulture),
            ["Agent:Prefetch"] = prefetch.ToString(CultureInfo.InvariantCulture),
            ["Agent:RequestTimeout"] = "00:00:05",
            ["Agent:RetryMinDelay"] = "00:00:00.1",
            ["Agent:RetryMaxDelay"] = "00:00:00.5",
            ["Agent:ReconcileInterval"] = "00:00:01",
        });
        builder.Logging.AddSimpleConsole().SetMinimumLevel(LogLevel.Information);
        builder.AddRenderAgent();
        var agent = builder.Build();
        await agent.StartAsync(TestContext.Current.CancellationToken);
        return new AgentRig(emulator, orchestrator, agent);
    }

    /// <summary>A task as the orchestrator hands it out, its prompt <see cref="TestPrompts.ProgressWithPreview"/>.</summary>
    public static JsonObject Task(string taskId, int steps = 3, int delayMs = 20, double number = 1) => new()
    {
        ["task_id"] = taskId,
        ["job_id"] = $"job-{taskId}",
        ["type"] = "comfyui_prompt",
        ["params"] = new JsonObject
        {
            ["prompt"] = TestPrompts.ProgressWithPreview(steps, delayMs, "agent", Random.Shared.Next(), 8),
            ["number"] = number,
        },
        ["priority"] = 0,
        ["tracing_context"] = new JsonObject(),
    };

    public static string NewTaskId() => Guid.NewGuid().ToString();

    public async Task<JsonObject> WaitForResultAsync(string taskId, int count = 1, int seconds = 30)
    {
        var results = await Eventually.ReturnsAsync(() => System.Threading.Tasks.Task.FromResult(Orchestrator.Results(taskId)), r => r.Count >= count,
            TimeSpan.FromSeconds(seconds));
        return results[count - 1].Json!;
    }

    public Task WaitForTextAsync(string taskId, string type) =>
        Eventually.ReturnsAsync(() => System.Threading.Tasks.Task.FromResult(Orchestrator.TextTypes(taskId)), t => t.Contains(type), TimeSpan.FromSeconds(30));

    /// <summary>The node's own view of a prompt: its history entry (null while queued or unknown).</summary>
    public async Task<JsonObject?> NodeHistoryAsync(string promptId)
    {
        var body = await Emulator.Client.GetFromJsonAsync<JsonObject>($"history/{promptId}", TestContext.Current.CancellationToken);
        return body?[promptId] as JsonObject;
    }

    public async Task<(IReadOnlyList<string> Running, IReadOnlyList<string> Pending)> NodeQueueAsync()
    {
        var body = (await Emulator.Client.GetFromJsonAsync<JsonObject>("queue", TestContext.Current.CancellationToken))!;
        static IReadOnlyList<string> Ids(JsonNode? items) => items!.AsArray().Select(item => (string)item![1]!).ToArray();
        return (Ids(body["queue_running"]), Ids(body["queue_pending"]));
    }

    public async ValueTask DisposeAsync()
    {
        await Agent.StopAsync(CancellationToken.None);
        Agent.Dispose();
        await Orchestrator.DisposeAsync();
        await Emulator.DisposeAsync();
    }
}

public static class PreviewFrames
{
    /// <summary>The prompt id a binary frame of type 4 names in its metadata; null for other frames.</summary>
    public static string? PromptId(byte[] frame)
    {
        if (frame.Length < 8 || BinaryPrimitives.ReadUInt32BigEndian(frame) != 4)
        {
            return null;
        }

        var length = (int)BinaryPrimitives.ReadUInt32BigEndian(frame.AsSpan(4));
        return (string?)JsonNode.Parse(frame.AsSpan(8, length))?["prompt_id"];
    }
}
