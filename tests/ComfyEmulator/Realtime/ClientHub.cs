using System.Buffers.Binary;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json.Nodes;
using System.Threading.Channels;
using DirectorsConsole.ComfyEmulator.Json;

namespace DirectorsConsole.ComfyEmulator.Realtime;

/// <summary>One frame waiting to go out on a socket.</summary>
public sealed record OutboundFrame(ReadOnlyMemory<byte> Payload, WebSocketMessageType MessageType)
{
    public static OutboundFrame Text(IComfyMessage message) =>
        new(Encoding.UTF8.GetBytes(PythonJson.Serialize(new JsonObject { ["type"] = message.Type, ["data"] = message.Data() })), WebSocketMessageType.Text);
}

/// <summary>
/// One <c>/ws</c> socket. Frames are queued and written by a single pump, because a WebSocket allows only one
/// send at a time and each socket must see its messages in the order they were produced.
/// </summary>
public sealed class ClientConnection(string sid, WebSocket socket, ILogger logger)
{
    private readonly Channel<OutboundFrame> outbox = Channel.CreateUnbounded<OutboundFrame>(new UnboundedChannelOptions { SingleReader = true });

    public string Sid { get; } = sid;

    /// <summary>The flags the client sent in its first frame, if it sent any.</summary>
    public JsonObject? FeatureFlags { get; set; }

    public bool SupportsPreviewMetadata =>
        FeatureFlags?["supports_preview_metadata"] is JsonNode flag && PythonValues.Truthy(flag);

    public void Enqueue(OutboundFrame frame) => outbox.Writer.TryWrite(frame);

    public async Task PumpAsync(CancellationToken cancellationToken)
    {
        try
        {
            await foreach (var frame in outbox.Reader.ReadAllAsync(cancellationToken))
            {
                await socket.SendAsync(frame.Payload, frame.MessageType, endOfMessage: true, cancellationToken);
            }
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException or ObjectDisposedException)
        {
            // ComfyUI also drops frames for a socket that went away (send_socket_catch_exception).
            logger.LogDebug(e, "Stopped sending to socket {Sid}", Sid);
        }
    }

    public void Complete() => outbox.Writer.TryComplete();

    /// <summary>Cuts the connection without a close handshake, as a network drop or a killed server would.</summary>
    public void Abort()
    {
        Complete();
        socket.Abort();
    }
}

/// <summary>
/// ComfyUI's <c>PromptServer.sockets</c>: routes messages to the socket named by a prompt's <c>client_id</c>, or to
/// every socket when the id is null. A socket that connects with an id already in use takes over that id; the older
/// socket stays open but receives nothing more, as in ComfyUI.
/// </summary>
public sealed class ClientHub
{
    private readonly Lock gate = new();
    private readonly Dictionary<string, ClientConnection> sockets = [];

    public void Connect(ClientConnection connection)
    {
        lock (gate) sockets[connection.Sid] = connection;
    }

    public void Disconnect(ClientConnection connection)
    {
        lock (gate)
        {
            if (sockets.TryGetValue(connection.Sid, out var current) && ReferenceEquals(current, connection)) sockets.Remove(connection.Sid);
        }
    }

    public void Send(IComfyMessage message, string? sid) => Send(OutboundFrame.Text(message), sid);

    public bool SupportsPreviewMetadata(string? sid)
    {
        if (sid is null) return false;
        lock (gate) return sockets.TryGetValue(sid, out var connection) && connection.SupportsPreviewMetadata;
    }

    /// <summary>Binary event: a 4-byte big-endian event type, then the payload.</summary>
    public void SendBinary(uint eventType, ReadOnlySpan<byte> payload, string? sid)
    {
        var frame = new byte[4 + payload.Length];
        BinaryPrimitives.WriteUInt32BigEndian(frame, eventType);
        payload.CopyTo(frame.AsSpan(4));
        Send(new OutboundFrame(frame, WebSocketMessageType.Binary), sid);
    }

    /// <summary>Aborts every socket; returns how many there were.</summary>
    public int DropAll()
    {
        ClientConnection[] dropped;
        lock (gate)
        {
            dropped = [.. sockets.Values];
            sockets.Clear();
        }
        foreach (var connection in dropped) connection.Abort();
        return dropped.Length;
    }

    private void Send(OutboundFrame frame, string? sid)
    {
        lock (gate)
        {
            if (sid is null)
            {
                foreach (var connection in sockets.Values) connection.Enqueue(frame);
            }
            else if (sockets.TryGetValue(sid, out var connection))
            {
                connection.Enqueue(frame);
            }
        }
    }
}
