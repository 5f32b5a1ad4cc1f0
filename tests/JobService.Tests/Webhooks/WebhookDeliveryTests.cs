using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using DirectorsConsole.JobService.Tests.Api;
using DirectorsConsole.JobService.Tests.Engine;
using DirectorsConsole.Messaging;
using DirectorsConsole.ServiceDefaults.Backends;
using DirectorsConsole.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace DirectorsConsole.JobService.Tests.Webhooks;

/// <summary>
/// Webhooks of jobs that end by a cancel (no render node is needed for that): a JobService on a private Garnet with
/// one backend written into the registry, and a <see cref="WebhookReceiver"/> on loopback (allowed here, as a test
/// must). Retries wait 0.2 s, doubling to 1 s.
/// </summary>
public sealed class WebhookDeliveryTests : IAsyncLifetime
{
    public const string Secret = "test-webhook-secret-0123456789";
    private static readonly TimeSpan ReplayWindow = TimeSpan.FromMinutes(5);

    private RedisServerProcess _garnet = null!;
    private WebhookReceiver _receiver = null!;
    private readonly List<ServiceFactory<Program>> _services = [];

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    public static Dictionary<string, string?> Settings(bool allowLoopback = true) => new()
    {
        ["webhook_secret"] = Secret,
        ["Webhooks:AllowLoopback"] = allowLoopback ? "true" : "false",
        ["Webhooks:PollInterval"] = "00:00:00.1",
        ["Webhooks:FirstRetryDelay"] = "00:00:00.2",
        ["Webhooks:MaxRetryDelay"] = "00:00:01",
        ["Webhooks:RequestTimeout"] = "00:00:03",
    };

    public async ValueTask InitializeAsync()
    {
        _garnet = await RedisServerProcess.StartGarnetAsync(cancellationToken: Token);
        _receiver = await WebhookReceiver.StartAsync(Token);
        await ApiFixture.AddBackendAsync(new RedisConnection(new RedisOptions { ConnectionString = _garnet.ConnectionString }),
            ApiFixture.Online, enabled: true, BackendStatuses.Idle, []);
    }

    private ServiceFactory<Program> StartService(bool allowLoopback = true)
    {
        var service = new ServiceFactory<Program>(_garnet.ConnectionString, Settings(allowLoopback));
        _services.Add(service);
        _ = service.Services;
        return service;
    }

    [Fact]
    public async Task ACancelledJobsWebhookIsSignedAndShownInItsHistory()
    {
        // Arrange
        var service = StartService();
        using var client = service.CreateClient();

        // Act
        var jobId = await SubmitAndCancelAsync(client, _receiver.Url("/hooks/done?token=abc").ToString());

        // Assert
        var received = await Eventually.ReturnsAsync(() => Task.FromResult(_receiver.Delivered), r => r.Count == 1);
        var webhook = received[0];
        Assert.True(webhook.IsSignedWith(Secret, ReplayWindow), "the signature verifies with the shared secret");
        Assert.False(webhook.IsSignedWith("another-secret-0123456789", ReplayWindow));
        Assert.Equal("/hooks/done?token=abc", webhook.Path);
        Assert.Equal("job_cancelled", webhook.Event);
        var body = webhook.Json;
        Assert.Equal("job_cancelled", (string?)body["event"]);
        Assert.Equal(jobId, (string?)body["job_id"]);
        Assert.Equal("cancelled", (string?)body["status"]);
        Assert.Equal(webhook.Id, (string?)body["delivery_id"]);
        var history = await DeliveriesAsync(client, jobId, entries => entries.Count == 1);
        Assert.Equal("delivered", (string?)history[0]["outcome"]);
        Assert.Equal(webhook.Id, (string?)history[0]["delivery_id"]);
        Assert.Equal(200, (int?)history[0]["status_code"]);
        Assert.DoesNotContain("token=abc", history[0].ToJsonString(), StringComparison.Ordinal);
        await Eventually.ReturnsAsync(() => client.GetStringAsync("/metrics", Token),
            text => Regex.IsMatch(text, @"(?m)^dc_webhook_deliveries_total\{[^}]*outcome=""delivered""[^}]*\} 1"));
    }

