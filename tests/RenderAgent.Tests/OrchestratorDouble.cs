using System.Collections.Concurrent;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json.Nodes;
using System.Threading.Channels;
using DirectorsConsole.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using HttpResults = Microsoft.AspNetCore.Http.Results;

namespace DirectorsConsole.RenderAgent.Tests;

/// <summary>What the double received, in arrival order: a relayed socket frame, an uploaded output or a result.</summary>
public sealed record Received(string Kind, string? TaskId, JsonObject? Json, byte[]? Bytes)
{
    public string? Type => (string?)Json?["type"];
}

/// <summary>
/// A test fixture for the agent's side of the /_worker protocol (docs/render-agents.md), on a real loopback socket:
/// it hands out the tasks a test offers, records registrations, heartbeats, relayed frames, uploads and results in
/// arrival order, answers a result once and a duplicate as ignored, and can go down (every connection reset, the
/// socket aborted), forget the worker (404 until it registers again), or cancel a task over the socket or in the
/// heartbeat reply. Short TTL and poll timeout keep the tests quick.
/// </summary>
public sealed class OrchestratorDouble : IAsyncDisposable
{
    public const string Token = "render-agent-test-token";
    public const double HeartbeatTtlSeconds = 1.5;
    public const int PollTimeoutSeconds = 2;

    private readonly WebApplication _app;
    private readonly Channel<JsonObject> _offers = Channel.CreateUnbounded<JsonObject>();
    private readonly List<Received> _received = [];
    private readonly ConcurrentDictionary<string, string> _accepted = new(StringComparer.Ordinal);
    private volatile bool _down;
    private volatile bool _registered;
    private WebSocket? _socket;
    private CancellationTokenSource _downSignal = new();

    private OrchestratorDouble(WebApplication app) => _app = app;

    public Uri BaseAddress { get; private set; } = null!;

    public ConcurrentQueue<JsonObject> Registrations { get; } = new();

    public ConcurrentQueue<(int Order, JsonObject Body)> Heartbeats { get; } = new();

    public ConcurrentQueue<string> NotFoundAnswers { get; } = new();

    /// <summary>Task ids listed in every heartbeat reply's <c>cancel_tasks</c>.</summary>
    public ConcurrentDictionary<string, byte> CancelInHeartbeat { get; } = new(StringComparer.Ordinal);

    public bool SocketOpen => _socket is { State: WebSocketState.Open };

