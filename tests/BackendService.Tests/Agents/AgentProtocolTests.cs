using System.Net;
using System.Net.Http.Json;
using System.Net.WebSockets;
using System.Text.Json.Nodes;
using DirectorsConsole.BackendService.Tests.Backends;
using DirectorsConsole.Contracts;
using DirectorsConsole.Testing;

namespace DirectorsConsole.BackendService.Tests.Agents;

/// <summary>
/// The render agents' protocol against the real BackendService, the test acting as the agent: registration as a
/// backend of kind agent, the heartbeat's TTL, the long-poll and its hand-out (offered again when its reply was lost,
/// never twice once confirmed), ComfyUI's messages relayed over the WebSocket becoming render events once and in
/// order, results applied once, outputs stored and served by the agent backend's <c>/view</c>, cancel pushed, and
/// the prompts of an agent that stops its heartbeat lost after the grace like a lost node's.
/// </summary>
public sealed class AgentProtocolTests(AgentRig rig) : IClassFixture<AgentRig>
{
    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Fact]
    public async Task ARegisteredAgentIsABackendOfKindAgentOnlineWhileItPingsAndOfflineAfterTheTtl()
    {
        // Arrange
        var agentId = AgentRig.NewAgentId();
        using var client = rig.Client(agentId);

        // Act
        using var registered = await client.PostAsJsonAsync("/_worker/workers/register", AgentRig.Registration(agentId, maxConcurrentJobs: 2), Token);
        var reply = await registered.ReadJsonAsync(Token);
        var online = await Eventually.ReturnsAsync(() => client.GetBackendAsync(agentId, Token), b => (bool?)b?["online"] == true, TimeSpan.FromSeconds(20));
        using var ping = await client.PatchAsync($"/_worker/workers/{agentId}", null, Token);
        var pingReply = await ping.ReadJsonAsync(Token);
        var offline = await Eventually.ReturnsAsync(() => client.GetBackendAsync(agentId, Token), b => (string?)b?["status"] == "offline", TimeSpan.FromSeconds(20));

        // Assert
        Assert.Equal(HttpStatusCode.OK, registered.StatusCode);
        Assert.Equal("registered", (string?)reply["status"]);
        Assert.Equal(2, (double?)reply["heartbeat_ttl_seconds"]);
        Assert.Equal(5, (double?)reply["poll_timeout_seconds"]);
        Assert.Equal("agent", (string?)online!["kind"]);
        Assert.Equal(2, (int?)online["max_concurrent_jobs"]);
        Assert.Equal("RTX 4090", (string?)online["gpu_name"]);
        Assert.Contains("KSampler", online["discovered"]!["node_classes"]!.AsArray().Select(n => (string?)n));
        Assert.Contains("sd15.safetensors", online["discovered"]!["checkpoints"]!.AsArray().Select(n => (string?)n));
        Assert.Equal("ttl_refreshed", (string?)pingReply["status"]);
        Assert.Equal("offline", (string?)offline!["status"]);
        Assert.Contains("no heartbeat", (string?)offline["last_error"]);
    }

    [Fact]
    public async Task BadRegistrationsAndUnknownWorkersAreRefusedWithADetail()
    {
        // Arrange
        var agentId = AgentRig.NewAgentId();
        using var client = rig.Client(AccessAny);
        await client.CreateBackendAsync(new { id = "node-" + agentId, host = "127.0.0.1", port = BackendTestClient.DeadPort() }, Token);

        // Act
        using var noId = await client.PostAsJsonAsync("/_worker/workers/register", new { max_concurrent_jobs = 1 }, Token);
        using var badJobs = await client.PostAsJsonAsync("/_worker/workers/register", new { worker_id = agentId, max_concurrent_jobs = 0 }, Token);
        using var nodeId = await client.PostAsJsonAsync("/_worker/workers/register", new { worker_id = "node-" + agentId }, Token);
        using var unknownPing = await client.PatchAsync($"/_worker/workers/{agentId}", null, Token);
        using var otherWorker = await rig.Client("someone-else").PatchAsync($"/_worker/workers/{agentId}", null, Token);
        using var noIdentity = await rig.Service.CreateClient().PostAsJsonAsync("/_worker/workers/register", AgentRig.Registration(agentId), Token);

        // Assert
        Assert.Equal(HttpStatusCode.UnprocessableEntity, noId.StatusCode);
        Assert.Equal("worker_id", (string?)(await noId.ReadJsonAsync(Token))["detail"]![0]!["loc"]![1]);
        Assert.Equal(HttpStatusCode.UnprocessableEntity, badJobs.StatusCode);
        Assert.Equal(HttpStatusCode.Conflict, nodeId.StatusCode);
        Assert.Contains("ComfyUI backend", (string?)(await nodeId.ReadJsonAsync(Token))["detail"]);
        Assert.Equal(HttpStatusCode.NotFound, unknownPing.StatusCode);
        Assert.Contains("register", (string?)(await unknownPing.ReadJsonAsync(Token))["detail"]);
        Assert.Equal(HttpStatusCode.Forbidden, otherWorker.StatusCode);
        Assert.Contains("bound to worker 'someone-else'", (string?)(await otherWorker.ReadJsonAsync(Token))["detail"]);
        Assert.Equal(HttpStatusCode.Forbidden, noIdentity.StatusCode);
    }

    [Fact]
    public async Task APollWithNothingQueuedAnswers204AfterItsTimeout()
    {
        // Arrange
        var agentId = AgentRig.NewAgentId();
        using var client = await rig.RegisterAsync(agentId);

        // Act
        using var response = await client.GetAsync($"/_worker/workers/{agentId}/tasks/next?timeout_seconds=1", Token);

        // Assert
        Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
    }

    [Fact]
    public async Task ATasksMessagesBecomeRenderEventsOnceAndInOrderAndItsResultIsAppliedOnce()
    {
        // Arrange
        var agentId = AgentRig.NewAgentId();
        using var client = await rig.RegisterAsync(agentId);
        var command = await rig.EnqueueAsync(agentId);

        // Act: the task, then ComfyUI's messages relayed verbatim, then the result twice.
        using var next = await client.GetAsync($"/_worker/workers/{agentId}/tasks/next", Token);
        var task = await next.ReadJsonAsync(Token);
        using var socket = await rig.ConnectAsync(agentId);
        var id = command.PromptId;
        await AgentRig.SendAsync(socket, "execution_start", new JsonObject { ["prompt_id"] = id });
        await AgentRig.SendAsync(socket, "executing", new JsonObject { ["node"] = "1", ["prompt_id"] = id });
        await AgentRig.SendAsync(socket, "progress", new JsonObject { ["value"] = 1, ["max"] = 2, ["node"] = "1", ["prompt_id"] = id });
        await AgentRig.SendAsync(socket, "progress", new JsonObject { ["value"] = 2, ["max"] = 2, ["node"] = "1", ["prompt_id"] = id });
        await AgentRig.SendAsync(socket, "executing", new JsonObject { ["node"] = "2", ["prompt_id"] = id });
        await AgentRig.SendAsync(socket, "execution_success", new JsonObject { ["prompt_id"] = id });
        await AgentRig.SendAsync(socket, "executing", new JsonObject { ["node"] = null, ["prompt_id"] = id });
        await rig.Dispatch.Events.WaitForAsync(id, RenderEventKinds.Progress);
        await Eventually.ReturnsAsync(() => Task.FromResult(rig.Dispatch.Events.For(id).Count), count => count >= 5, TimeSpan.FromSeconds(10));
        using var first = await client.PostAsJsonAsync("/_worker/tasks/result", AgentRig.Result(command, agentId), Token);
        using var second = await client.PostAsJsonAsync("/_worker/tasks/result", AgentRig.Result(command, agentId), Token);
        var completed = await rig.Dispatch.Events.WaitForAsync(id);

        // Assert
        Assert.Equal(HttpStatusCode.OK, next.StatusCode);
        Assert.Equal(id, (string?)task["task_id"]);
        Assert.Equal(command.JobId, (string?)task["job_id"]);
        Assert.Equal("comfyui_prompt", (string?)task["type"]);
        Assert.Equal(7, (long?)task["params"]!["prompt"]!["1"]!["inputs"]!["seed"]);
        Assert.NotNull(task["params"]!["extra_data"]!["extra_pnginfo"]!["workflow"]);
        Assert.Equal("result_accepted_success", (string?)(await first.ReadJsonAsync(Token))["status"]);
        var ignored = await second.ReadJsonAsync(Token);
        Assert.Equal("ignored", (string?)ignored["status"]);
        Assert.Equal("duplicate", (string?)ignored["reason"]);
        var kinds = rig.Dispatch.Events.For(id).Select(e => e.Kind).ToList();
        Assert.Equal([RenderEventKinds.Accepted, RenderEventKinds.Started], kinds.Take(2));
        Assert.Equal(RenderEventKinds.Completed, kinds[^1]);
        Assert.Single(kinds, RenderEventKinds.Completed);
        Assert.True(kinds.Count(k => k == RenderEventKinds.Progress) >= 3, string.Join(", ", kinds));
        var percents = rig.Dispatch.Events.For(id).Where(e => e.Kind == RenderEventKinds.Progress).Select(e => e.Percent ?? 0).ToList();
        Assert.Equal(percents.Order(), percents);
        var output = Assert.Single(completed.Outputs!);
        Assert.Equal($"/api/backends/{agentId}/view?filename=run_00001_.png&subfolder=dispatch&type=output", output.Url);
        Assert.Equal(0, (int?)(await client.GetBackendAsync(agentId, Token))!["in_flight_jobs"]);
    }

    [Fact]
    public async Task AResultFromAnotherWorkerIs403AndChangesNothing()
    {
        // Arrange
        var agentId = AgentRig.NewAgentId();
        var otherId = AgentRig.NewAgentId();
        using var client = await rig.RegisterAsync(agentId);
        using var other = await rig.RegisterAsync(otherId);
        var command = await rig.EnqueueAsync(agentId);
        using var next = await client.GetAsync($"/_worker/workers/{agentId}/tasks/next", Token);

        // Act: the other agent posts it as its own, and as the first agent's without that agent's token.
        using var asItself = await other.PostAsJsonAsync("/_worker/tasks/result", AgentRig.Result(command, otherId), Token);
        using var asTheOwner = await other.PostAsJsonAsync("/_worker/tasks/result", AgentRig.Result(command, agentId), Token);
        using var unknownTask = await client.PostAsJsonAsync("/_worker/tasks/result",
            AgentRig.Result(command with { PromptId = Guid.NewGuid().ToString() }, agentId), Token);

        // Assert
        Assert.Equal(HttpStatusCode.OK, next.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, asItself.StatusCode);
        Assert.Contains("not worker", (string?)(await asItself.ReadJsonAsync(Token))["detail"]);
        Assert.Equal(HttpStatusCode.Forbidden, asTheOwner.StatusCode);
        Assert.Equal("not_found", (string?)(await unknownTask.ReadJsonAsync(Token))["reason"]);
        Assert.DoesNotContain(rig.Dispatch.Events.For(command.PromptId), e => RenderEventKinds.IsFinal(e.Kind));
    }

    [Fact]
    public async Task AnUploadedOutputIsServedByTheAgentsViewAndBadNamesWriteNothing()
    {
        // Arrange
        var agentId = AgentRig.NewAgentId();
        using var client = await rig.RegisterAsync(agentId);
        var command = await rig.EnqueueAsync(agentId);
        using var next = await client.GetAsync($"/_worker/workers/{agentId}/tasks/next", Token);
        byte[] png = [0x89, 0x50, 0x4E, 0x47, 1, 2, 3, 4];
        var outputs = $"/_worker/tasks/{command.PromptId}/outputs";

        // Act
        using var stored = await client.PutAsync($"{outputs}?filename=run_00001_.png&subfolder=dispatch&type=output", new ByteArrayContent(png), Token);
        using var replaced = await client.PutAsync($"{outputs}?filename=run_00001_.png&subfolder=dispatch&type=output", new ByteArrayContent([.. png, 5]), Token);
        using var view = await client.GetAsync($"/api/backends/{agentId}/view?filename=run_00001_.png&subfolder=dispatch&type=output", Token);
        using var traversal = await client.PutAsync($"{outputs}?filename=..%2F..%2Fescape.png", new ByteArrayContent(png), Token);
        using var dots = await client.PutAsync($"{outputs}?filename=..", new ByteArrayContent(png), Token);
        using var subfolder = await client.PutAsync($"{outputs}?filename=a.png&subfolder=..%2F..%2F..", new ByteArrayContent(png), Token);
        using var nul = await client.PutAsync($"{outputs}?filename=a%00.png", new ByteArrayContent(png), Token);
        using var input = await client.PutAsync($"{outputs}?filename=a.png&type=input", new ByteArrayContent(png), Token);
        using var notMine = await rig.Client("someone-else").PutAsync($"{outputs}?filename=b.png", new ByteArrayContent(png), Token);
        using var missing = await client.GetAsync($"/api/backends/{agentId}/view?filename=never.png", Token);

        // Assert
        Assert.Equal(HttpStatusCode.Created, stored.StatusCode);
        Assert.Equal("run_00001_.png", (string?)(await stored.ReadJsonAsync(Token))["stored"]);
        Assert.Equal(HttpStatusCode.Created, replaced.StatusCode);
        Assert.Equal(HttpStatusCode.OK, view.StatusCode);
        Assert.Equal([.. png, 5], await view.Content.ReadAsByteArrayAsync(Token));
        Assert.Equal("image/png", view.Content.Headers.ContentType?.MediaType);
        Assert.Equal(HttpStatusCode.Forbidden, traversal.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, dots.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, subfolder.StatusCode);
        Assert.Equal(HttpStatusCode.UnprocessableEntity, nul.StatusCode);
        Assert.Equal(HttpStatusCode.UnprocessableEntity, input.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, notMine.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        var written = Directory.EnumerateFiles(rig.Service.DataDirectory, "*", SearchOption.AllDirectories)
            .Select(path => Path.GetRelativePath(rig.Service.DataDirectory, path))
            .Where(path => path.StartsWith("agent-outputs", StringComparison.Ordinal) || path.Contains(".png", StringComparison.Ordinal))
            .ToList();
        Assert.All(written, path => Assert.StartsWith(Path.Combine("agent-outputs", ""), path, StringComparison.Ordinal));
        Assert.Contains(Path.Combine("agent-outputs", agentId, "output", "dispatch", "run_00001_.png"), written);
        Assert.DoesNotContain(written, path => path.Contains("escape", StringComparison.Ordinal) || path.EndsWith("a.png", StringComparison.Ordinal));
    }

    [Fact]
    public async Task ACancelIsPushedOverTheSocketAndRepeatedInTheHeartbeatReply()
    {
        // Arrange
        var agentId = AgentRig.NewAgentId();
        using var client = await rig.RegisterAsync(agentId);
        var command = await rig.EnqueueAsync(agentId);
        using var next = await client.GetAsync($"/_worker/workers/{agentId}/tasks/next", Token);
        using var socket = await rig.ConnectAsync(agentId);
        await AgentRig.SendAsync(socket, "execution_start", new JsonObject { ["prompt_id"] = command.PromptId });
        await rig.Dispatch.Events.WaitForAsync(command.PromptId, RenderEventKinds.Started);

        // Act
        await rig.Dispatch.RequestCancelAsync(command.PromptId);
        var pushed = await AgentRig.ReceiveAsync(socket);
        using var heartbeat = await client.PatchAsJsonAsync($"/_worker/workers/{agentId}",
            new { status = "busy", running_task_ids = new[] { command.PromptId }, queue_running = 1, queue_pending = 0 }, Token);
        var reply = await heartbeat.ReadJsonAsync(Token);
        await AgentRig.SendAsync(socket, "execution_interrupted", new JsonObject { ["prompt_id"] = command.PromptId, ["node_id"] = "1" });
        var ended = await rig.Dispatch.Events.WaitForAsync(command.PromptId);

        // Assert
        Assert.Equal("cancel_task", (string?)pushed["command"]);
        Assert.Equal(command.PromptId, (string?)pushed["task_id"]);
        Assert.Equal(command.JobId, (string?)pushed["job_id"]);
        Assert.Equal("ok", (string?)reply["status"]);
        Assert.Equal([command.PromptId], reply["cancel_tasks"]!.AsArray().Select(n => (string?)n));
        Assert.Equal(RenderEventKinds.Interrupted, ended.Kind);
        Assert.Equal("cancelled", ended.Error);
    }

    [Fact]
    public async Task AHandOutWhoseReplyWasLostIsOfferedAgainAndNeverAfterTheAgentConfirmedIt()
    {
        // Arrange
        var agentId = AgentRig.NewAgentId();
        using var client = await rig.RegisterAsync(agentId);
        var command = await rig.EnqueueAsync(agentId);
        using (var lost = await client.GetAsync($"/_worker/workers/{agentId}/tasks/next", Token))
        {
            Assert.Equal(HttpStatusCode.OK, lost.StatusCode);
        }

        // Act: the agent never got the first reply and polls again; then it confirms, and polls past the hand-out timeout.
        using var again = await client.GetAsync($"/_worker/workers/{agentId}/tasks/next", Token);
        var offeredAgain = await again.ReadJsonAsync(Token);
        using var heartbeat = await client.PatchAsJsonAsync($"/_worker/workers/{agentId}", new { running_task_ids = new[] { command.PromptId } }, Token);
        using var afterConfirm = await client.GetAsync($"/_worker/workers/{agentId}/tasks/next?timeout_seconds=4", Token);

        // Assert
        Assert.Equal(command.PromptId, (string?)offeredAgain["task_id"]);
        Assert.Empty((await heartbeat.ReadJsonAsync(Token))["cancel_tasks"]!.AsArray());
        Assert.Equal(HttpStatusCode.NoContent, afterConfirm.StatusCode);
        Assert.Single(rig.Dispatch.Events.For(command.PromptId), e => e.Kind == RenderEventKinds.Accepted);
        Assert.Equal(1, (int?)(await client.GetBackendAsync(agentId, Token))!["in_flight_jobs"]);
    }

    [Fact]
    public async Task AnAgentWhoseHeartbeatStopsLosesItsPromptsAndALateResultIsStale()
    {
        // Arrange
        var agentId = AgentRig.NewAgentId();
        using var client = await rig.RegisterAsync(agentId);
        var command = await rig.EnqueueAsync(agentId);
        using var next = await client.GetAsync($"/_worker/workers/{agentId}/tasks/next", Token);
        using var confirm = await client.PatchAsJsonAsync($"/_worker/workers/{agentId}", new { running_task_ids = new[] { command.PromptId } }, Token);

        // Act: no more heartbeats.
        var lost = await rig.Dispatch.Events.WaitForAsync(command.PromptId, timeout: TimeSpan.FromSeconds(30));
        using var late = await client.PostAsJsonAsync("/_worker/tasks/result", AgentRig.Result(command, agentId), Token);

        // Assert
        Assert.Equal(RenderEventKinds.Failed, lost.Kind);
        Assert.Equal(RenderErrorTypes.BackendLost, lost.ErrorType);
        var reply = await late.ReadJsonAsync(Token);
        Assert.Equal("ignored", (string?)reply["status"]);
        Assert.Equal("stale", (string?)reply["reason"]);
        Assert.Single(rig.Dispatch.Events.For(command.PromptId), e => RenderEventKinds.IsFinal(e.Kind));
    }

    /// <summary>The worker id the Gateway forwards for the shared token.</summary>
    private const string AccessAny = "*";
}
