using System.Net;
using System.Net.Http.Json;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json.Nodes;
using DirectorsConsole.JobService.Engine;
using DirectorsConsole.JobService.Model;
using DirectorsConsole.ServiceDefaults.Backends;
using DirectorsConsole.Testing;
using Microsoft.Extensions.Logging.Abstractions;

namespace DirectorsConsole.JobService.Tests.Engine;

/// <summary>
/// A job on a render agent through the real JobService and BackendService, the test acting as the agent (it pulls the
/// task, relays ComfyUI's messages, posts its result): scheduled like any backend, completed from its result; and when
/// the agent dies mid-job, moved to a node (<c>child_reassigned</c>) and completed once, its late result ignored.
/// </summary>
public sealed class RenderAgentJobTests
{
    private static readonly Dictionary<string, string?> AgentSettings = new()
    {
        ["Agents:HeartbeatTtl"] = "00:00:02",
        ["Agents:HandOutTimeout"] = "00:00:02",
        ["Agents:PollTimeout"] = "00:00:05",
    };

    private static CancellationToken Token => EngineRig.Token;

    [Fact]
    public async Task AJobOnAnAgentCompletesFromItsResultAndOneWhoseAgentDiesMovesToANodeAndCompletesOnce()
    {
        // Arrange: one emulated node (emu-0) and an agent.
        await using var rig = await EngineRig.StartAsync([1], serviceSettings: AgentSettings);
        const string agentId = "agent-a";
        using var agent = rig.BackendService.CreateClient();
        agent.DefaultRequestHeaders.Add("X-Worker-Id", agentId);
        using (var registered = await agent.PostAsJsonAsync("/_worker/workers/register", new
        {
            worker_id = agentId,
            max_concurrent_jobs = 1,
            prefetch = 0,
            capabilities = new { models = new[] { "sd15.safetensors" }, node_classes = new[] { "TestProgressImage", "SaveImage" } },
        }, Token))
        {
            Assert.Equal(HttpStatusCode.OK, registered.StatusCode);
        }

        using var heartbeats = new CancellationTokenSource();
        var pinging = PingAsync(agent, agentId, heartbeats.Token);
        await WaitUntilOnlineAsync(rig, agentId);

        // Act 1: a job pinned to the agent, run and completed by the agent.
        var first = await rig.Engine().SubmitGroupAsync(
            new JobGroupSubmission(EngineRig.Prompt(steps: 2), [agentId], [3]) { TimeoutSeconds = 120 }, Token);
        var firstTask = await NextTaskAsync(agent, agentId);
        using var socket = await ConnectAsync(rig, agentId);
        await SendAsync(socket, "execution_start", firstTask);
        await rig.WaitForJobAsync(first.Children[0].JobId, j => j.Status == JobStatuses.Running);
        using (var result = await agent.PostAsJsonAsync("/_worker/tasks/result", Result(firstTask, agentId), Token))
        {
            Assert.Equal("result_accepted_success", (string?)(await result.Content.ReadFromJsonAsync<JsonObject>(Token))!["status"]);
        }

        var firstEnded = await rig.WaitForGroupEndAsync(first.Group.JobGroupId, TimeSpan.FromSeconds(60));

        // Act 2: a group on the agent and the node; the agent takes its child, starts it, then dies.
        var second = await rig.Engine().SubmitGroupAsync(
            new JobGroupSubmission(EngineRig.Prompt(steps: 2), [agentId, EngineRig.BackendId(0)], [5, 6]) { TimeoutSeconds = 120 }, Token);
        var lostTask = await NextTaskAsync(agent, agentId);
        await SendAsync(socket, "execution_start", lostTask);
        var lostChild = second.Children.Single(c => c.JobId == (string?)lostTask["job_id"]);
        await rig.WaitForJobAsync(lostChild.JobId, j => j.Status == JobStatuses.Running);
        await heartbeats.CancelAsync();
        await pinging;
        await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "agent killed", Token);
        var secondEnded = await rig.WaitForGroupEndAsync(second.Group.JobGroupId, TimeSpan.FromSeconds(90));
        using var late = await agent.PostAsJsonAsync("/_worker/tasks/result", Result(lostTask, agentId), Token);

