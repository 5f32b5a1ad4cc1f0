using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using DirectorsConsole.JobService.Engine;
using Microsoft.Extensions.Options;

namespace DirectorsConsole.JobService.Webhooks;

/// <summary>The headers of a webhook request.</summary>
public static class WebhookHeaders
{
    /// <summary>The delivery's id: the same on every retry of one event, different for every event (the receiver's idempotency key).</summary>
    public const string Id = "Webhook-Id";

    /// <summary>Unix seconds when this attempt was signed; receivers refuse requests older than their replay window.</summary>
    public const string Timestamp = "Webhook-Timestamp";

    /// <summary><c>sha256=</c> and the hex HMAC-SHA256 of <c>timestamp + "." + body</c> with the suite's webhook secret.</summary>
    public const string Signature = "Webhook-Signature";

    public const string Event = "Webhook-Event";
}

/// <summary>The outcomes of one delivery attempt, as the history and <c>dc_webhook_deliveries_total</c> name them.</summary>
public static class WebhookOutcomes
{
    public const string Delivered = "delivered";

    /// <summary>Failed; it is tried again later.</summary>
    public const string Failed = "failed";

    /// <summary>Its host resolves only to addresses webhooks may not reach; not tried again.</summary>
    public const string Refused = "refused";

    /// <summary>Failed and <c>Webhooks:RetryFor</c> has passed since the event; not tried again.</summary>
    public const string GivenUp = "given_up";
}

/// <summary>
/// Sends due webhooks from the <see cref="WebhookOutbox"/> on every replica: each attempt signed afresh, with a
/// per-request timeout, no redirects and the address check of <see cref="WebhookAddressPolicy"/>. A failure is
/// retried with doubling waits until <c>Webhooks:RetryFor</c> after the event; each attempt's outcome is written to
/// the job's (or group's) history and counted in the metrics.
/// </summary>
public sealed class WebhookDeliveryWorker : BackgroundService
{
    public const string HistoryEvent = "webhook_delivery";

    private readonly WebhookOutbox _outbox;
    private readonly WebhookSigner _signer;
    private readonly JobStore _store;
    private readonly JobMetrics _metrics;
    private readonly WebhookOptions _options;
    private readonly JobEngineOptions _engineOptions;
    private readonly TimeProvider _timeProvider;
    private readonly ILogger<WebhookDeliveryWorker> _logger;
    private readonly HttpClient _http;

    public WebhookDeliveryWorker(
        WebhookOutbox outbox, WebhookSigner signer, JobStore store, JobMetrics metrics, IOptions<WebhookOptions> options,
        IOptions<JobEngineOptions> engineOptions, TimeProvider timeProvider, ILogger<WebhookDeliveryWorker> logger)
    {
        _outbox = outbox;
        _signer = signer;
        _store = store;
        _metrics = metrics;
        _options = options.Value;
        _engineOptions = engineOptions.Value;
        _timeProvider = timeProvider;
        _logger = logger;
        // Its own client, not one from the factory: the suite's default resilience handler would retry on its own
        // schedule and follow its own timeouts, where here every attempt is recorded and retried durably.
        _http = new HttpClient(WebhookAddressPolicy.CreateHandler(_options.AllowLoopback)) { Timeout = Timeout.InfiniteTimeSpan };
        _http.DefaultRequestHeaders.UserAgent.Add(new ProductInfoHeaderValue("DirectorsConsole-Webhooks", "1"));
    }

    /// <summary>How long a claimed delivery is left to its replica before another may take it: longer than one attempt.</summary>
    private TimeSpan Lease => _options.RequestTimeout + TimeSpan.FromSeconds(30);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            var claimedAll = false;
            try
            {
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
                timeout.CancelAfter(_options.RequestTimeout);
                var claimed = await _outbox.ClaimAsync(_timeProvider.GetUtcNow(), Lease, _options.MaxConcurrentDeliveries, timeout.Token);
                await Task.WhenAll(claimed.Select(delivery => DeliverAsync(delivery, stoppingToken)));
                claimedAll = claimed.Count == _options.MaxConcurrentDeliveries;
            }
            catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
            {
                _logger.LogWarning(ex, "Could not read or settle due webhooks; trying again in {Interval}", _options.PollInterval);
            }

            if (claimedAll)
            {
                continue;
            }

