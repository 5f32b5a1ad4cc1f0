using System.Net.Http.Json;
using System.Text.Json.Nodes;
using DirectorsConsole.Testing;

namespace DirectorsConsole.RenderAgent.Tests;

/// <summary>The agent between a real ComfyUI emulator and an orchestrator double speaking the /_worker protocol.</summary>
public sealed class RenderAgentTests
{
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Registers_with_the_capabilities_it_discovers_from_its_node_and_heartbeats()
    {
        // Arrange
        await using var rig = await AgentRig.StartAsync(maxConcurrentJobs: 1, prefetch: 1,
            emulatorOptions: ["--gpu-name", "NVIDIA GeForce RTX 4090", "--vram-gb", "24", "--checkpoints", "sd15.safetensors,sdxl/base.safetensors"]);

        // Act
        var registration = await Eventually.ReturnsAsync(() => Task.FromResult(rig.Orchestrator.Registrations.FirstOrDefault()), r => r is not null);
        var heartbeat = await Eventually.ReturnsAsync(() => Task.FromResult(rig.Orchestrator.Heartbeats.FirstOrDefault().Body), h => h is not null);

        // Assert
        Assert.Equal(AgentRig.WorkerId, (string?)registration!["worker_id"]);
        Assert.Equal(1, (int)registration["max_concurrent_jobs"]!);
        Assert.Equal(1, (int)registration["prefetch"]!);
        var capabilities = registration["capabilities"]!;
        var classes = capabilities["node_classes"]!.AsArray().Select(c => (string?)c).ToArray();
        Assert.Contains("KSampler", classes);
        Assert.Contains("TestProgressImage", classes);
        var models = capabilities["models"]!.AsArray().Select(m => (string?)m).ToArray();
        Assert.Contains("sd15.safetensors", models);
        Assert.Contains("sdxl/base.safetensors", models);
        Assert.Contains("add_detail.safetensors", models);
        Assert.Equal("NVIDIA GeForce RTX 4090", (string?)capabilities["gpu"]);
        Assert.Equal(24L * 1024 * 1024 * 1024, (long)capabilities["vram_bytes"]!);
        Assert.Equal("0.3.64", (string?)capabilities["comfyui_version"]);
        Assert.Equal("idle", (string?)heartbeat!["status"]);
        Assert.Empty(heartbeat["running_task_ids"]!.AsArray());
    }

    [Fact]
    public async Task Runs_a_task_relaying_its_messages_and_previews_and_uploads_its_outputs_before_the_result()
    {
        // Arrange
        await using var rig = await AgentRig.StartAsync();
        var taskId = AgentRig.NewTaskId();

        // Act
        rig.Orchestrator.Offer(AgentRig.Task(taskId, steps: 3));
        var result = await rig.WaitForResultAsync(taskId);

        // Assert: ComfyUI's own messages of the prompt, in order, and its preview frames
        var types = rig.Orchestrator.TextTypes(taskId).ToList();
        Assert.Equal("execution_start", types[0]);
        Assert.Contains("progress", types);
        Assert.True(types.IndexOf("executed") is >= 0 && types.IndexOf("executed") < types.IndexOf("execution_success"), string.Join(", ", types));
        Assert.Contains(rig.Orchestrator.For(taskId), r => r.Kind == "binary");
        // The result: success with the node's history outputs unchanged, posted after every output was uploaded
        Assert.Equal("success", (string?)result["result"]!["status"]);
        Assert.Equal(AgentRig.WorkerId, (string?)result["worker_id"]);
        Assert.Equal($"job-{taskId}", (string?)result["job_id"]);
        var history = await rig.NodeHistoryAsync(taskId);
        Assert.True(JsonNode.DeepEquals(history!["outputs"], result["result"]!["data"]!["outputs"]));
        var received = rig.Orchestrator.For(taskId);
        var upload = Assert.Single(received, r => r.Kind == "upload");
        Assert.True(rig.Orchestrator.IndexOf(upload) < rig.Orchestrator.IndexOf(rig.Orchestrator.Results(taskId)[0]));
        var file = history["outputs"]!["2"]!["images"]![0]!;
        Assert.Equal((string?)file["filename"], (string?)upload.Json!["filename"]);
        Assert.Equal("output", (string?)upload.Json["type"]);
        Assert.Equal("image/png", (string?)upload.Json["content_type"]);
        var onNode = await rig.Emulator.Client.GetByteArrayAsync($"view?filename={file["filename"]}&subfolder=&type=output", Cancel);
        Assert.Equal(onNode, upload.Bytes);
    }

    [Fact]
    public async Task A_cancel_deletes_or_interrupts_exactly_the_cancelled_prompt()
    {
        // Arrange: A runs, B waits in the node's queue (one running slot, one prefetched)
        await using var rig = await AgentRig.StartAsync(maxConcurrentJobs: 1, prefetch: 1);
        var (a, b) = (AgentRig.NewTaskId(), AgentRig.NewTaskId());
        rig.Orchestrator.Offer(AgentRig.Task(a, steps: 400, delayMs: 50));
        await rig.WaitForTextAsync(a, "execution_start");
        rig.Orchestrator.Offer(AgentRig.Task(b, steps: 400, delayMs: 50, number: 2));
        await Eventually.ReturnsAsync(rig.NodeQueueAsync, q => q.Pending.Contains(b));

        // Act: B cancelled through the heartbeat reply
        rig.Orchestrator.CancelInHeartbeat[b] = 0;
        var resultB = await rig.WaitForResultAsync(b);

        // Assert: B deleted from the queue unrun, A still running
        Assert.Equal("cancelled", (string?)resultB["result"]!["status"]);
        Assert.Null(await rig.NodeHistoryAsync(b));
        Assert.DoesNotContain("execution_start", rig.Orchestrator.TextTypes(b));
        var queue = await rig.NodeQueueAsync();
        Assert.Equal([a], queue.Running);
        Assert.DoesNotContain("execution_interrupted", rig.Orchestrator.TextTypes(a));

        // Act: A cancelled through the socket's command
        await Eventually.ReturnsAsync(() => Task.FromResult(rig.Orchestrator.SocketOpen), open => open);
        await rig.Orchestrator.SendCommandAsync(new JsonObject { ["command"] = "cancel_task", ["task_id"] = a, ["job_id"] = $"job-{a}" });
        var resultA = await rig.WaitForResultAsync(a);

        // Assert: A interrupted on the node
        Assert.Equal("cancelled", (string?)resultA["result"]!["status"]);
        Assert.Contains("execution_interrupted", rig.Orchestrator.TextTypes(a));
        var history = await rig.NodeHistoryAsync(a);
        Assert.Equal("error", (string?)history!["status"]!["status_str"]);
    }

