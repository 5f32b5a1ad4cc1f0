using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using DirectorsConsole.ComfyEmulator.Queue;
using DirectorsConsole.ComfyEmulator.Realtime;

namespace DirectorsConsole.ComfyEmulator.Api;

/// <summary><c>GET /ws?clientId=</c> (server.py <c>websocket_handler</c>).</summary>
public static class WebSocketApi
{
    /// <summary>Client frames are small JSON objects; anything larger is not something ComfyUI reads either.</summary>
    private const int MaxClientFrameBytes = 1 << 20;

    public static RouteGroupBuilder MapWebSocketApi(this RouteGroupBuilder routes)
    {
        routes.MapGet("/ws", Connect);
        return routes;
    }

    /// <summary>
    /// Sends <c>status</c> with the socket's <c>sid</c> (the clientId, or a new 32-hex id) first; if this client's
    /// prompt is running, then <c>executing</c> with the current node. A <c>feature_flags</c> first frame from the
    /// client is stored and answered with the server's flags; later client frames are ignored.
    /// </summary>
    public static async Task Connect(HttpContext context, ClientHub hub, PromptQueue queue, IHostApplicationLifetime lifetime, ILoggerFactory loggers)
    {
        if (!context.WebSockets.IsWebSocketRequest)
        {
            await ComfyResults.Empty(StatusCodes.Status400BadRequest).ExecuteAsync(context);
            return;
        }
        var sid = context.Request.Query["clientId"].ToString() is { Length: > 0 } clientId ? clientId : Guid.NewGuid().ToString("N");
        using var socket = await context.WebSockets.AcceptWebSocketAsync();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, lifetime.ApplicationStopping);
        var logger = loggers.CreateLogger(typeof(WebSocketApi));

        var connection = new ClientConnection(sid, socket, logger);
        connection.Enqueue(OutboundFrame.Text(new StatusMessage(queue.Remaining, sid)));
        if (queue.Current is { } running && running.Item.ClientId == sid && running.LastNodeId is { } node)
        {
            connection.Enqueue(OutboundFrame.Text(new ResumedExecutingMessage(node)));
        }
        hub.Connect(connection);
        var pump = connection.PumpAsync(stop.Token);
        try
        {
            await ReceiveAsync(socket, connection, stop.Token);
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException)
        {
            logger.LogDebug(e, "Socket {Sid} ended", sid);
        }
        finally
        {
            hub.Disconnect(connection);
            connection.Complete();
            await pump;
        }
    }

    private static async Task ReceiveAsync(WebSocket socket, ClientConnection connection, CancellationToken cancellationToken)
    {
        var buffer = new byte[8192];
        var firstMessage = true;
        using var frame = new MemoryStream();
        while (socket.State == WebSocketState.Open)
        {
            var result = await socket.ReceiveAsync(buffer, cancellationToken);
            if (result.MessageType == WebSocketMessageType.Close)
            {
                await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, cancellationToken);
                return;
            }
            if (frame.Length + result.Count > MaxClientFrameBytes)
            {
                await socket.CloseOutputAsync(WebSocketCloseStatus.MessageTooBig, null, cancellationToken);
                return;
            }
            frame.Write(buffer, 0, result.Count);
            if (!result.EndOfMessage) continue;
            var text = result.MessageType == WebSocketMessageType.Text ? Encoding.UTF8.GetString(frame.GetBuffer(), 0, (int)frame.Length) : null;
            frame.SetLength(0);
            if (text is null || !TryParse(text, out var message)) continue;

            if (firstMessage && message is JsonObject envelope && envelope["type"]?.GetValueKind() == JsonValueKind.String
                && envelope["type"]!.GetValue<string>() == "feature_flags")
            {
                connection.FeatureFlags = envelope["data"] as JsonObject ?? [];
                connection.Enqueue(OutboundFrame.Text(new FeatureFlagsMessage()));
            }
            firstMessage = false;
        }
    }

    /// <summary>ComfyUI skips a frame that is not JSON without counting it as the first message.</summary>
    private static bool TryParse(string text, out JsonNode? message)
    {
        try
        {
            message = JsonNode.Parse(text);
            return true;
        }
        catch (JsonException)
        {
            message = null;
            return false;
        }
    }
}
