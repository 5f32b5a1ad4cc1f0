using System.ComponentModel.DataAnnotations;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Threading.Channels;
using DirectorsConsole.JobService.Model;
using DirectorsConsole.Messaging;

namespace DirectorsConsole.JobService.Apis;

/// <summary>The WebSocket streams' limits (configuration section <c>JobStreams</c>).</summary>
public sealed class JobStreamOptions
{
    public const string SectionName = "JobStreams";

    /// <summary>Events a client may fall behind by before it is dropped (close 1008); it reconnects with <c>?since=N</c>.</summary>
    [Range(16, 1_000_000)]
    public int ClientBufferSize { get; set; } = 1024;

    /// <summary>Longest one message may take to send; a client slower than that is aborted.</summary>
    [Range(typeof(TimeSpan), "00:00:00.1", "00:10:00")]
    public TimeSpan SendTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Interval of the server's WebSocket ping frames (keep-alive through proxies and NATs).</summary>
    [Range(typeof(TimeSpan), "00:00:01", "01:00:00")]
    public TimeSpan KeepAliveInterval { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>A client that does not answer a ping frame within this is aborted.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "01:00:00")]
    public TimeSpan KeepAliveTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How long the server waits for the client's close frame after sending its own.</summary>
    [Range(typeof(TimeSpan), "00:00:00.1", "00:10:00")]
    public TimeSpan CloseTimeout { get; set; } = TimeSpan.FromSeconds(5);
}

/// <summary>
/// One WebSocket client of a job's or a group's event stream. It subscribes before it reads, so no event falls
/// between the backlog and the live feed: it sends <c>initial_state</c> (or, with <c>?since=N</c>, every stored event
/// after N), then every live event whose sequence is above the last one sent, filling any gap from the store. Live
/// events wait in a bounded channel of their own, so a slow client never holds up the others; one that falls
/// <see cref="JobStreamOptions.ClientBufferSize"/> events behind is closed with 1008 and the sequence to resume from.
/// Previews (<c>job_preview</c>, <c>child_preview</c>) are not events: the session keeps, per job, only the latest one
/// not yet sent (a newer one of its job replaces it) and sends it in its place among the events, after those that came
/// before it and before those that came after it. So a client that falls behind misses previews, not events, and a
/// prompt's last preview (a SaveImageWebsocket output) comes before its job's completion, as the node sent them.
/// Previews never count toward the buffer, never close a client and never come before <c>initial_state</c>.
/// </summary>
public sealed class JobStreamSession : IAsyncDisposable
{
    private static readonly byte[] Pong = """{"type":"pong"}"""u8.ToArray();
    private const int MaxClientMessageBytes = 4096;
    // One write to the connection carries at most this many messages, or about this many bytes (it closes with the
    // message that reaches them).
    private const int MaxMessagesPerWrite = 256;
    private const int MaxBytesPerWrite = 64 * 1024;