    [Fact]
    public async Task A_task_handed_out_twice_runs_once()
    {
        // Arrange: two slots, so the second offer is taken while the first runs
        await using var rig = await AgentRig.StartAsync(maxConcurrentJobs: 1, prefetch: 1);
        var taskId = AgentRig.NewTaskId();

        // Act: offered twice at once, then once more after its result was accepted
        rig.Orchestrator.Offer(AgentRig.Task(taskId, steps: 10, delayMs: 50));
        rig.Orchestrator.Offer(AgentRig.Task(taskId, steps: 10, delayMs: 50));
        await rig.WaitForResultAsync(taskId);
        rig.Orchestrator.Offer(AgentRig.Task(taskId, steps: 10, delayMs: 50));
        var again = await rig.WaitForResultAsync(taskId, count: 2);

        // Assert: the node ran the prompt once; the third offer found it in the node's history and sent its result again
        Assert.Single(rig.Orchestrator.TextTypes(taskId), t => t == "execution_start");
        Assert.Equal("success", (string?)again["result"]!["status"]);
        Assert.Equal(2, rig.Orchestrator.Results(taskId).Count);
    }

    [Fact]
    public async Task The_result_of_a_prompt_that_ended_while_the_orchestrator_was_down_is_delivered_when_it_is_back()
    {
        // Arrange
        await using var rig = await AgentRig.StartAsync();
        var taskId = AgentRig.NewTaskId();
        rig.Orchestrator.Offer(AgentRig.Task(taskId, steps: 40, delayMs: 50));
        await rig.WaitForTextAsync(taskId, "execution_start");

        // Act: the orchestrator goes away mid-prompt, the prompt ends on the node, then the orchestrator is back
        rig.Orchestrator.Down = true;
        await Eventually.ReturnsAsync(() => rig.NodeHistoryAsync(taskId), h => h is not null, TimeSpan.FromSeconds(30));
        Assert.Empty(rig.Orchestrator.Results(taskId));
        var registrations = rig.Orchestrator.Registrations.Count;
        rig.Orchestrator.Down = false;
        var result = await rig.WaitForResultAsync(taskId);

        // Assert: registered again and reported the held task before the result; outputs uploaded before it
        Assert.Equal("success", (string?)result["result"]!["status"]);
        Assert.True(rig.Orchestrator.Registrations.Count > registrations);
        var resultIndex = rig.Orchestrator.IndexOf(rig.Orchestrator.Results(taskId)[0]);
        Assert.Contains(rig.Orchestrator.Heartbeats, h => h.Order <= resultIndex
            && h.Body["running_task_ids"]!.AsArray().Any(id => (string?)id == taskId));
        Assert.Contains(rig.Orchestrator.For(taskId), r => r.Kind == "upload" && rig.Orchestrator.IndexOf(r) < resultIndex);
    }

    [Fact]
    public async Task A_prompt_its_node_lost_in_a_restart_fails_as_transient_and_the_next_task_runs_on_the_restarted_node()
    {
        // Arrange
        await using var rig = await AgentRig.StartAsync();
        var lost = AgentRig.NewTaskId();
        rig.Orchestrator.Offer(AgentRig.Task(lost, steps: 400, delayMs: 50));
        await rig.WaitForTextAsync(lost, "execution_start");

        // Act: the node dies mid-prompt and comes back with an empty queue and history
        await rig.Emulator.KillAsync();
        await rig.Emulator.RestartAsync(Cancel);
        var result = await rig.WaitForResultAsync(lost);
        var next = AgentRig.NewTaskId();
        rig.Orchestrator.Offer(AgentRig.Task(next));
        var nextResult = await rig.WaitForResultAsync(next);

        // Assert
        Assert.Equal("failure", (string?)result["result"]!["status"]);
        Assert.Equal("TRANSIENT", (string?)result["result"]!["error"]!["code"]);
        Assert.Equal("success", (string?)nextResult["result"]!["status"]);
        Assert.Contains("execution_success", rig.Orchestrator.TextTypes(next));
    }

    [Fact]
    public async Task A_404_on_the_heartbeat_makes_the_agent_register_again()
    {
        // Arrange
        await using var rig = await AgentRig.StartAsync();
        await Eventually.ReturnsAsync(() => Task.FromResult(rig.Orchestrator.Heartbeats.Count), n => n > 0);

        // Act
        rig.Orchestrator.ForgetWorker();

        // Assert
        await Eventually.ReturnsAsync(() => Task.FromResult(rig.Orchestrator.Registrations.Count), n => n >= 2);
        Assert.NotEmpty(rig.Orchestrator.NotFoundAnswers);
    }
}
