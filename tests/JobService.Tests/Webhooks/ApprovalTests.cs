using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using DirectorsConsole.JobService.Engine;
using DirectorsConsole.JobService.Model;
using DirectorsConsole.JobService.Tests.Api;
using DirectorsConsole.JobService.Tests.Engine;
using DirectorsConsole.Messaging;
using DirectorsConsole.ServiceDefaults.Access;
using DirectorsConsole.Testing;
using Microsoft.Extensions.Logging.Abstractions;

namespace DirectorsConsole.JobService.Tests.Webhooks;

/// <summary>A real render on an emulated node, then a person's decision: emu-0 (two at a time) behind a JobService
/// whose webhooks go to a <see cref="WebhookReceiver"/>, with a workflow library holding a sidecar endpoint.</summary>
public sealed class ApprovalRig : IAsyncLifetime
{
    private readonly string _workflows = Directory.CreateTempSubdirectory("dc-approval-workflows-").FullName;

    public EngineRig Rig { get; private set; } = null!;

    public WebhookReceiver Receiver { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        Receiver = await WebhookReceiver.StartAsync(TestContext.Current.CancellationToken);
        await ApiFixture.WriteEndpointWorkflowAsync(_workflows);
        var settings = WebhookDeliveryTests.Settings();
        settings["workflows_dir"] = _workflows;
        Rig = await EngineRig.StartAsync([2], jobReplicas: 1, serviceSettings: settings);
    }

    public async ValueTask DisposeAsync()
    {
        await Rig.DisposeAsync();
        await Receiver.DisposeAsync();
        Directory.Delete(_workflows, recursive: true);
    }
}

public sealed class ApprovalTests(ApprovalRig fixture) : IClassFixture<ApprovalRig>
{
    private static CancellationToken Token => TestContext.Current.CancellationToken;

    private EngineRig Rig => fixture.Rig;

    private WebhookReceiver Receiver => fixture.Receiver;

    [Fact]
    public async Task AJobNeedingApprovalWaitsWithItsOutputsAndCompletesOnceWhenTheSignedLinkApprovesIt()
    {
        // Arrange
        using var client = Rig.Client();
        var hook = "/approve/" + Guid.NewGuid().ToString("N");
        var jobId = await SubmitAsync(client, hook);
        var waiting = await Rig.WaitForJobAsync(jobId, j => j.Status != JobStatuses.Queued && j.Status != JobStatuses.Running);
        var request = await WebhookAsync(hook, "job_awaiting_approval");
        var link = (string)request.Json["approval"]!["url"]!;

        // Act
        using var unsigned = await DecideAsync(client, $"/_public/webhooks/approval/{jobId}", "approved");
        using var forged = await DecideAsync(client, $"/_public/webhooks/approval/{jobId}?signature={new string('0', 64)}", "approved");
        using var badDecision = await DecideAsync(client, link, "maybe");
        using var approved = await DecideAsync(client, link, "approved", "looks right");
        using var twice = await DecideAsync(client, link, "rejected");

        // Assert
        Assert.Equal(JobStatuses.AwaitingApproval, waiting.Status);
        Assert.NotEmpty(waiting.Outputs!["images"]!.AsArray());
        Assert.Equal(0, await Rig.Get<JobStore>().CountSlotsAsync(EngineRig.BackendId(0), Token));
        Assert.True(request.IsSignedWith(WebhookDeliveryTests.Secret, TimeSpan.FromMinutes(5)));
        Assert.Equal(jobId, (string?)request.Json["job_id"]);
        Assert.NotEmpty(request.Json["outputs"]!["images"]!.AsArray());
        Assert.Equal(HttpStatusCode.Forbidden, unsigned.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, forged.StatusCode);
        Assert.False(string.IsNullOrEmpty((string?)(await forged.Content.ReadFromJsonAsync<JsonObject>(Token))!["detail"]));
        Assert.Equal(HttpStatusCode.UnprocessableEntity, badDecision.StatusCode);
        Assert.Equal(HttpStatusCode.OK, approved.StatusCode);
        var answer = (await approved.Content.ReadFromJsonAsync<JsonObject>(Token))!;
        Assert.Equal("approval_received", (string?)answer["status"]);
        Assert.Equal(jobId, (string?)answer["job_id"]);
        Assert.Equal(HttpStatusCode.Conflict, twice.StatusCode);
        Assert.Equal(JobStatuses.Completed, (await Rig.Engine().GetJobAsync(jobId, Token))!.Status);
        var completed = await WebhookAsync(hook, "job_completed");
        Assert.Equal("completed", (string?)completed.Json["status"]);
        Assert.NotEqual(request.Id, completed.Id);
        var history = await HistoryAsync(client, jobId);
        Assert.Contains(history, e => (string?)e["event"] == "awaiting_approval");
        var decision = Assert.Single(history, e => (string?)e["event"] == "completed");
        Assert.Equal("approved", (string?)decision["decision"]);
        Assert.Equal("looks right", (string?)decision["comment"]);
        Assert.Equal("signed_link", (string?)decision["decided_by"]);
        Assert.Equal(
            ["queued", "running", "awaiting_approval", "completed"],
            history.Where(e => (string?)e["event"] == "status_changed").Select(e => (string?)e["status"]).Prepend("queued"));
    }