            try
            {
                await Task.Delay(_options.PollInterval, _timeProvider, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    public override void Dispose()
    {
        _http.Dispose();
        base.Dispose();
    }

    private async Task DeliverAsync(WebhookDelivery delivery, CancellationToken stoppingToken)
    {
        var attempt = delivery.Attempts + 1;
        var (outcome, statusCode, error) = await SendAsync(delivery, stoppingToken);
        var now = _timeProvider.GetUtcNow();
        DateTimeOffset? nextAttempt = null;
        if (outcome == WebhookOutcomes.Failed)
        {
            var wait = RetryDelay(attempt);
            if (now + wait > delivery.CreatedAt + _options.RetryFor)
            {
                outcome = WebhookOutcomes.GivenUp;
            }
            else
            {
                nextAttempt = now + wait;
            }
        }

        var entry = new JsonObject
        {
            ["delivery_id"] = delivery.Id,
            ["webhook_event"] = delivery.Event,
            ["url"] = Redacted(delivery.Url),
            ["attempt"] = attempt,
            ["outcome"] = outcome,
            ["status_code"] = statusCode,
            ["error"] = error,
            ["next_attempt_at"] = nextAttempt is { } next ? JobEvents.Iso(next) : null,
        };
        entry[delivery.Event == WebhookOutbox.Events.GroupComplete ? "job_group_id" : "job_id"] = delivery.SubjectId;

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
        timeout.CancelAfter(_options.RequestTimeout);
        if (nextAttempt is { } due)
        {
            await _store.CommitAsync(_outbox.Retry(delivery with { Attempts = attempt }, due)
                .AddHistory(delivery.SubjectId, HistoryEvent, entry, now, _engineOptions), timeout.Token);
            _logger.LogInformation("Webhook {DeliveryId} ({Event} of {SubjectId}) failed on attempt {Attempt}: {Error}; next attempt at {NextAttempt}",
                delivery.Id, delivery.Event, delivery.SubjectId, attempt, error, due);
        }
        else
        {
            await _store.CommitAsync(_outbox.Finish(delivery).AddHistory(delivery.SubjectId, HistoryEvent, entry, now, _engineOptions), timeout.Token);
            if (outcome != WebhookOutcomes.Delivered)
            {
                _logger.LogWarning("Webhook {DeliveryId} ({Event} of {SubjectId}) is {Outcome} after {Attempt} attempts: {Error}",
                    delivery.Id, delivery.Event, delivery.SubjectId, outcome, attempt, error);
            }
        }

        _metrics.RecordWebhookDelivery(outcome);
    }

    private async Task<(string Outcome, int? StatusCode, string? Error)> SendAsync(WebhookDelivery delivery, CancellationToken stoppingToken)
    {
        var timestamp = _timeProvider.GetUtcNow().ToUnixTimeSeconds();
        using var request = new HttpRequestMessage(HttpMethod.Post, delivery.Url)
        {
            Content = new StringContent(delivery.Body, Encoding.UTF8, "application/json"),
        };
        request.Headers.Add(WebhookHeaders.Id, delivery.Id);
        request.Headers.Add(WebhookHeaders.Timestamp, timestamp.ToString(System.Globalization.CultureInfo.InvariantCulture));
        request.Headers.Add(WebhookHeaders.Signature, _signer.SignDelivery(timestamp, delivery.Body));
        request.Headers.Add(WebhookHeaders.Event, delivery.Event);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
        timeout.CancelAfter(_options.RequestTimeout);
        var started = Stopwatch.GetTimestamp();
        try
        {
            using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
            var code = (int)response.StatusCode;
            return response.IsSuccessStatusCode
                ? (WebhookOutcomes.Delivered, code, null)
                : (WebhookOutcomes.Failed, code, $"The receiver answered {code} {response.ReasonPhrase}");
        }
        catch (Exception ex) when (FindRefusal(ex) is { } refusal)
        {
            return (WebhookOutcomes.Refused, null, refusal.Message);
        }
        catch (OperationCanceledException) when (!stoppingToken.IsCancellationRequested)
        {
            return (WebhookOutcomes.Failed, null, $"No answer within {_options.RequestTimeout} (after {Stopwatch.GetElapsedTime(started)})");
        }
        catch (HttpRequestException ex)
        {
            return (WebhookOutcomes.Failed, null, ex.InnerException is { } inner ? $"{ex.Message} ({inner.Message})" : ex.Message);
        }
    }

    private TimeSpan RetryDelay(int attempt)
    {
        var factor = Math.Pow(2, Math.Min(attempt - 1, 30));
        var delay = TimeSpan.FromTicks((long)Math.Min(_options.FirstRetryDelay.Ticks * factor, _options.MaxRetryDelay.Ticks));
        return delay;
    }

    private static WebhookAddressRefusedException? FindRefusal(Exception? ex)
    {
        for (; ex is not null; ex = ex.InnerException)
        {
            if (ex is WebhookAddressRefusedException refused)
            {
                return refused;
            }
        }

        return null;
    }

    /// <summary>The URL as the history shows it: without its query, which often carries the receiver's own token.</summary>
    private static string Redacted(string url) =>
        Uri.TryCreate(url, UriKind.Absolute, out var uri) ? uri.GetLeftPart(UriPartial.Path) : url;
}