    public static async Task<OrchestratorDouble> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls($"http://127.0.0.1:{TestPorts.GetFreeTcpPort()}");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var double_ = new OrchestratorDouble(app);
        double_.Map(app);
        await app.StartAsync();
        double_.BaseAddress = new Uri(app.Urls.First() + "/");
        return double_;
    }

    public void Offer(JsonObject task) => _offers.Writer.TryWrite(task);

    /// <summary>While down every request is reset and the socket aborted, as when the orchestrator is stopped.</summary>
    public bool Down
    {
        get => _down;
        set
        {
            _down = value;
            if (value)
            {
                _downSignal.Cancel();
                _socket?.Abort();
            }
            else
            {
                _downSignal = new CancellationTokenSource();
            }
        }
    }

    /// <summary>The worker is unknown until it registers again: worker routes answer 404.</summary>
    public void ForgetWorker() => _registered = false;

    public Task SendCommandAsync(JsonObject command) =>
        _socket!.SendAsync(Encoding.UTF8.GetBytes(command.ToJsonString()), WebSocketMessageType.Text, true, CancellationToken.None);

    public IReadOnlyList<Received> Received()
    {
        lock (_received)
        {
            return _received.ToArray();
        }
    }

    public IReadOnlyList<Received> For(string taskId) => Received().Where(r => r.TaskId == taskId).ToArray();

    public IReadOnlyList<string?> TextTypes(string taskId) => For(taskId).Where(r => r.Kind == "text").Select(r => r.Type).ToArray();

    public IReadOnlyList<Received> Results(string taskId) => For(taskId).Where(r => r.Kind == "result").ToArray();

    public int IndexOf(Received item) => Received().ToList().IndexOf(item);

    public async ValueTask DisposeAsync()
    {
        _socket?.Abort();
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    private int Record(Received item)
    {
        lock (_received)
        {
            _received.Add(item);
            return _received.Count - 1;
        }
    }

    private void Map(WebApplication app)
    {
        app.UseWebSockets();
        app.Use(async (context, next) =>
        {
            if (_down)
            {
                context.Abort();
                return;
            }

            if (context.Request.Headers["X-Worker-Token"] != Token)
            {
                context.Response.StatusCode = 401;
                await context.Response.WriteAsJsonAsync(new { detail = "a worker token is required" });
                return;
            }

            await next(context);
        });

        app.MapPost("/_worker/workers/register", async (HttpContext context) =>
        {
            var body = (await context.Request.ReadFromJsonAsync<JsonObject>())!;
            Registrations.Enqueue(body);
            _registered = true;
            return HttpResults.Json(new JsonObject
            {
                ["status"] = "registered",
                ["worker_id"] = (string?)body["worker_id"],
                ["heartbeat_ttl_seconds"] = HeartbeatTtlSeconds,
                ["poll_timeout_seconds"] = PollTimeoutSeconds,
            });
        });

        app.MapMethods("/_worker/workers/{workerId}", ["PATCH"], async (string workerId, HttpContext context) =>
        {
            if (!_registered)
            {
                NotFoundAnswers.Enqueue($"PATCH {workerId}");
                return HttpResults.Json(new { detail = $"no worker {workerId}" }, statusCode: 404);
            }

            var body = context.Request.ContentLength is 0 ? [] : (await context.Request.ReadFromJsonAsync<JsonObject>())!;
            Heartbeats.Enqueue((Received().Count, body));
            return HttpResults.Json(new JsonObject { ["status"] = "ok", ["cancel_tasks"] = new JsonArray(CancelInHeartbeat.Keys.Select(k => (JsonNode)k).ToArray()) });
        });

        app.MapGet("/_worker/workers/{workerId}/tasks/next", async (string workerId, int? timeout_seconds, HttpContext context) =>
        {
            if (!_registered)
            {
                NotFoundAnswers.Enqueue($"GET next {workerId}");
                return HttpResults.Json(new { detail = $"no worker {workerId}" }, statusCode: 404);
            }

            using var wait = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, _downSignal.Token);
            wait.CancelAfter(TimeSpan.FromSeconds(Math.Min(timeout_seconds ?? PollTimeoutSeconds, PollTimeoutSeconds)));
            try
            {
                var task = await _offers.Reader.ReadAsync(wait.Token);
                return HttpResults.Json(task);
            }
            catch (OperationCanceledException)
            {
                return HttpResults.NoContent();
            }
        });

        app.MapPut("/_worker/tasks/{taskId}/outputs", async (string taskId, string filename, string? subfolder, string? type, HttpContext context) =>
        {
            using var buffer = new MemoryStream();
            await context.Request.Body.CopyToAsync(buffer);
            Record(new Received("upload", taskId, new JsonObject
            {
                ["filename"] = filename,
                ["subfolder"] = subfolder ?? "",
                ["type"] = type ?? "output",
                ["content_type"] = context.Request.ContentType,
            }, buffer.ToArray()));
            return HttpResults.Json(new { stored = filename }, statusCode: 201);
        });

        app.MapPost("/_worker/tasks/result", async (HttpContext context) =>
        {
            var body = (await context.Request.ReadFromJsonAsync<JsonObject>())!;
            var taskId = (string)body["task_id"]!;
            Record(new Received("result", taskId, body, null));
            var status = (string?)body["result"]?["status"];
            return _accepted.TryAdd(taskId, status!)
                ? HttpResults.Json(new { status = $"result_accepted_{status}" })
                : HttpResults.Json(new { status = "ignored", reason = "duplicate" });
        });

        app.Map("/_worker/ws/{workerId}", async (string workerId, HttpContext context) =>
        {
            if (!context.WebSockets.IsWebSocketRequest)
            {
                return HttpResults.BadRequest();
            }

            using var socket = await context.WebSockets.AcceptWebSocketAsync();
            _socket = socket;
            await ReceiveAsync(socket);
            return HttpResults.Empty;
        });
    }

    private async Task ReceiveAsync(WebSocket socket)
    {
        var buffer = new byte[64 * 1024];
        using var message = new MemoryStream();
        try
        {
            while (true)
            {
                var result = await socket.ReceiveAsync(buffer, CancellationToken.None);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    return;
                }

                message.Write(buffer, 0, result.Count);
                if (!result.EndOfMessage)
                {
                    continue;
                }

                var bytes = message.ToArray();
                message.SetLength(0);
                if (result.MessageType == WebSocketMessageType.Text)
                {
                    var json = JsonNode.Parse(bytes)!.AsObject();
                    Record(new Received("text", (string?)json["data"]?["prompt_id"], json, bytes));
                }
                else
                {
                    Record(new Received("binary", PreviewFrames.PromptId(bytes), null, bytes));
                }
            }
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException)
        {
            // Aborted (the double went down) or the agent stopped.
        }
    }
}