    [Fact]
    public async Task AnOperatorRejectsAJobAndAViewerMayNot()
    {
        // Arrange
        using var client = Rig.Client();
        var hook = "/reject/" + Guid.NewGuid().ToString("N");
        var jobId = await SubmitAsync(client, hook);
        await Rig.WaitForJobAsync(jobId, j => j.Status == JobStatuses.AwaitingApproval);

        // Act
        using var viewer = await DecideAsync(client, $"/_public/webhooks/approval/{jobId}", "rejected", role: ClientRole.Viewer);
        using var unknown = await DecideAsync(client, $"/_public/webhooks/approval/{Guid.NewGuid()}", "rejected", role: ClientRole.Operator);
        using var rejected = await DecideAsync(client, $"/_public/webhooks/approval/{jobId}", "rejected", "wrong lens", ClientRole.Operator);

        // Assert
        Assert.Equal(HttpStatusCode.Forbidden, viewer.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        Assert.Equal(HttpStatusCode.OK, rejected.StatusCode);
        var job = (await Rig.Engine().GetJobAsync(jobId, Token))!;
        Assert.Equal(JobStatuses.Rejected, job.Status);
        Assert.Equal(JobErrorTypes.Rejected, job.ErrorType);
        Assert.Contains("wrong lens", job.ErrorMessage, StringComparison.Ordinal);
        var webhook = await WebhookAsync(hook, "job_rejected");
        Assert.Equal("rejected", (string?)webhook.Json["status"]);
        var history = await HistoryAsync(client, jobId);
        Assert.StartsWith("operator:", (string?)Assert.Single(history, e => (string?)e["event"] == "rejected")["decided_by"], StringComparison.Ordinal);
    }

    [Fact]
    public async Task CancellingAJobAwaitingApprovalCancelsIt()
    {
        // Arrange
        using var client = Rig.Client();
        var hook = "/cancel/" + Guid.NewGuid().ToString("N");
        var jobId = await SubmitAsync(client, hook);
        await Rig.WaitForJobAsync(jobId, j => j.Status == JobStatuses.AwaitingApproval);

        // Act
        using var cancel = await client.PostAsync($"/api/jobs/{jobId}/cancel", null, Token);

        // Assert
        Assert.Equal(HttpStatusCode.OK, cancel.StatusCode);
        Assert.Equal(JobStatuses.Cancelled, (await Rig.Engine().GetJobAsync(jobId, Token))!.Status);
        await WebhookAsync(hook, "job_cancelled");
    }

    [Fact]
    public async Task AGroupWaitsAsAWholeWithOneSignedWebhookAndItsLinkApprovesEveryChildOnce()
    {
        // Arrange
        using var client = Rig.Client();
        var hook = "/group/" + Guid.NewGuid().ToString("N");
        var groupId = await SubmitGroupAsync(client, hook);
        var request = await WebhookAsync(hook, "group_awaiting_approval");
        var link = (string)request.Json["approval"]!["url"]!;
        var waiting = await GroupAsync(client, groupId);
        var waitingV1 = (await client.GetFromJsonAsync<JsonObject>($"/api/v1/jobs/{groupId}", Token))!;
        var childLink = (string)request.Json["children"]![0]!["approval"]!["url"]!;

        // Act
        using var forged = await DecideAsync(client, $"/_public/webhooks/approval/{groupId}?signature={new string('0', 64)}", "approved");
        using var childLinkAtGroup = await DecideAsync(client, $"/_public/webhooks/approval/{groupId}?{new Uri("http://x" + childLink).Query.TrimStart('?')}", "approved");
        using var badDecision = await DecideAsync(client, link, "later");
        using var approved = await DecideAsync(client, link, "approved", "shot 12 signed off");
        using var twice = await DecideAsync(client, link, "approved");
        using var childAfterGroup = await DecideAsync(client, childLink, "rejected");

        // Assert
        Assert.True(request.IsSignedWith(WebhookDeliveryTests.Secret, TimeSpan.FromMinutes(5)));
        Assert.Equal(groupId, (string?)request.Json["job_group_id"]);
        Assert.Equal("awaiting_approval", (string?)request.Json["status"]);
        Assert.Contains(groupId, link, StringComparison.Ordinal);
        Assert.All(request.Json["children"]!.AsArray(), c =>
        {
            Assert.Equal("awaiting_approval", (string?)c!["status"]);
            Assert.NotEmpty(c["outputs"]!["images"]!.AsArray());
            Assert.Contains((string)c["job_id"]!, (string)c["approval"]!["url"]!, StringComparison.Ordinal);
        });
        Assert.DoesNotContain(Receiver.Requests, r => r.Path == hook && r.Event == "job_awaiting_approval");
        Assert.Equal("awaiting_approval", (string?)waiting["status"]);
        Assert.All(waiting["child_jobs"]!.AsArray(), c => Assert.Equal("awaiting_approval", (string?)c!["status"]));
        Assert.Equal(0, await Rig.Get<JobStore>().CountSlotsAsync(EngineRig.BackendId(0), Token));
        Assert.Equal("waiting_for_human", (string?)waitingV1["status"]);
        Assert.Equal("awaiting_approval", (string?)waitingV1["suite_status"]);
        Assert.Equal(HttpStatusCode.Forbidden, forged.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, childLinkAtGroup.StatusCode);
        Assert.Equal(HttpStatusCode.UnprocessableEntity, badDecision.StatusCode);
        Assert.Equal(HttpStatusCode.OK, approved.StatusCode);
        var answer = (await approved.Content.ReadFromJsonAsync<JsonObject>(Token))!;
        Assert.Equal("approval_received", (string?)answer["status"]);
        Assert.Equal(groupId, (string?)answer["job_id"]);
        Assert.Equal(HttpStatusCode.Conflict, twice.StatusCode);
        Assert.False(string.IsNullOrEmpty((string?)(await twice.Content.ReadFromJsonAsync<JsonObject>(Token))!["detail"]));
        Assert.Equal(HttpStatusCode.Conflict, childAfterGroup.StatusCode);

        var decided = await GroupAsync(client, groupId);
        Assert.Equal("completed", (string?)decided["status"]);
        Assert.All(decided["child_jobs"]!.AsArray(), c => Assert.Equal("completed", (string?)c!["status"]));
        Assert.Equal("approved", (string?)decided["approval"]!["decision"]);
        Assert.Equal("shot 12 signed off", (string?)decided["approval"]!["comment"]);
        Assert.Equal("signed_link", (string?)decided["approval"]!["decided_by"]);
        var complete = await WebhookAsync(hook, "group_complete");
        Assert.True(complete.IsSignedWith(WebhookDeliveryTests.Secret, TimeSpan.FromMinutes(5)));
        Assert.Equal("completed", (string?)complete.Json["status"]);
        Assert.Equal(2, (int?)complete.Json["succeeded"]);
        Assert.Equal("approved", (string?)complete.Json["approval"]!["decision"]);
        Assert.DoesNotContain(Receiver.Requests, r => r.Path == hook && r.Event is "job_completed" or "job_rejected");

        var events = await Rig.Streams().ReadAsync(JobStreamId.Group(groupId), 0, Token);
        Assert.Single(events, e => e.Type == "group_awaiting_approval");
        Assert.Equal(2, events.Count(e => e.Type == "child_awaiting_approval"));
        Assert.All(events.Where(e => e.Type == "child_completed"), e => Assert.Equal("approved", (string?)e.Payload["decision"]));
        Assert.Equal(4, events.Count(e => e.Type == "child_completed") + events.Count(e => e.Type == "child_awaiting_approval"));
        Assert.Equal("group_complete", events[^1].Type);
        var finished = (await client.GetFromJsonAsync<JsonObject>($"/api/v1/jobs/{groupId}", Token))!;
        Assert.Equal("finished", (string?)finished["status"]);
        Assert.Equal("approved", (string?)finished["result"]!["approval"]!["decision"]);
        var history = await HistoryAsync(client, groupId);
        var groupChanges = history.Where(e => (string?)e["event"] == "status_changed" && e["job_group_id"] is not null && e["job_id"] is null).ToList();
        Assert.Equal(["awaiting_approval", "completed"], groupChanges.Select(e => (string?)e["status"]));
        Assert.Equal("signed_link", (string?)groupChanges[1]["approval"]!["decided_by"]);
        Assert.Single(history, e => (string?)e["event"] == "group_awaiting_approval");
        Assert.Equal(2, history.Count(e => (string?)e["event"] == "completed" && (string?)e["decision"] == "approved"));
    }

    [Fact]
    public async Task AnOperatorRejectsAWholeGroupAndAnUnknownGroupIsNotFound()
    {
        // Arrange
        using var client = Rig.Client();
        var hook = "/group-reject/" + Guid.NewGuid().ToString("N");
        var groupId = await SubmitGroupAsync(client, hook);
        await WebhookAsync(hook, "group_awaiting_approval");

        // Act
        using var viewer = await DecideAsync(client, $"/_public/webhooks/approval/{groupId}", "rejected", role: ClientRole.Viewer);
        using var unknown = await DecideAsync(client, "/_public/webhooks/approval/jg_000000000000", "rejected", role: ClientRole.Operator);
        using var rejected = await DecideAsync(client, $"/_public/webhooks/approval/{groupId}", "rejected", "soft focus", ClientRole.Operator);

        // Assert
        Assert.Equal(HttpStatusCode.Forbidden, viewer.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        Assert.Equal(HttpStatusCode.OK, rejected.StatusCode);
        var group = await GroupAsync(client, groupId);
        Assert.Equal("rejected", (string?)group["status"]);
        Assert.Equal(2, (int?)group["failed_count"]);
        Assert.All(group["child_jobs"]!.AsArray(), c =>
        {
            Assert.Equal("rejected", (string?)c!["status"]);
            Assert.Contains("soft focus", (string?)c["error_message"], StringComparison.Ordinal);
        });
        Assert.StartsWith("operator:", (string?)group["approval"]!["decided_by"], StringComparison.Ordinal);
        var complete = await WebhookAsync(hook, "group_complete");
        Assert.Equal("rejected", (string?)complete.Json["status"]);
        Assert.Equal("rejected", (string?)complete.Json["approval"]!["decision"]);
    }

    [Fact]
    public async Task AChildDecidedOnItsOwnStaysDecidedAndTheGroupDecisionTakesTheRest()
    {
        // Arrange
        using var client = Rig.Client();
        var hook = "/group-child/" + Guid.NewGuid().ToString("N");
        var groupId = await SubmitGroupAsync(client, hook);
        var request = await WebhookAsync(hook, "group_awaiting_approval");
        var first = request.Json["children"]![0]!;
        var second = request.Json["children"]![1]!;

        // Act
        using var childRejected = await DecideAsync(client, (string)first["approval"]!["url"]!, "rejected", "wrong seed");
        var afterChild = await GroupAsync(client, groupId);
        using var groupApproved = await DecideAsync(client, (string)request.Json["approval"]!["url"]!, "approved");

        // Assert
        Assert.Equal(HttpStatusCode.OK, childRejected.StatusCode);
        Assert.Equal("awaiting_approval", (string?)afterChild["status"]);
        Assert.Equal(HttpStatusCode.OK, groupApproved.StatusCode);
        var group = await GroupAsync(client, groupId);
        Assert.Equal("partial_complete", (string?)group["status"]);
        var statuses = group["child_jobs"]!.AsArray().ToDictionary(c => (string)c!["job_id"]!, c => (string?)c!["status"]);
        Assert.Equal("rejected", statuses[(string)first["job_id"]!]);
        Assert.Equal("completed", statuses[(string)second["job_id"]!]);
        var complete = await WebhookAsync(hook, "group_complete");
        Assert.Equal("partial_complete", (string?)complete.Json["status"]);
        Assert.Equal(1, (int?)complete.Json["succeeded"]);
        var events = await Rig.Streams().ReadAsync(JobStreamId.Group(groupId), 0, Token);
        Assert.Single(events, e => e.Type == "group_complete");
        Assert.Single(events, e => e.Type == "child_rejected");
    }

    [Fact]
    public async Task TheLastChildDecidedOnItsOwnEndsTheGroup()
    {
        // Arrange
        using var client = Rig.Client();
        var hook = "/group-each/" + Guid.NewGuid().ToString("N");
        var groupId = await SubmitGroupAsync(client, hook);
        var request = await WebhookAsync(hook, "group_awaiting_approval");

        // Act
        foreach (var child in request.Json["children"]!.AsArray())
        {
            using var approved = await DecideAsync(client, (string)child!["approval"]!["url"]!, "approved");
            Assert.Equal(HttpStatusCode.OK, approved.StatusCode);
        }

        using var groupAfter = await DecideAsync(client, (string)request.Json["approval"]!["url"]!, "approved");

        // Assert
        var group = await GroupAsync(client, groupId);
        Assert.Equal("completed", (string?)group["status"]);
        Assert.Null(group["approval"]);
        Assert.Equal(HttpStatusCode.Conflict, groupAfter.StatusCode);
        var complete = await WebhookAsync(hook, "group_complete");
        Assert.Equal(2, (int?)complete.Json["succeeded"]);
    }

    [Fact]
    public async Task CancellingAGroupAwaitingApprovalCancelsItsChildrenAndEndsTheWait()
    {
        // Arrange
        using var client = Rig.Client();
        var hook = "/group-cancel/" + Guid.NewGuid().ToString("N");
        var groupId = await SubmitGroupAsync(client, hook);
        var request = await WebhookAsync(hook, "group_awaiting_approval");

        // Act
        using var cancel = await client.DeleteAsync($"/api/job-groups/{groupId}", Token);
        using var decision = await DecideAsync(client, (string)request.Json["approval"]!["url"]!, "approved");

        // Assert
        Assert.Equal(HttpStatusCode.OK, cancel.StatusCode);
        Assert.Equal(2, (int?)(await cancel.Content.ReadFromJsonAsync<JsonObject>(Token))!["interrupted"]);
        var group = await GroupAsync(client, groupId);
        Assert.Equal("cancelled", (string?)group["status"]);
        Assert.All(group["child_jobs"]!.AsArray(), c => Assert.Equal("cancelled", (string?)c!["status"]));
        Assert.Equal(HttpStatusCode.Conflict, decision.StatusCode);
        var complete = await WebhookAsync(hook, "group_complete");
        Assert.Equal("cancelled", (string?)complete.Json["status"]);
    }

    [Fact]
    public async Task AGroupDecisionWhoseReplyWasLostIsSentAgainAndAppliedOnce()
    {
        // Arrange
        using var client = Rig.Client();
        var hook = "/group-lost/" + Guid.NewGuid().ToString("N");
        var groupId = await SubmitGroupAsync(client, hook);
        await WebhookAsync(hook, "group_awaiting_approval");
        var machine = Rig.Get<JobStateMachine>();
        var rejection = new ApprovalDecision("rejected", null, "signed_link");
        var plan = (await machine.PlanGroupDecisionAsync(groupId, new ApprovalDecision("approved", null, "signed_link"), Token))!;
        var rival = (await machine.PlanGroupDecisionAsync(groupId, rejection, Token))!;
        await using var lostReplies = await LostReplyConnection.StartAsync(Rig.Garnet.Port, Token);
        var relay = lostReplies.Relay;
        var store = new JobStore(lostReplies.Redis, NullLogger<JobStore>.Instance);

        // Act
        relay.LoseReplies();
        var commit = store.CommitAllAsync(plan.Commits, Token);
        await Eventually.ReturnsAsync(() => Rig.Redis.HashGetAsync(JobKeys.Group(groupId), "status", Token), status => status == "completed");
        relay.BreakConnections();
        var result = await commit.WaitAsync(TimeSpan.FromSeconds(60), Token);

        // Assert
        Assert.Equal(CommitStatus.Committed, result.Status);
        Assert.True(relay.HasSentWhileLosing(groupId), "the decision never reached the server before the connection broke");
        Assert.Equal(CommitStatus.Committed, (await store.CommitAllAsync(plan.Commits, Token)).Status);
        Assert.Equal(CommitStatus.Conflict, (await store.CommitAllAsync(rival.Commits, Token)).Status);
        Assert.Empty((await machine.PlanGroupDecisionAsync(groupId, rejection, Token))!.Commits);
        var group = await GroupAsync(client, groupId);
        Assert.Equal("completed", (string?)group["status"]);
        Assert.All(group["child_jobs"]!.AsArray(), c => Assert.Equal("completed", (string?)c!["status"]));
        var events = await Rig.Streams().ReadAsync(JobStreamId.Group(groupId), 0, Token);
        Assert.Single(events, e => e.Type == "group_complete");
        Assert.Equal(2, events.Count(e => e.Type == "child_completed"));
        Assert.Equal(events.Select((_, i) => (long)i + 1), events.Select(e => e.Sequence));
        var history = await HistoryAsync(client, groupId);
        Assert.Single(history, e => (string?)e["event"] == "group_complete");
        await WebhookAsync(hook, "group_complete");
    }

    [Fact]
    public async Task AJobSubmittedThroughASidecarsEndpointRendersAndPostsItsSignedWebhook()
    {
        // Arrange
        using var client = Rig.Client();
        var hook = "/endpoint/" + Guid.NewGuid().ToString("N");
        var body = new JsonObject { ["initial_data"] = new JsonObject { ["steps"] = 2 }, ["webhook_url"] = Receiver.Url(hook).ToString() };

        // Act
        using var submitted = await client.PostAsJsonAsync($"/api/v1/{ApiFixture.WorkflowEndpoint}", body, Token);

        // Assert
        Assert.Equal(HttpStatusCode.Accepted, submitted.StatusCode);
        var jobId = (string)(await submitted.Content.ReadFromJsonAsync<JsonObject>(Token))!["job_id"]!;
        var completed = await WebhookAsync(hook, "job_completed");
        Assert.True(completed.IsSignedWith(WebhookDeliveryTests.Secret, TimeSpan.FromMinutes(5)));
        Assert.Equal(jobId, (string?)completed.Json["job_id"]);
        Assert.NotEmpty(completed.Json["outputs"]!["images"]!.AsArray());
        var job = (await client.GetFromJsonAsync<JsonObject>($"/api/v1/jobs/{jobId}", Token))!;
        Assert.Equal("finished", (string?)job["status"]);
        var deliveries = await WebhookDeliveryTests.DeliveriesAsync(client, jobId, entries => entries.Count == 1);
        Assert.Equal("delivered", (string?)deliveries[0]["outcome"]);
        Assert.Equal(completed.Id, (string?)deliveries[0]["delivery_id"]);
    }

    private async Task<string> SubmitGroupAsync(HttpClient client, string hookPath)
    {
        var body = new JsonObject
        {
            ["workflow_json"] = EngineRig.Prompt(3, 10),
            ["backend_ids"] = new JsonArray(EngineRig.BackendId(0), EngineRig.BackendId(0)),
            ["seed_strategy"] = "sequential",
            ["base_seed"] = 7,
            ["requires_approval"] = true,
            ["webhook_url"] = Receiver.Url(hookPath).ToString(),
        };
        using var created = await client.PostAsJsonAsync("/api/job-groups", body, Token);
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        return (string)(await created.Content.ReadFromJsonAsync<JsonObject>(Token))!["job_group_id"]!;
    }

    private static async Task<JsonObject> GroupAsync(HttpClient client, string groupId) =>
        (await client.GetFromJsonAsync<JsonObject>($"/api/job-groups/{groupId}", Token))!;

    private async Task<string> SubmitAsync(HttpClient client, string hookPath)
    {
        var body = new JsonObject
        {
            ["workflow_json"] = EngineRig.Prompt(3, 10),
            ["backend_affinity"] = EngineRig.BackendId(0),
            ["requires_approval"] = true,
            ["webhook_url"] = Receiver.Url(hookPath).ToString(),
        };
        using var submitted = await client.PostAsJsonAsync("/api/job", body, Token);
        Assert.Equal(HttpStatusCode.Accepted, submitted.StatusCode);
        return (string)(await submitted.Content.ReadFromJsonAsync<JsonObject>(Token))!["job_id"]!;
    }

    private static async Task<HttpResponseMessage> DecideAsync(HttpClient client, string path, string decision, string? comment = null, ClientRole? role = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path)
        {
            Content = JsonContent.Create(new JsonObject { ["decision"] = decision, ["comment"] = comment }),
        };
        if (role is { } r)
        {
            request.Headers.Add(AccessHeaders.ClientRole, r.Name());
            request.Headers.Add(AccessHeaders.ClientName, "ci");
        }

        return await client.SendAsync(request, Token);
    }

    private async Task<ReceivedWebhook> WebhookAsync(string path, string @event) =>
        (await Eventually.ReturnsAsync(
            () => Task.FromResult(Receiver.Delivered.Where(r => r.Path == path && r.Event == @event).ToList()),
            r => r.Count == 1, TimeSpan.FromSeconds(30)))[0];

    private static async Task<IReadOnlyList<JsonObject>> HistoryAsync(HttpClient client, string jobId) =>
        (await client.GetFromJsonAsync<JsonArray>($"/api/v1/jobs/{jobId}/history", Token))!.Select(e => e!.AsObject()).ToList();
}