    [Fact]
    public async Task AReceiverThatFailsForAWhileGetsTheWebhookLaterWithTheSameIdAndOtherEventsGetOtherIds()
    {
        // Arrange
        var service = StartService();
        using var client = service.CreateClient();
        _receiver.FailNext(3);

        // Act
        var first = await SubmitAndCancelAsync(client, _receiver.Url("/hooks/a").ToString());
        var delivered = await Eventually.ReturnsAsync(() => Task.FromResult(_receiver.Delivered), r => r.Count == 1);
        var second = await SubmitAndCancelAsync(client, _receiver.Url("/hooks/b").ToString());
        await Eventually.ReturnsAsync(() => Task.FromResult(_receiver.Delivered), r => r.Count == 2);

        // Assert
        var attempts = _receiver.Requests.Where(r => r.Path == "/hooks/a").ToList();
        Assert.Equal(4, attempts.Count);
        Assert.Single(attempts.Select(a => a.Id).Distinct());
        Assert.Single(attempts.Select(a => a.Body).Distinct());
        Assert.All(attempts, a => Assert.True(a.IsSignedWith(Secret, ReplayWindow)));
        Assert.Equal(first, (string?)delivered[0].Json["job_id"]);
        var other = _receiver.Delivered.Single(r => r.Path == "/hooks/b");
        Assert.Equal(second, (string?)other.Json["job_id"]);
        Assert.NotEqual(delivered[0].Id, other.Id);
        var history = await DeliveriesAsync(client, first, entries => entries.Count == 4);
        Assert.Equal(["failed", "failed", "failed", "delivered"], history.Select(e => (string?)e["outcome"]));
        Assert.Equal([1, 2, 3, 4], history.Select(e => (int?)e["attempt"]));
        Assert.All(history.Take(3), e => Assert.Equal(500, (int?)e["status_code"]));
        Assert.All(history.Take(3), e => Assert.NotNull((string?)e["next_attempt_at"]));
    }

    [Fact]
    public async Task AWebhookPendingWhenJobServiceStopsIsDeliveredByTheNextHostWithItsId()
    {
        // Arrange: the receiver is down, so the delivery is still pending when the host stops.
        _receiver.Down = true;
        var first = StartService();
        string jobId;
        using (var client = first.CreateClient())
        {
            jobId = await SubmitAndCancelAsync(client, _receiver.Url("/hooks/restart").ToString());
            await DeliveriesAsync(client, jobId, entries => entries.Count >= 1);
        }

        await first.DisposeAsync();
        _services.Remove(first);
        var failedIds = _receiver.Requests.Select(r => r.Id).Distinct().ToList();

        // Act
        _receiver.Down = false;
        var second = StartService();
        using var secondClient = second.CreateClient();

        // Assert
        var delivered = await Eventually.ReturnsAsync(() => Task.FromResult(_receiver.Delivered), r => r.Count == 1);
        Assert.Equal(jobId, (string?)delivered[0].Json["job_id"]);
        Assert.Equal(failedIds, [delivered[0].Id]);
        Assert.True(delivered[0].IsSignedWith(Secret, ReplayWindow));
        var history = await DeliveriesAsync(secondClient, jobId, entries => entries.Any(e => (string?)e["outcome"] == "delivered"));
        Assert.All(history.SkipLast(1), e => Assert.Equal("failed", (string?)e["outcome"]));
    }

