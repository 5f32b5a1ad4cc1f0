using System.Buffers;
using System.Net.WebSockets;
using System.Text.Json;
using DirectorsConsole.Comfy;
using Microsoft.Extensions.Options;

namespace DirectorsConsole.RenderAgent;

/// <summary>
/// The agent's ComfyUI: one <c>/ws</c> socket kept open under the agent's own client id (opened before any prompt is
/// posted, so none of its messages are missed), whose messages about held prompts are relayed to the orchestrator
/// unchanged and wake the prompt's runner when it ends; and the capabilities the node offers.
/// </summary>
public sealed class ComfyNode(
    IOptions<AgentOptions> options, ComfyHttpClient comfy, HeldTasks tasks, OrchestratorSocket orchestrator, ILogger<ComfyNode> logger, TimeProvider time)
{
    private readonly AgentOptions _options = options.Value;
    private readonly TaskCompletionSource _firstConnection = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private ComfySocket? _socket;

    /// <summary>The client id the agent's prompts are posted with (ComfyUI sends their messages to its socket).</summary>
    public string ClientId { get; } = Guid.NewGuid().ToString("N");

    public Uri Address => _options.ComfyUiBase;

    public bool IsConnected => _socket?.IsConnected ?? false;

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        _socket = new ComfySocket(Address, ClientId,
            new ComfySocketSettings(_options.RequestTimeout, TimeSpan.FromSeconds(15), TimeSpan.FromSeconds(10),
                _options.RetryMinDelay, _options.RetryMaxDelay, 64 * 1024 * 1024),
            () => new SocketsHttpHandler { ConnectTimeout = _options.RequestTimeout }, logger, time);
        var running = _socket.RunAsync(cancellationToken);
        await foreach (var message in _socket.Events.ReadAllAsync(CancellationToken.None).ConfigureAwait(false))
        {
            try
            {
                Handle(message);
            }
            catch (Exception ex) when (ex is JsonException or InvalidOperationException)
            {
                logger.LogWarning(ex, "Could not relay a message of the ComfyUI socket");
            }
        }

        await running.ConfigureAwait(false);
    }

    /// <summary>Returns once the socket is open (a prompt is posted only then), or throws after the request timeout.</summary>
    public async Task WaitConnectedAsync(CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_options.RequestTimeout);
        try
        {
            await _firstConnection.Task.WaitAsync(timeout.Token).ConfigureAwait(false);
            while (!IsConnected)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(50), time, timeout.Token).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new ComfyUnreachableException($"The socket of {Address} did not open within {_options.RequestTimeout.TotalSeconds:0.#} s.");
        }
    }

    /// <summary>What the node offers, from <c>/object_info</c> and <c>/system_stats</c>.</summary>
    public async Task<WorkerCapabilities> DiscoverAsync(CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_options.RequestTimeout * 2);
        var capabilities = await comfy.GetObjectInfoAsync(Address, timeout.Token).ConfigureAwait(false);
        var stats = await comfy.GetSystemStatsAsync(Address, timeout.Token).ConfigureAwait(false);
        var models = capabilities.Checkpoints.Concat(capabilities.Unets).Concat(capabilities.Loras).Concat(capabilities.Vaes)
            .Distinct(StringComparer.Ordinal).ToArray();
        return new WorkerCapabilities(models, capabilities.NodeClasses, stats.GpuName, stats.VramTotal, stats.ComfyuiVersion);
    }

    private void Handle(ComfySocketEvent message)
    {
        switch (message)
        {
            case ComfySocketConnected connected:
                _firstConnection.TrySetResult();
                if (connected.IsReconnect)
                {
                    // Messages of the gap are lost: every runner looks its prompt up now.
                    tasks.WakeAll();
                }

                break;
            case ComfySocketMessage { Data: var data } text when tasks.Find((string?)data["prompt_id"]) is { } held:
                orchestrator.Relay(WebSocketMessageType.Text, Serialize(text));
                if (WorkerProtocol.EndMessages.Contains(text.Type) || text.Type == "executing" && data["node"] is null)
                {
                    held.SignalEnd();
                }

                break;
            case ComfySocketBinary { Frame: var frame } when frame.PromptId is { } promptId ? tasks.Find(promptId) is not null : tasks.Count > 0:
                // A frame without a prompt id (an old node's preview) belongs to what runs on this client id: ours.
                orchestrator.Relay(WebSocketMessageType.Binary, frame.Raw);
                break;
        }
    }

    /// <summary>The message as ComfyUI framed it: <c>{"type": T, "data": {...}}</c>.</summary>
    private static ReadOnlyMemory<byte> Serialize(ComfySocketMessage message)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteString("type", message.Type);
            writer.WritePropertyName("data");
            message.Data.WriteTo(writer);
            writer.WriteEndObject();
        }

        return buffer.WrittenMemory;
    }
}
