using System.Buffers;
using System.Collections.Concurrent;
using System.Net.WebSockets;
using System.Text.Json;
using System.Text.Json.Nodes;
using DirectorsConsole.BackendService.Comfy;
using DirectorsConsole.BackendService.Dispatch;
using DirectorsConsole.Comfy;
using DirectorsConsole.Contracts;
using DirectorsConsole.Messaging;
using DirectorsConsole.ServiceDefaults.Backends;
using Microsoft.Extensions.Options;

namespace DirectorsConsole.BackendService.Agents;

/// <summary>
/// The WebSockets render agents keep open to this replica (<c>WS /_worker/ws/{id}</c>). Agent → server: its ComfyUI's
/// own messages about our prompts, verbatim, turned into render events by <see cref="ComfyEventTranslator"/> exactly as
/// a node's socket is, one message at a time and in order. Server → agent: <c>cancel_task</c>, pushed the moment a
/// cancel of one of the agent's prompts is requested (every replica hears the request and pushes it to the sockets it
/// holds; heartbeat replies repeat it).
/// </summary>
public sealed class AgentSockets(
    IEventBus eventBus,
    DispatchStore store,
    RenderEventPublisher publisher,
    AgentTaskBroker broker,
    NodeMonitorReadings monitorReadings,
    IOptions<DispatchOptions> dispatchOptions,
    TimeProvider timeProvider,
    ILogger<AgentSockets> logger) : BackgroundService
{
    private static readonly TimeSpan SendTimeout = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan SubscribeRetryDelay = TimeSpan.FromSeconds(2);

    private readonly ConcurrentDictionary<string, ConcurrentDictionary<AgentConnection, byte>> _connections = new(StringComparer.Ordinal);

    /// <summary>How many agent sockets this replica holds.</summary>
    public int Count => _connections.Values.Sum(set => set.Count);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        // Subscribed until the service stops; while Redis cannot be reached, tried again (heartbeat replies still carry cancels).
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await using var subscription = await eventBus.SubscribeAsync<CancelPromptRequested>(
                    RenderChannels.CancelRequests, PushCancelAsync, cancellationToken: stoppingToken);
                await Task.Delay(Timeout.InfiniteTimeSpan, stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                logger.LogWarning(ex, "Could not subscribe to cancel requests for render agents' sockets; trying again in {Delay}", SubscribeRetryDelay);
                try
                {
                    await Task.Delay(SubscribeRetryDelay, timeProvider, stoppingToken);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }

    /// <summary>Relays one agent's socket until it closes or the service stops.</summary>
    public async Task RunAsync(BackendDefinition agent, WebSocket socket, CancellationToken cancellationToken)
    {
        var connection = new AgentConnection(agent.Id, socket);
        var set = _connections.GetOrAdd(agent.Id, _ => new ConcurrentDictionary<AgentConnection, byte>());
        set[connection] = 0;
        ComfyEventTranslator? translator = null;
        translator = new ComfyEventTranslator(agent.Id, publisher, store, monitorReadings, dispatchOptions.Value, timeProvider)
        {
            // The agent's result completes the prompt with its outputs (uploaded first): the end of execution only stops tracking it here.
            OnSucceeded = (tracked, _) => Forget(translator!, tracked),
            OnExecutionEnded = (tracked, _) => Forget(translator!, tracked),
        };
        logger.LogInformation("Render agent {AgentId} connected its socket", agent.Id);
        try
        {
            await ReceiveAsync(agent, socket, translator, cancellationToken);
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException or IOException)
        {
            logger.LogInformation("The socket of render agent {AgentId} ended: {Reason}", agent.Id, ex.Message);
        }
        finally
        {
            set.TryRemove(connection, out _);
            connection.Dispose();
        }
    }

    private async Task ReceiveAsync(BackendDefinition agent, WebSocket socket, ComfyEventTranslator translator, CancellationToken cancellationToken)
    {
        var maxBytes = dispatchOptions.Value.SocketMaxMessageBytes;
        var buffer = ArrayPool<byte>.Shared.Rent(64 * 1024);
        var message = new ArrayBufferWriter<byte>();
        var tooLarge = false;
        try
        {
            while (socket.State == WebSocketState.Open)
            {
                var received = await socket.ReceiveAsync(buffer.AsMemory(), cancellationToken);
                if (received.MessageType == WebSocketMessageType.Close)
                {
                    await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "closed", cancellationToken);
                    return;
                }

                if (message.WrittenCount + received.Count > maxBytes)
                {
                    tooLarge = true;
                }
                else if (!tooLarge)
                {
                    message.Write(buffer.AsSpan(0, received.Count));
                }

                if (!received.EndOfMessage)
                {
                    continue;
                }

                if (tooLarge)
                {
                    logger.LogWarning("Skipped a frame over {Limit} bytes from render agent {AgentId}", maxBytes, agent.Id);
                }
                else
                {
                    await HandleFrameAsync(agent, translator, received.MessageType, message.WrittenMemory, cancellationToken);
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

    private async Task HandleFrameAsync(BackendDefinition agent, ComfyEventTranslator translator, WebSocketMessageType type, ReadOnlyMemory<byte> frame, CancellationToken cancellationToken)
    {
        try
        {
            if (type == WebSocketMessageType.Text)
            {
                if (JsonNode.Parse(frame.Span) is JsonObject json && (string?)json["type"] is { } messageType)
                {
                    var data = json["data"] as JsonObject ?? [];
                    await TrackAsync(agent, translator, translator.PromptIdOf(messageType, data), cancellationToken);
                    await translator.OnMessageAsync(messageType, data, cancellationToken);
                }
            }
            else if (ComfyBinaryFrame.TryParse(frame.ToArray(), out var binary))
            {
                await TrackAsync(agent, translator, binary!.PromptId ?? translator.RunningPromptId, cancellationToken);
                await translator.OnBinaryAsync(binary, cancellationToken);
            }
        }
        catch (JsonException ex)
        {
            logger.LogWarning("Ignored a text frame from render agent {AgentId} that is not JSON: {Reason}", agent.Id, ex.Message);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // Redis failed in the middle: the prompt's result (or the agent's offline grace) still ends it.
            logger.LogError(ex, "Handling a message of render agent {AgentId} failed", agent.Id);
        }
    }

    /// <summary>The first message naming one of the agent's prompts: tracked from its in-flight record, and the agent has shown it holds the task.</summary>
    private async Task TrackAsync(BackendDefinition agent, ComfyEventTranslator translator, string? promptId, CancellationToken cancellationToken)
    {
        if (promptId is null || translator.Contains(promptId) || await store.GetInFlightAsync(agent.Id, promptId, cancellationToken) is not { } record)
        {
            return;
        }

        translator.Track(record);
        await broker.ConfirmAsync(agent.Id, promptId, cancellationToken);
    }

    private static Task Forget(ComfyEventTranslator translator, TrackedPrompt tracked)
    {
        translator.Remove(tracked.Record.PromptId);
        return Task.CompletedTask;
    }

    private async Task PushCancelAsync(CancelPromptRequested request, CancellationToken cancellationToken)
    {
        if (_connections.IsEmpty)
        {
            return;
        }

        var state = await store.GetPromptStateAsync(request.PromptId, cancellationToken);
        var agentId = state?.BackendId ?? request.BackendId;
        if (agentId is null || !_connections.TryGetValue(agentId, out var set) || set.IsEmpty)
        {
            return;
        }

        var command = JsonSerializer.SerializeToUtf8Bytes(new AgentCommand(AgentCommand.CancelTask, request.PromptId, state?.JobId), DispatchStore.Json);
        foreach (var connection in set.Keys)
        {
            if (await connection.SendAsync(command, SendTimeout, cancellationToken))
            {
                logger.LogInformation("Pushed the cancel of prompt {PromptId} to render agent {AgentId}", request.PromptId, agentId);
            }
        }
    }

    private sealed class AgentConnection(string agentId, WebSocket socket) : IDisposable
    {
        private readonly SemaphoreSlim _send = new(1, 1);

        public string AgentId => agentId;

        public async Task<bool> SendAsync(ReadOnlyMemory<byte> json, TimeSpan timeout, CancellationToken cancellationToken)
        {
            using var bounded = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            bounded.CancelAfter(timeout);
            try
            {
                await _send.WaitAsync(bounded.Token);
                try
                {
                    await socket.SendAsync(json, WebSocketMessageType.Text, true, bounded.Token);
                    return true;
                }
                finally
                {
                    _send.Release();
                }
            }
            catch (Exception ex) when (ex is WebSocketException or OperationCanceledException or ObjectDisposedException or IOException)
            {
                return false;
            }
        }

        public void Dispose() => _send.Dispose();
    }
}