    [Theory]
    [InlineData("http://169.254.169.254/latest/meta-data/")]
    [InlineData("http://[fe80::1]/hook")]
    [InlineData("http://[fd00:ec2::254]/hook")]
    [InlineData("http://0.0.0.0/hook")]
    [InlineData("http://224.0.0.1/hook")]
    [InlineData("http://user:password@hooks.example.com/hook")]
    [InlineData("ftp://hooks.example.com/hook")]
    public async Task ASubmitWithAWebhookUrlThatMayNotBeCalledIsRefusedWith422(string url)
    {
        // Arrange
        var service = StartService();
        using var client = service.CreateClient();

        // Act
        using var job = await client.PostAsJsonAsync("/api/job", JobBody(url), Token);
        using var group = await client.PostAsJsonAsync("/api/job-groups", GroupBody(url), Token);

        // Assert
        foreach (var response in new[] { job, group })
        {
            Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
            var error = (await response.Content.ReadFromJsonAsync<JsonObject>(Token))!["detail"]!.AsArray()[0]!;
            Assert.Equal("body.webhook_url", string.Join('.', error["loc"]!.AsArray().Select(l => (string?)l)));
            Assert.False(string.IsNullOrEmpty((string?)error["msg"]));
        }
    }

    [Fact]
    public async Task WithoutLoopbackAllowedALiteralLoopbackUrlIsRefusedAtSubmitAndANameResolvingToLoopbackAtDelivery()
    {
        // Arrange
        var service = StartService(allowLoopback: false);
        using var client = service.CreateClient();

        // Act
        using var literal = await client.PostAsJsonAsync("/api/job", JobBody($"http://127.0.0.1:{_receiver.Port}/hooks"), Token);
        var jobId = await SubmitAndCancelAsync(client, $"http://localhost:{_receiver.Port}/hooks/by-name");

        // Assert
        Assert.Equal(HttpStatusCode.UnprocessableEntity, literal.StatusCode);
        var history = await DeliveriesAsync(client, jobId, entries => entries.Count == 1);
        Assert.Equal("refused", (string?)history[0]["outcome"]);
        Assert.Contains("loopback", (string?)history[0]["error"], StringComparison.Ordinal);
        Assert.Empty(_receiver.Requests);
    }

    private static JsonObject JobBody(string webhookUrl) => new()
    {
        ["workflow_json"] = EngineRig.Prompt(3, 10),
        ["webhook_url"] = webhookUrl,
    };

    private static JsonObject GroupBody(string webhookUrl)
    {
        var body = ApiFixture.GroupRequest(ApiFixture.Online);
        body["webhook_url"] = webhookUrl;
        return body;
    }

    private static async Task<string> SubmitAndCancelAsync(HttpClient client, string webhookUrl)
    {
        using var submitted = await client.PostAsJsonAsync("/api/job", JobBody(webhookUrl), Token);
        Assert.Equal(HttpStatusCode.Accepted, submitted.StatusCode);
        var jobId = (string)(await submitted.Content.ReadFromJsonAsync<JsonObject>(Token))!["job_id"]!;
        using var cancelled = await client.PostAsync($"/api/jobs/{jobId}/cancel", null, Token);
        Assert.Equal(HttpStatusCode.OK, cancelled.StatusCode);
        return jobId;
    }

    /// <summary>The job's webhook delivery entries, oldest first, as <c>GET /api/v1/jobs/{id}/history</c> shows them.</summary>
    public static async Task<IReadOnlyList<JsonObject>> DeliveriesAsync(HttpClient client, string jobId, Func<IReadOnlyList<JsonObject>, bool> condition) =>
        await Eventually.ReturnsAsync(async () =>
            (await client.GetFromJsonAsync<JsonArray>($"/api/v1/jobs/{jobId}/history", Token))!
                .Select(e => e!.AsObject())
                .Where(e => (string?)e["event"] == "webhook_delivery")
                .ToList(),
            condition, TimeSpan.FromSeconds(30));

    public async ValueTask DisposeAsync()
    {
        foreach (var service in _services)
        {
            await service.DisposeAsync();
        }

        await _receiver.DisposeAsync();
        await _garnet.DisposeAsync();
    }
}