        // Assert 1: completed from the agent's result, its output on the agent backend's /view.
        Assert.Equal(JobGroupStatuses.Completed, firstEnded.Group.Status);
        var done = Assert.Single(firstEnded.Children);
        Assert.Equal(agentId, done.BackendId);
        var firstEvents = await rig.Streams().ReadAsync(JobStreamId.Group(first.Group.JobGroupId), 0, Token);
        var completed = Assert.Single(firstEvents, e => e.Type == "child_completed").Payload;
        Assert.Equal($"/api/backends/{agentId}/view?filename=agent_00001_.png&subfolder=&type=output", (string?)completed["outputs"]!["images"]![0]!["url"]);

        // Assert 2: the lost child moved to the node, completed there once; the agent's late result changed nothing.
        Assert.Equal(JobGroupStatuses.Completed, secondEnded.Group.Status);
        var moved = secondEnded.Children.Single(c => c.JobId == lostChild.JobId);
        Assert.Equal(JobStatuses.Completed, moved.Status);
        Assert.Equal(EngineRig.BackendId(0), moved.BackendId);
        Assert.Equal([agentId, EngineRig.BackendId(0)], moved.Attempts);
        var events = await rig.Streams().ReadAsync(JobStreamId.Group(second.Group.JobGroupId), 0, Token);
        var reassigned = Assert.Single(events, e => e.Type == "child_reassigned").Payload;
        Assert.Equal(agentId, (string?)reassigned["from_backend_id"]);
        Assert.Equal("backend_lost", (string?)reassigned["reason"]);
        Assert.Single(events, e => e.Type == "child_completed" && (string?)e.Payload["job_id"] == lostChild.JobId);
        var lateReply = (await late.Content.ReadFromJsonAsync<JsonObject>(Token))!;
        Assert.Equal("ignored", (string?)lateReply["status"]);
        Assert.Equal("stale", (string?)lateReply["reason"]);
    }

    private static async Task WaitUntilOnlineAsync(EngineRig rig, string backendId)
    {
        var directory = new BackendDirectory(rig.Redis, NullLogger<BackendDirectory>.Instance);
        var backends = await Eventually.ReturnsAsync(() => directory.ListAsync(Token), list => list.Any(b => b.Definition.Id == backendId && b.Online), TimeSpan.FromSeconds(30));
        Assert.Contains(backends, b => b.Definition.Id == backendId && b.Online);
    }

    private static async Task PingAsync(HttpClient agent, string agentId, CancellationToken cancellationToken)
    {
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                using (await agent.PatchAsync($"/_worker/workers/{agentId}", null, cancellationToken))
                {
                }

                await Task.Delay(TimeSpan.FromMilliseconds(500), cancellationToken);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
    }

    private static async Task<JsonObject> NextTaskAsync(HttpClient agent, string agentId)
    {
        for (var attempt = 0; attempt < 12; attempt++)
        {
            using var response = await agent.GetAsync($"/_worker/workers/{agentId}/tasks/next", Token);
            if (response.StatusCode == HttpStatusCode.OK)
            {
                var task = (await response.Content.ReadFromJsonAsync<JsonObject>(Token))!;
                // The agent holds it: confirmed at once, as its next heartbeat would.
                using (await agent.PatchAsJsonAsync($"/_worker/workers/{agentId}", new { running_task_ids = new[] { (string?)task["task_id"] } }, Token))
                {
                }

                return task;
            }
        }

        throw new InvalidOperationException($"Agent {agentId} was handed no task.");
    }

    private static async Task<WebSocket> ConnectAsync(EngineRig rig, string agentId)
    {
        var client = rig.BackendService.Server.CreateWebSocketClient();
        client.ConfigureRequest = request => request.Headers["X-Worker-Id"] = agentId;
        return await client.ConnectAsync(new Uri(rig.BackendService.Server.BaseAddress, $"/_worker/ws/{agentId}"), Token);
    }

    private static Task SendAsync(WebSocket socket, string type, JsonObject task) =>
        socket.SendAsync(Encoding.UTF8.GetBytes(new JsonObject { ["type"] = type, ["data"] = new JsonObject { ["prompt_id"] = (string?)task["task_id"] } }.ToJsonString()),
            WebSocketMessageType.Text, true, Token);

    private static object Result(JsonObject task, string agentId) => new
    {
        job_id = (string?)task["job_id"],
        task_id = (string?)task["task_id"],
        worker_id = agentId,
        result = new
        {
            status = "success",
            data = new { outputs = new JsonObject { ["2"] = new JsonObject { ["images"] = new JsonArray(new JsonObject { ["filename"] = "agent_00001_.png", ["subfolder"] = "", ["type"] = "output" }) } } },
        },
    };
}
