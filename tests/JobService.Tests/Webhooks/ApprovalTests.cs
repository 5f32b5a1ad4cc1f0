using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using DirectorsConsole.JobService.Engine;
using DirectorsConsole.JobService.Model;
using DirectorsConsole.JobService.Tests.Engine;
using DirectorsConsole.ServiceDefaults.Access;
using DirectorsConsole.Testing;

namespace DirectorsConsole.JobService.Tests.Webhooks;

/// <summary>A real render on an emulated node, then a person's decision: emu-0 (two at a time) behind a JobService
/// whose webhooks go to a <see cref="WebhookReceiver"/>.</summary>
public sealed class ApprovalRig : IAsyncLifetime
{
    public EngineRig Rig { get; private set; } = null!;

    public WebhookReceiver Receiver { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        Receiver = await WebhookReceiver.StartAsync(TestContext.Current.CancellationToken);
        Rig = await EngineRig.StartAsync([2], jobReplicas: 1, serviceSettings: WebhookDeliveryTests.Settings());
    }

    public async ValueTask DisposeAsync()
    {
        await Rig.DisposeAsync();
        await Receiver.DisposeAsync();
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
    public async Task AGroupWhoseChildrenAreApprovedCompletesWithOneGroupWebhook()
    {
        // Arrange
        using var client = Rig.Client();
        var hook = "/group/" + Guid.NewGuid().ToString("N");
        var body = new JsonObject
        {
            ["workflow_json"] = EngineRig.Prompt(3, 10),
            ["backend_ids"] = new JsonArray(EngineRig.BackendId(0), EngineRig.BackendId(0)),
            ["seed_strategy"] = "sequential",
            ["base_seed"] = 7,
            ["requires_approval"] = true,
            ["webhook_url"] = Receiver.Url(hook).ToString(),
        };
        using var created = await client.PostAsJsonAsync("/api/job-groups", body, Token);
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var groupId = (string)(await created.Content.ReadFromJsonAsync<JsonObject>(Token))!["job_group_id"]!;
        var requests = await Eventually.ReturnsAsync(
            () => Task.FromResult(Receiver.Delivered.Where(r => r.Path == hook && r.Event == "job_awaiting_approval").ToList()),
            r => r.Count == 2, TimeSpan.FromSeconds(60));
        var waiting = (await Rig.Engine().GetGroupAsync(groupId, Token))!;

        // Act
        foreach (var request in requests)
        {
            using var approved = await DecideAsync(client, (string)request.Json["approval"]!["url"]!, "approved");
            Assert.Equal(HttpStatusCode.OK, approved.StatusCode);
        }

        // Assert
        Assert.Equal(JobGroupStatuses.Running, waiting.Group.Status);
        Assert.All(requests, r => Assert.Equal(groupId, (string?)r.Json["job_group_id"]));
        var group = await Rig.WaitForGroupEndAsync(groupId);
        Assert.Equal(JobGroupStatuses.Completed, group.Group.Status);
        var complete = await WebhookAsync(hook, "group_complete");
        Assert.Equal(groupId, (string?)complete.Json["job_group_id"]);
        Assert.Equal("completed", (string?)complete.Json["status"]);
        Assert.Equal(2, (int?)complete.Json["succeeded"]);
        Assert.DoesNotContain(Receiver.Delivered, r => r.Path == hook && r.Event == "job_completed");
    }

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
