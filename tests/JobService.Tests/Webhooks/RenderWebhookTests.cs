using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using DirectorsConsole.JobService.Model;
using DirectorsConsole.JobService.Tests.Engine;
using DirectorsConsole.Testing;

namespace DirectorsConsole.JobService.Tests.Webhooks;

/// <summary>The webhooks of renders that end badly on a real (emulated) node: a prompt the node refuses and a render
/// that outlasts its timeout, each posted once, signed, with the reason.</summary>
public sealed class RenderWebhookTests(ApprovalRig fixture) : IClassFixture<ApprovalRig>
{
    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Fact]
    public async Task APromptTheNodeRefusesPostsJobFailedWithTheNodesReason()
    {
        // Arrange
        using var client = fixture.Rig.Client();
        var hook = "/failed/" + Guid.NewGuid().ToString("N");

        // Act
        var jobId = await SubmitAsync(client, hook, EngineRig.Prompt(steps: 0));

        // Assert
        var webhook = await WebhookAsync(hook, "job_failed");
        Assert.True(webhook.IsSignedWith(WebhookDeliveryTests.Secret, TimeSpan.FromMinutes(5)));
        Assert.Equal(jobId, (string?)webhook.Json["job_id"]);
        Assert.Equal("failed", (string?)webhook.Json["status"]);
        Assert.Contains("steps", (string?)webhook.Json["error"], StringComparison.Ordinal);
    }

    [Fact]
    public async Task ARenderThatOutlastsItsTimeoutPostsJobTimeout()
    {
        // Arrange
        var hook = "/timeout/" + Guid.NewGuid().ToString("N");

        // Act: 60 steps of 500 ms each, allowed 1 s (below the API's least timeout, so through the engine).
        var job = await fixture.Rig.Engine().SubmitJobAsync(new JobSubmission(EngineRig.Prompt(steps: 60, delayMs: 500))
        {
            BackendAffinity = EngineRig.BackendId(0),
            TimeoutSeconds = 1,
            WebhookUrl = fixture.Receiver.Url(hook).ToString(),
        }, Token);
        var jobId = job.JobId;

        // Assert
        var webhook = await WebhookAsync(hook, "job_timeout");
        Assert.True(webhook.IsSignedWith(WebhookDeliveryTests.Secret, TimeSpan.FromMinutes(5)));
        Assert.Equal(jobId, (string?)webhook.Json["job_id"]);
        Assert.Equal("timeout", (string?)webhook.Json["status"]);
        Assert.Equal("timeout", (string?)webhook.Json["error_type"]);
    }

    private async Task<string> SubmitAsync(HttpClient client, string hookPath, JsonObject prompt)
    {
        var body = new JsonObject
        {
            ["workflow_json"] = prompt,
            ["backend_affinity"] = EngineRig.BackendId(0),
            ["webhook_url"] = fixture.Receiver.Url(hookPath).ToString(),
        };
        using var submitted = await client.PostAsJsonAsync("/api/job", body, Token);
        Assert.Equal(HttpStatusCode.Accepted, submitted.StatusCode);
        return (string)(await submitted.Content.ReadFromJsonAsync<JsonObject>(Token))!["job_id"]!;
    }

    private async Task<ReceivedWebhook> WebhookAsync(string path, string @event)
    {
        var received = await Eventually.ReturnsAsync(
            () => Task.FromResult(fixture.Receiver.Delivered.Where(r => r.Path == path).ToList()),
            r => r.Count > 0, TimeSpan.FromSeconds(45));
        return Assert.Single(received, r => r.Event == @event);
    }
}