    private readonly WebSocket _socket;
    private readonly HeldWebSocketStream? _held;
    private readonly JobStreamId _stream;
    private readonly IJobEventStream _events;
    private readonly JobStreamOptions _options;
    private readonly ILogger _logger;
    private readonly Channel<JobStreamEvent> _live;
    private readonly Channel<bool> _wake = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });
    // Per job (a group's children each have theirs), the newest preview not yet sent, oldest job first, with the number
    // of live events that had come when it came: it is sent once that many have been taken from _live.
    private readonly OrderedDictionary<string, (ReadOnlyMemory<byte> Message, long After)> _previews = new(StringComparer.Ordinal);
    // Live events handed to this session, and those the sender has taken from _live.
    private long _eventsArrived;
    private long _eventsTaken;
    private readonly SemaphoreSlim _sendLock = new(1, 1);
    private readonly CancellationTokenSource _stopping = new();
    private readonly CancellationTokenSource _sendTimeout;
    private long _lastSent;
    private bool _closeSent;

    /// <param name="held">The stream under <paramref name="socket"/> (see <see cref="HeldWebSocketWrites"/>), which lets
    /// the messages waiting for a client go to it in one write; null sends each message with a write of its own.</param>
    public JobStreamSession(WebSocket socket, JobStreamId stream, IJobEventStream events, JobStreamOptions options, ILogger logger, HeldWebSocketStream? held = null)
    {
        _socket = socket;
        _held = held;
        _stream = stream;
        _events = events;
        _options = options;
        _logger = logger;
        _sendTimeout = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token);
        _live = Channel.CreateBounded<JobStreamEvent>(new BoundedChannelOptions(options.ClientBufferSize) { SingleReader = true });
    }

    /// <summary>Streams until the client closes, asks to close, falls too far behind, or the server stops.</summary>
    /// <param name="since">Null: start with <c>initial_state</c>; else replay every event after this sequence.</param>
    /// <param name="readState">The current state as <c>initial_state</c> shows it (without <c>type</c> and
    /// <c>sequence</c>); null when the job or group does not exist.</param>
    /// <param name="notFoundReason">The close reason (1008) when <paramref name="readState"/> finds nothing.</param>
    public async Task RunAsync(long? since, Func<CancellationToken, Task<JsonObject?>> readState, string notFoundReason, CancellationToken cancellationToken)
    {
        using var stopOnAbort = cancellationToken.Register(() => _stopping.Cancel());
        try
        {
            await using var subscription = await _events.SubscribeAsync(_stream, OnEventAsync, OnPreview, cancellationToken);
            if (!await SendStartAsync(since, readState, cancellationToken))
            {
                await CloseAsync(WebSocketCloseStatus.PolicyViolation, notFoundReason);
                await DrainUntilClosedAsync();
                return;
            }

            var sender = Task.Run(SendLiveAsync, CancellationToken.None);
            await ReceiveAsync();
            await _stopping.CancelAsync();
            await sender;
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException or ObjectDisposedException)
        {
            // The client left (or the server stops) before the stream started.
        }
        catch (Exception ex) when (ex is RedisConnectionException or RedisTimeoutException)
        {
            _logger.LogWarning(ex, "The event stream {Stream} could not be read", _stream);
            await CloseAsync(WebSocketCloseStatus.InternalServerError, $"The event store is unavailable; reconnect with ?since={_lastSent}");
            await DrainUntilClosedAsync();
        }
    }

    /// <summary>Sends <c>initial_state</c> or the replay; false when the job or group does not exist.</summary>
    private async Task<bool> SendStartAsync(long? since, Func<CancellationToken, Task<JsonObject?>> readState, CancellationToken cancellationToken)
    {
        // The stream is read before the state: the engine commits a change and its event together, so the state
        // includes at least every event up to the last sequence read here; later ones come live (and may repeat what
        // the state already shows, which is harmless). Without ?since only that sequence is needed, not the events.
        var backlog = since is null ? [] : await _events.ReadAsync(_stream, since.Value, cancellationToken);
        var lastSequence = since is null ? await _events.GetLastSequenceAsync(_stream, cancellationToken) : 0;
        if (await readState(cancellationToken) is not { } state)
        {
            return false;
        }

        if (since is not null)
        {
            _lastSent = since.Value;
            await InOneWriteAsync(() => SendEventsAsync(backlog));
            return true;
        }

        _lastSent = lastSequence;
        var initial = new JsonObject { ["type"] = "initial_state", ["sequence"] = _lastSent };
        foreach (var (name, value) in state)
        {
            initial[name] = value?.DeepClone();
        }

        await SendAsync(JsonSerializer.SerializeToUtf8Bytes(initial));
        return true;
    }

    /// <summary>Closes with 1001 so clients reconnect (with <c>?since=N</c>) to another replica.</summary>
    public Task StopAsync() => CloseAsync(WebSocketCloseStatus.EndpointUnavailable, "The server is shutting down; reconnect with ?since=" + Interlocked.Read(ref _lastSent));

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync();
        _sendTimeout.Dispose();
        _stopping.Dispose();
        _sendLock.Dispose();
    }

    // Called by the event stream for every appended event; never blocks, so a slow client holds up nobody. The event's
    // message is the same bytes for every watcher of the stream in this replica.
    private Task OnEventAsync(JobStreamEvent streamEvent, CancellationToken cancellationToken)
    {
        // Counted first: a preview that comes meanwhile then waits for this event (the wake below follows the write).
        Interlocked.Increment(ref _eventsArrived);
        if (!_live.Writer.TryWrite(streamEvent))
        {
            _live.Writer.TryComplete(new ClientTooSlowException());
        }

        _wake.Writer.TryWrite(true);
        return Task.CompletedTask;
    }

    // Called by the event stream for every preview of the job (or of a child of the group); the newest of a job
    // replaces its one not yet sent, so a client that is behind misses previews, not events.
    private void OnPreview(string jobId, ReadOnlyMemory<byte> message)
    {
        lock (_previews)
        {
            _previews[jobId] = (message, Interlocked.Read(ref _eventsArrived));
        }

        _wake.Writer.TryWrite(true);
    }

    /// <summary>The index of the first preview whose events have all been taken; -1 when none. Under the lock.</summary>
    private int DuePreview()
    {
        for (var i = 0; i < _previews.Count; i++)
        {
            if (_previews.GetAt(i).Value.After <= _eventsTaken)
            {
                return i;
            }
        }

        return -1;
    }

    private bool HasDuePreview()
    {
        lock (_previews)
        {
            return DuePreview() >= 0;
        }
    }

    private bool TryTakeDuePreview(out ReadOnlyMemory<byte> message)
    {
        lock (_previews)
        {
            var due = DuePreview();
            if (due < 0)
            {
                message = default;
                return false;
            }

            message = _previews.GetAt(due).Value.Message;
            _previews.RemoveAt(due);
            return true;
        }
    }

    /// <summary>Sends the live events in order, each preview in its place among them.</summary>
    private async Task SendLiveAsync()
    {
        try
        {
            while (true)
            {
                if (_live.Reader.TryPeek(out _) || HasDuePreview())
                {
                    await InOneWriteAsync(SendWaitingAsync);
                }
                else if (_live.Reader.Completion.IsCompleted)
                {
                    // Completed only when the client fell too far behind: this throws ClientTooSlowException.
                    await _live.Reader.Completion;
                    return;
                }
                else
                {
                    await _wake.Reader.ReadAsync(_stopping.Token);
                }
            }
        }
        catch (ClientTooSlowException)
        {
            _logger.LogWarning("Dropped a client of {Stream} that fell {Count} events behind", _stream, _options.ClientBufferSize);
            await CloseAsync(WebSocketCloseStatus.PolicyViolation, $"Client too slow: more than {_options.ClientBufferSize} events behind; reconnect with ?since={_lastSent}");
        }
        catch (Exception ex) when (ex is OperationCanceledException or WebSocketException or ObjectDisposedException)
        {
            // The session is ending (the client left, a send timed out, or the server stops).
        }
    }

    /// <summary>Sends what waits, in the order it came, up to one write's worth: a watcher that fell behind catches up
    /// with few writes instead of one per message.</summary>
    private async Task SendWaitingAsync()
    {
        for (var count = 0; count < MaxMessagesPerWrite && HeldBytes < MaxBytesPerWrite; count++)
        {
            if (TryTakeDuePreview(out var preview))
            {
                await SendHeldAsync(preview);
            }
            else if (_live.Reader.TryRead(out var outgoing))
            {
                _eventsTaken++;
                await SendLiveEventAsync(outgoing);
            }
            else
            {
                return;
            }
        }
    }

    private async Task SendLiveEventAsync(JobStreamEvent outgoing)
    {
        if (outgoing.Sequence <= _lastSent)
        {
            return;
        }

        if (outgoing.Sequence > _lastSent + 1)
        {
            // A gap (the subscription reconnected to Redis): the store has what was missed, in order.
            await SendEventsAsync(await _events.ReadAsync(_stream, _lastSent, _stopping.Token));
            return;
        }

        await SendHeldAsync(outgoing.Message);
        _lastSent = outgoing.Sequence;
    }

    /// <summary>Sends the events after the last one sent; called under the send lock.</summary>
    private async Task SendEventsAsync(IReadOnlyList<JobStreamEvent> events)
    {
        foreach (var streamEvent in events)
        {
            if (streamEvent.Sequence > _lastSent)
            {
                if (HeldBytes >= MaxBytesPerWrite)
                {
                    // A long replay goes out 64 KB at a time, each write with the whole send timeout.
                    await ReleaseHeldAsync();
                    _sendTimeout.CancelAfter(_options.SendTimeout);
                    _held?.Hold();
                }

                await SendHeldAsync(streamEvent.Message);
                _lastSent = streamEvent.Sequence;
            }
        }
    }

    /// <summary>Answers <c>ping</c> (text or <c>{"type":"ping"}</c>) with <c>{"type":"pong"}</c> and <c>close</c> with a
    /// normal close, until the client's close frame arrives or the socket fails.</summary>
    private async Task ReceiveAsync()
    {
        var buffer = new byte[MaxClientMessageBytes];
        try
        {
            while (_socket.State is WebSocketState.Open or WebSocketState.CloseSent)
            {
                var length = 0;
                ValueWebSocketReceiveResult result;
                do
                {
                    if (length == buffer.Length)
                    {
                        await CloseAsync(WebSocketCloseStatus.MessageTooBig, $"Messages to the server are at most {MaxClientMessageBytes} bytes");
                        return;
                    }

                    result = await _socket.ReceiveAsync(buffer.AsMemory(length), CancellationToken.None);
                    length += result.Count;
                }
                while (!result.EndOfMessage && result.MessageType != WebSocketMessageType.Close);

                if (result.MessageType == WebSocketMessageType.Close)
                {
                    await CloseAsync(WebSocketCloseStatus.NormalClosure, "");
                    return;
                }

                switch (ClientCommand(buffer.AsSpan(0, length)))
                {
                    case "ping":
                        await SendAsync(Pong);
                        break;
                    case "close":
                        await CloseAsync(WebSocketCloseStatus.NormalClosure, "Closed at the client's request");
                        break;
                    default:
                        await SendAsync(JsonSerializer.SerializeToUtf8Bytes(new JsonObject
                        {
                            ["type"] = "error",
                            ["detail"] = "Unknown message; send ping or close (as text or {\"type\": …})",
                        }));
                        break;
                }
            }
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException or ObjectDisposedException)
        {
            // The client went away or the socket was aborted after a send timeout.
        }
    }

    private static string? ClientCommand(ReadOnlySpan<byte> message)
    {
        var text = Encoding.UTF8.GetString(message).Trim();
        if (text is "ping" or "close")
        {
            return text;
        }

        try
        {
            return JsonNode.Parse(text) is JsonObject json && json["type"] is JsonValue type && type.TryGetValue<string>(out var name) ? name : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>Sends one message on its own.</summary>
    private Task SendAsync(ReadOnlyMemory<byte> message) => InOneWriteAsync(() => SendHeldAsync(message));

    /// <summary>
    /// Runs <paramref name="send"/> under the send lock (sends are one at a time) with the connection's writes held, then
    /// writes what it sent to the connection at once. The send timeout covers the whole: cancelling it aborts the socket,
    /// which is what a client this slow deserves (one timer per session, armed for each write).
    /// </summary>
    private async Task InOneWriteAsync(Func<Task> send)
    {
        await _sendLock.WaitAsync(_stopping.Token);
        try
        {
            _sendTimeout.CancelAfter(_options.SendTimeout);
            _held?.Hold();
            try
            {
                await send();
            }
            finally
            {
                // Frames already made are written even when a later send failed: the sequences they carry are sent.
                await ReleaseHeldAsync();
            }

            _sendTimeout.CancelAfter(Timeout.InfiniteTimeSpan);
        }
        finally
        {
            _sendLock.Release();
        }
    }

    /// <summary>One message into the held writes (or, without a held stream, to the socket); under the send lock.</summary>
    private async Task SendHeldAsync(ReadOnlyMemory<byte> message)
    {
        if (!_closeSent)
        {
            await _socket.SendAsync(message, WebSocketMessageType.Text, endOfMessage: true, _sendTimeout.Token);
        }
    }

    private int HeldBytes => _held?.HeldBytes ?? 0;

    private async Task ReleaseHeldAsync()
    {
        if (_held is null)
        {
            return;
        }

        try
        {
            await _held.ReleaseAsync(_sendTimeout.Token);
        }
        catch (OperationCanceledException)
        {
            // The connection is left mid-write: nothing more can be sent on it.
            _socket.Abort();
            throw;
        }
    }

    /// <summary>Sends the close frame once; the receive loop then waits for the client's, up to the close timeout.</summary>
    private async Task CloseAsync(WebSocketCloseStatus status, string reason)
    {
        await _sendLock.WaitAsync(CancellationToken.None);
        try
        {
            if (_closeSent || _socket.State is not (WebSocketState.Open or WebSocketState.CloseReceived))
            {
                return;
            }

            _closeSent = true;
            using var timeout = new CancellationTokenSource(_options.SendTimeout);
            await _socket.CloseOutputAsync(status, Truncate(reason), timeout.Token);
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException or ObjectDisposedException)
        {
            return;
        }
        finally
        {
            _sendLock.Release();
        }

        _ = AbortIfNotClosedAsync();
    }

    private async Task AbortIfNotClosedAsync()
    {
        await Task.Delay(_options.CloseTimeout, CancellationToken.None);
        if (_socket.State != WebSocketState.Closed)
        {
            _socket.Abort();
        }
    }

    private async Task DrainUntilClosedAsync()
    {
        var buffer = new byte[MaxClientMessageBytes];
        try
        {
            while (_socket.State == WebSocketState.CloseSent)
            {
                await _socket.ReceiveAsync(buffer.AsMemory(), CancellationToken.None);
            }
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException or ObjectDisposedException)
        {
            // Aborted after the close timeout.
        }
    }

    // A close reason is at most 123 bytes of UTF-8.
    private static string Truncate(string reason)
    {
        if (Encoding.UTF8.GetByteCount(reason) <= 123)
        {
            return reason;
        }

        var cut = reason;
        while (Encoding.UTF8.GetByteCount(cut) > 120)
        {
            cut = cut[..^1];
        }

        return cut + "…";
    }

    private sealed class ClientTooSlowException : Exception;
}
