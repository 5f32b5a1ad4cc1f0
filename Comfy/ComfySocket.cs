using System.Buffers;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;

namespace DirectorsConsole.Comfy;

/// <summary>Something that happened on a backend's <c>/ws</c> socket, in the order it happened.</summary>
public abstract record ComfySocketEvent;

/// <summary>The socket is open (again). After a reconnect, events of the gap are lost and must be read from
/// <c>/history</c>.</summary>
public sealed record ComfySocketConnected(bool IsReconnect) : ComfySocketEvent;

public sealed record ComfySocketDisconnected(string Reason) : ComfySocketEvent;

/// <summary>A JSON frame <c>{"type": T, "data": {...}}</c>.</summary>
public sealed record ComfySocketMessage(string Type, JsonObject Data) : ComfySocketEvent;

public sealed record ComfySocketBinary(ComfyBinaryFrame Frame) : ComfySocketEvent;

public sealed record ComfySocketSettings(
    TimeSpan ConnectTimeout,
    TimeSpan KeepAliveInterval,
    TimeSpan KeepAliveTimeout,
    TimeSpan ReconnectMinDelay,
    TimeSpan ReconnectMaxDelay,
    int MaxMessageBytes);

/// <summary>
/// One long-lived <c>/ws?clientId=</c> socket to a backend, reopened with the same client id after every drop
/// (ComfyUI routes a prompt's events to the newest socket of its client id), with back-off between attempts. WebSocket
/// pings detect a dead peer; <see cref="Reconnect"/> lets the owner replace a socket that went silent (ComfyUI#9393).
/// Frames are written to <see cref="Events"/> for one reader. <paramref name="createHandler"/> makes the connection's
/// handler (BackendService's refuses link-local and metadata addresses, as its HTTP clients do).
/// </summary>
public sealed class ComfySocket(
    Uri backendBase, string clientId, ComfySocketSettings settings, Func<HttpMessageHandler> createHandler, ILogger logger, TimeProvider timeProvider)
{
    // Sent first so ComfyUI sends previews as type 4 frames that name their prompt.
    private static readonly byte[] FeatureFlags = Encoding.UTF8.GetBytes("""{"type":"feature_flags","data":{"supports_preview_metadata":true}}""");

    private readonly Channel<ComfySocketEvent> _events = Channel.CreateUnbounded<ComfySocketEvent>(
        new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });

    private CancellationTokenSource? _connection;
    private volatile bool _connected;
    private long _lastFrameTicks = timeProvider.GetUtcNow().UtcTicks;

    public ChannelReader<ComfySocketEvent> Events => _events.Reader;

    public bool IsConnected => _connected;

    public string ClientId => clientId;

    /// <summary>When the last frame (or the connection) arrived.</summary>
    public DateTimeOffset LastFrameAt => new(Interlocked.Read(ref _lastFrameTicks), TimeSpan.Zero);

    public Uri Address { get; } = new(
        new UriBuilder(backendBase) { Scheme = backendBase.Scheme == Uri.UriSchemeHttps ? "wss" : "ws" }.Uri,
        $"ws?clientId={Uri.EscapeDataString(clientId)}");

    /// <summary>Closes the current socket; <see cref="RunAsync"/> opens a new one at once.</summary>
    public void Reconnect(string reason)
    {
        logger.LogInformation("Reopening the socket {Address}: {Reason}", Address, reason);
        try
        {
            _connection?.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // That socket is already gone.
        }
    }

    /// <summary>Connects and keeps reconnecting until <paramref name="cancellationToken"/> is cancelled.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        var failures = 0;
        var everConnected = false;
        using var invoker = new HttpMessageInvoker(createHandler());
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                using var connection = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                using var socket = new ClientWebSocket();
                socket.Options.KeepAliveInterval = settings.KeepAliveInterval;
                socket.Options.KeepAliveTimeout = settings.KeepAliveTimeout;
                string reason;
                try
                {
                    using (var connect = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
                    {
                        connect.CancelAfter(settings.ConnectTimeout);
                        await socket.ConnectAsync(Address, invoker, connect.Token).ConfigureAwait(false);
                        await socket.SendAsync(FeatureFlags, WebSocketMessageType.Text, true, connect.Token).ConfigureAwait(false);
                    }

                    failures = 0;
                    Touch();
                    _connection = connection;
                    _connected = true;
                    _events.Writer.TryWrite(new ComfySocketConnected(everConnected));
                    if (everConnected)
                    {
                        logger.LogInformation("Socket {Address} reconnected", Address);
                    }

                    everConnected = true;
                    reason = await ReceiveAsync(socket, connection.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                {
                    reason = _connected ? "reconnect requested" : "connect timed out";
                }
                catch (Exception ex) when (ex is WebSocketException or HttpRequestException or IOException)
                {
                    reason = ex.Message;
                }

                if (_connected)
                {
                    _connected = false;
                    _connection = null;
                    _events.Writer.TryWrite(new ComfySocketDisconnected(reason));
                    logger.LogWarning("Socket {Address} dropped: {Reason}", Address, reason);
                }
                else
                {
                    failures++;
                    logger.LogDebug("Socket {Address} could not connect (attempt {Attempt}): {Reason}", Address, failures, reason);
                }

                await Task.Delay(Backoff(failures), timeProvider, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // The owner stopped; the socket is closed by Dispose.
        }
        finally
        {
            _connected = false;
            _events.Writer.TryComplete();
        }
    }

    private TimeSpan Backoff(int failures)
    {
        if (failures == 0)
        {
            // A drop right after a working connection: retry almost at once.
            return settings.ReconnectMinDelay;
        }

        var ticks = settings.ReconnectMinDelay.Ticks * Math.Pow(2, Math.Min(failures - 1, 16));
        return TimeSpan.FromTicks((long)Math.Min(ticks, settings.ReconnectMaxDelay.Ticks));
    }

    /// <summary>Reads frames until the socket closes; returns why it did.</summary>
    private async Task<string> ReceiveAsync(ClientWebSocket socket, CancellationToken cancellationToken)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(64 * 1024);
        var message = new ArrayBufferWriter<byte>();
        var tooLarge = false;
        try
        {
            while (true)
            {
                var result = await socket.ReceiveAsync(buffer.AsMemory(), cancellationToken).ConfigureAwait(false);
                Touch();
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    return $"closed by the backend ({socket.CloseStatus} {socket.CloseStatusDescription})";
                }

                if (!tooLarge)
                {
                    if (message.WrittenCount + result.Count > settings.MaxMessageBytes)
                    {
                        tooLarge = true;
                    }
                    else
                    {
                        message.Write(buffer.AsSpan(0, result.Count));
                    }
                }

                if (!result.EndOfMessage)
                {
                    continue;
                }

                if (tooLarge)
                {
                    logger.LogWarning("Skipped a frame over {Limit} bytes from {Address}", settings.MaxMessageBytes, Address);
                }
                else if (result.MessageType == WebSocketMessageType.Text)
                {
                    Publish(message.WrittenSpan);
                }
                else if (ComfyBinaryFrame.TryParse(message.WrittenMemory.ToArray(), out var frame))
                {
                    _events.Writer.TryWrite(new ComfySocketBinary(frame!));
                }

                message.ResetWrittenCount();
                tooLarge = false;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private void Publish(ReadOnlySpan<byte> json)
    {
        try
        {
            if (JsonNode.Parse(json) is JsonObject frame && (string?)frame["type"] is { } type)
            {
                _events.Writer.TryWrite(new ComfySocketMessage(type, frame["data"] as JsonObject ?? []));
            }
        }
        catch (JsonException ex)
        {
            logger.LogWarning(ex, "Ignored a text frame from {Address} that is not JSON", Address);
        }
    }

    private void Touch() => Interlocked.Exchange(ref _lastFrameTicks, timeProvider.GetUtcNow().UtcTicks);
}
