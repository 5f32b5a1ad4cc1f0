using System.Net.WebSockets;
using System.Text.Json;
using System.Threading.Channels;
using Microsoft.Extensions.Options;

namespace DirectorsConsole.RenderAgent;

/// <summary>
/// The agent's WebSocket to <c>/_worker/ws/{worker_id}</c>: relays the ComfyUI messages of its prompts unchanged (text
/// and binary preview frames) and receives the orchestrator's commands (<c>cancel_task</c>). Reopened with back-off
/// whenever it drops. Messages relayed while it is down wait in a bounded buffer (the oldest are dropped first; the
/// result post carries how each prompt ended).
/// </summary>
public sealed class OrchestratorSocket(IOptions<AgentOptions> options, HeldTasks tasks, ILogger<OrchestratorSocket> logger, TimeProvider time)
{
    private const int BufferedMessages = 512;
    private readonly AgentOptions _options = options.Value;
    private readonly Channel<(WebSocketMessageType Type, ReadOnlyMemory<byte> Bytes)> _outgoing =
        Channel.CreateBounded<(WebSocketMessageType, ReadOnlyMemory<byte>)>(
            new BoundedChannelOptions(BufferedMessages) { FullMode = BoundedChannelFullMode.DropOldest, SingleReader = true });

    public bool IsConnected { get; private set; }

    public Uri Address => new(
        new UriBuilder(_options.OrchestratorBase) { Scheme = _options.OrchestratorBase.Scheme == Uri.UriSchemeHttps ? "wss" : "ws" }.Uri,
        $"_worker/ws/{Uri.EscapeDataString(_options.WorkerId)}");

    public void Relay(WebSocketMessageType type, ReadOnlyMemory<byte> bytes) => _outgoing.Writer.TryWrite((type, bytes));

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        var backoff = new Backoff(_options, time);
        while (!cancellationToken.IsCancellationRequested)
        {
            using var socket = new ClientWebSocket();
            socket.Options.SetRequestHeader(WorkerProtocol.TokenHeader, _options.Token);
            socket.Options.KeepAliveInterval = TimeSpan.FromSeconds(15);
            socket.Options.KeepAliveTimeout = TimeSpan.FromSeconds(15);
            try
            {
                using (var connect = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
                {
                    connect.CancelAfter(_options.RequestTimeout);
                    await socket.ConnectAsync(Address, connect.Token).ConfigureAwait(false);
                }

                IsConnected = true;
                backoff.Reset();
                logger.LogInformation("Connected to {Address}", Address);
                using var connection = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                var receiving = ReceiveAsync(socket, connection.Token);
                var sending = SendAsync(socket, connection.Token);
                // Whichever side ends first (a close, a broken connection, a send that timed out) ends the other.
                var ended = await Task.WhenAny(receiving, sending).ConfigureAwait(false);
                await connection.CancelAsync().ConfigureAwait(false);
                await Task.WhenAll(receiving, sending).ContinueWith(_ => { }, TaskScheduler.Default).ConfigureAwait(false);
                if (!cancellationToken.IsCancellationRequested)
                {
                    logger.LogWarning("The socket {Address} dropped: {Reason}", Address,
                        ended.Exception?.GetBaseException().Message ?? socket.CloseStatusDescription ?? "closed by the orchestrator");
                }
            }
            catch (Exception ex) when (ex is WebSocketException or HttpRequestException or IOException
                                           || ex is OperationCanceledException && !cancellationToken.IsCancellationRequested)
            {
                logger.LogWarning("Could not open the socket {Address} (attempt {Attempt}): {Reason}", Address, backoff.Failures + 1, ex.Message);
            }
            finally
            {
                IsConnected = false;
            }

            try
            {
                await backoff.WaitAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private async Task SendAsync(ClientWebSocket socket, CancellationToken cancellationToken)
    {
        await foreach (var (type, bytes) in _outgoing.Reader.ReadAllAsync(cancellationToken).ConfigureAwait(false))
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(_options.RequestTimeout);
            await socket.SendAsync(bytes, type, true, timeout.Token).ConfigureAwait(false);
        }
    }

    private async Task ReceiveAsync(ClientWebSocket socket, CancellationToken cancellationToken)
    {
        var buffer = new byte[16 * 1024];
        using var message = new MemoryStream();
        while (true)
        {
            var result = await socket.ReceiveAsync(buffer.AsMemory(), cancellationToken).ConfigureAwait(false);
            if (result.MessageType == WebSocketMessageType.Close)
            {
                return;
            }

            if (message.Length + result.Count > 1024 * 1024)
            {
                throw new WebSocketException("The orchestrator sent a message over 1 MiB.");
            }

            message.Write(buffer, 0, result.Count);
            if (!result.EndOfMessage)
            {
                continue;
            }

            if (result.MessageType == WebSocketMessageType.Text)
            {
                Handle(message.GetBuffer().AsSpan(0, (int)message.Length));
            }

            message.SetLength(0);
        }
    }

    private void Handle(ReadOnlySpan<byte> json)
    {
        WorkerCommand? command;
        try
        {
            command = JsonSerializer.Deserialize<WorkerCommand>(json, WorkerProtocol.Json);
        }
        catch (JsonException ex)
        {
            logger.LogWarning("Ignored a message from the orchestrator that is not a command: {Reason}", ex.Message);
            return;
        }

        if (command is { Command: WorkerCommand.CancelTask, TaskId: { } taskId })
        {
            tasks.Cancel(taskId, "the orchestrator's cancel_task command");
        }
        else
        {
            logger.LogWarning("Ignored an unknown command from the orchestrator: {Command}", command?.Command);
        }
    }
}
