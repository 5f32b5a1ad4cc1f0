using System.Net;
using System.Net.WebSockets;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace DirectorsConsole.Gateway.Tests;

/// <summary>
/// One replica of a service, as the gateway sees it: a real Kestrel app on a loopback port that answers
/// <c>/health</c>, <c>/alive</c>, <c>/openapi/v1.json</c>, echoes every other request as JSON (who
/// answered, what arrived) and echoes WebSocket messages (a socket whose path ends in <see cref="InspectSegment"/>
/// first sends what arrived with its handshake). It can be stopped and started again on the same
/// port, like a crashed replica that the AppHost restarts.
/// </summary>
public sealed class FakeService : IAsyncDisposable
{
    /// <summary>Answers only after this long, so the gateway's upstream timeout fires first.</summary>
    public const string SlowPath = "/api/jobs/slow";

    /// <summary>The <c>online</c> count backend-service replicas report on <c>GET /api/backends</c>.</summary>
    public const int OnlineBackends = 2;

    /// <summary>A WebSocket path ending in this segment first gets a JSON message describing its handshake.</summary>
    public const string InspectSegment = "inspect";

    private WebApplication? _app;

    private FakeService(string name, int replica)
    {
        Name = name;
        Replica = replica;
    }

    public string Name { get; }

    public int Replica { get; }

    public int Port { get; private set; }

    public Uri Address => new($"http://127.0.0.1:{Port}");

    /// <summary>What every fake replica serves at /metrics: a counter and a histogram, as the OpenTelemetry exporter writes them.</summary>
    public const string MetricsText = """
        # HELP fake_requests_total Requests served
        # TYPE fake_requests_total counter
        fake_requests_total{route="/a \"quoted\""} 3 1700000000000
        # HELP fake_duration_seconds Durations
        # TYPE fake_duration_seconds histogram
        fake_duration_seconds_bucket{le="0.5"} 1
        fake_duration_seconds_bucket{le="+Inf"} 2
        fake_duration_seconds_sum 1.25
        fake_duration_seconds_count 2

        """;

    public static async Task<FakeService> StartAsync(string name, int replica, CancellationToken cancellationToken)
    {
        var service = new FakeService(name, replica);
        await service.StartAsync(cancellationToken);
        return service;
    }

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel().UseUrls($"http://127.0.0.1:{Port}");
        var app = builder.Build();
        app.UseWebSockets();

        app.MapGet("/health", () => Results.Json(new { status = "healthy", service = Name }));
        app.MapGet("/alive", () => Results.Json(new { status = "healthy" }));
        app.MapGet("/openapi/v1.json", () => Results.Text(OpenApiDocuments.For(Name).ToJsonString(), "application/json"));
        app.MapGet("/metrics", () => Results.Text(MetricsText, "text/plain; version=0.0.4"));
        app.MapGet(SlowPath, async (CancellationToken aborted) =>
        {
            await Task.Delay(TimeSpan.FromSeconds(30), aborted);
            return Results.Ok();
        });
        if (Name == "backend-service")
        {
            app.MapGet("/api/backends", () => Results.Json(new { service = Name, replica = Replica, backends = Array.Empty<object>(), online = OnlineBackends }));
        }

        app.Map("/{**path}", EchoAsync);

        // Binding the port a stopped replica used may briefly fail while the old socket closes.
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await app.StartAsync(cancellationToken);
                break;
            }
            catch (IOException) when (attempt < 20 && Port != 0)
            {
                await Task.Delay(100, cancellationToken);
            }
        }

        Port = new Uri(app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.First()).Port;
        _app = app;
    }

    public async Task StopAsync()
    {
        if (_app is { } app)
        {
            _app = null;
            await app.StopAsync();
            await app.DisposeAsync();
        }
    }

    public ValueTask DisposeAsync() => new(StopAsync());

    private async Task EchoAsync(HttpContext context)
    {
        if (context.WebSockets.IsWebSocketRequest)
        {
            using var socket = await context.WebSockets.AcceptWebSocketAsync();
            if (context.Request.Path.Value?.EndsWith($"/{InspectSegment}", StringComparison.Ordinal) == true)
            {
                await socket.SendAsync(System.Text.Encoding.UTF8.GetBytes(Describe(context, 0).ToJsonString()), WebSocketMessageType.Text, true, context.RequestAborted);
            }

            var buffer = new byte[4096];
            while (true)
            {
                var received = await socket.ReceiveAsync(buffer, context.RequestAborted);
                if (received.MessageType == WebSocketMessageType.Close)
                {
                    await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, null, context.RequestAborted);
                    return;
                }

                await socket.SendAsync(buffer.AsMemory(0, received.Count), received.MessageType, received.EndOfMessage, context.RequestAborted);
            }
        }

        using var body = new MemoryStream();
        await context.Request.Body.CopyToAsync(body, context.RequestAborted);
        context.Response.StatusCode = (int)HttpStatusCode.OK;
        await context.Response.WriteAsJsonAsync(Describe(context, body.Length), context.RequestAborted);
    }

    private JsonObject Describe(HttpContext context, long bodyLength) => new()
    {
        ["service"] = Name,
        ["replica"] = Replica,
        ["method"] = context.Request.Method,
        ["path"] = context.Request.Path.Value,
        ["query"] = context.Request.QueryString.Value,
        ["body_length"] = bodyLength,
        ["x_forwarded_for"] = context.Request.Headers["X-Forwarded-For"].ToString(),
        ["x_forwarded_proto"] = context.Request.Headers["X-Forwarded-Proto"].ToString(),
        ["x_forwarded_host"] = context.Request.Headers["X-Forwarded-Host"].ToString(),
        ["traceparent"] = context.Request.Headers["traceparent"].ToString(),
        ["x_client_token"] = context.Request.Headers["X-Client-Token"].ToString(),
        ["x_client_name"] = context.Request.Headers["X-Client-Name"].ToString(),
        ["x_client_role"] = context.Request.Headers["X-Client-Role"].ToString(),
        ["x_gateway_secret"] = context.Request.Headers["X-Gateway-Secret"].ToString(),
        ["x_worker_token"] = context.Request.Headers["X-Worker-Token"].ToString(),
        ["x_worker_id"] = context.Request.Headers["X-Worker-Id"].ToString(),
        ["sec_websocket_protocol"] = context.Request.Headers["Sec-WebSocket-Protocol"].ToString(),
    };
}
