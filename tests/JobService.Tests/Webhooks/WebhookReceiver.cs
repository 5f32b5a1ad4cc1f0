using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace DirectorsConsole.JobService.Tests.Webhooks;

/// <summary>One request the receiver got: its webhook headers, body, and what it answered.</summary>
public sealed record ReceivedWebhook(string? Id, string? Timestamp, string? Signature, string? Event, string Path, string Body, int Answered)
{
    public JsonObject Json => JsonNode.Parse(Body)!.AsObject();

    /// <summary>Checks the signature as a receiver would, independently of the suite's code: HMAC-SHA256 of
    /// <c>timestamp.body</c> with the shared secret, and a timestamp within the replay window.</summary>
    public bool IsSignedWith(string secret, TimeSpan replayWindow)
    {
        if (Timestamp is null || Signature is null || !long.TryParse(Timestamp, CultureInfo.InvariantCulture, out var seconds))
        {
            return false;
        }

        var age = DateTimeOffset.UtcNow - DateTimeOffset.FromUnixTimeSeconds(seconds);
        var expected = "sha256=" + Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), Encoding.UTF8.GetBytes(Timestamp + "." + Body)));
        return age.Duration() <= replayWindow
            && CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(expected), Encoding.ASCII.GetBytes(Signature));
    }
}

/// <summary>
/// A webhook receiver for tests: a small Kestrel app on 127.0.0.1 at a port chosen at run time that records every
/// request. It can answer 500 to the next requests (<see cref="FailNext"/>) or be down (<see cref="Down"/>: the
/// connection is dropped without an answer, as when nothing listens).
/// </summary>
public sealed class WebhookReceiver : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrentQueue<ReceivedWebhook> _requests = new();
    private int _failuresLeft;

    private WebhookReceiver(WebApplication app) => _app = app;

    public Uri BaseUrl { get; private set; } = null!;

    public int Port => BaseUrl.Port;

    public volatile bool Down;

    /// <summary>When set, every request is answered 302 to it.</summary>
    public Uri? RedirectTo { get; set; }

    /// <summary>Every request, in arrival order, failed ones included.</summary>
    public IReadOnlyList<ReceivedWebhook> Requests => _requests.ToArray();

    /// <summary>The requests answered 2xx.</summary>
    public IReadOnlyList<ReceivedWebhook> Delivered => _requests.Where(r => r.Answered is >= 200 and < 300).ToArray();

    public void FailNext(int count) => Interlocked.Exchange(ref _failuresLeft, count);

    public Uri Url(string path) => new(BaseUrl, path);

    public static async Task<WebhookReceiver> StartAsync(CancellationToken cancellationToken)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0));
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var receiver = new WebhookReceiver(app);
        app.Run(receiver.HandleAsync);
        await app.StartAsync(cancellationToken);
        receiver.BaseUrl = new Uri(app.Urls.First());
        return receiver;
    }

    private async Task HandleAsync(HttpContext context)
    {
        using var reader = new StreamReader(context.Request.Body, Encoding.UTF8);
        var body = await reader.ReadToEndAsync(context.RequestAborted);
        var answer = Down ? 0 : RedirectTo is not null ? 302 : Interlocked.Decrement(ref _failuresLeft) >= 0 ? 500 : 200;
        _requests.Enqueue(new ReceivedWebhook(
            context.Request.Headers["Webhook-Id"].FirstOrDefault(), context.Request.Headers["Webhook-Timestamp"].FirstOrDefault(),
            context.Request.Headers["Webhook-Signature"].FirstOrDefault(), context.Request.Headers["Webhook-Event"].FirstOrDefault(),
            context.Request.Path + context.Request.QueryString, body, answer));
        if (answer == 0)
        {
            context.Abort();
            return;
        }

        context.Response.StatusCode = answer;
        if (RedirectTo is { } target)
        {
            context.Response.Headers.Location = target.ToString();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
