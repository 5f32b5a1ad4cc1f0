using System.Collections.Concurrent;
using System.Net.Http.Json;
using System.Net.WebSockets;
using System.Text.Json.Nodes;

namespace DirectorsConsole.JobBench;

/// <summary>A ComfyUI client that talks straight to one node, as a script would without the suite: one WebSocket
/// (<c>/ws?clientId=</c>) opened first, then <c>POST /prompt</c> with that client id and a prompt id of its own, and
/// the prompt's <c>execution_success</c> (or <c>execution_error</c> / <c>execution_interrupted</c>) on the socket.</summary>
internal sealed class ComfyNode : IAsyncDisposable
{
    private readonly HttpClient _http;
    private readonly ClientWebSocket _socket = new();
    private readonly string _clientId = "bench-" + Guid.NewGuid().ToString("N");
    private readonly ConcurrentDictionary<string, TaskCompletionSource> _prompts = new();
    private readonly CancellationTokenSource _stop = new();
    private Task _receiving = Task.CompletedTask;

    private ComfyNode(string address)
    {
        Address = address;
        _http = new HttpClient { BaseAddress = new Uri($"http://{address}"), Timeout = TimeSpan.FromSeconds(30) };
    }

    /// <summary><c>host:port</c>.</summary>
    public string Address { get; }

    public static async Task<ComfyNode> ConnectAsync(string address)
    {
        var node = new ComfyNode(address);
        await node._socket.ConnectAsync(new Uri($"ws://{address}/ws?clientId={node._clientId}"), CancellationToken.None);
        node._receiving = node.ReceiveAsync();
        return node;
    }

    /// <summary>Posts the prompt and completes when the node reports it executed; throws on an error or interrupt.</summary>
    public async Task RunAsync(JsonObject prompt, CancellationToken cancellationToken)
    {
        var promptId = Guid.NewGuid().ToString();
        var done = _prompts.GetOrAdd(promptId, _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
        using var response = await _http.PostAsJsonAsync("/prompt", new JsonObject
        {
            ["prompt"] = prompt,
            ["client_id"] = _clientId,
            ["prompt_id"] = promptId,
        }, cancellationToken);
        if (!response.IsSuccessStatusCode)
        {
            throw new InvalidOperationException($"{Address} refused the prompt: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync(cancellationToken)}");
        }

        await done.Task.WaitAsync(cancellationToken);
        _prompts.TryRemove(promptId, out _);
    }

    private async Task ReceiveAsync()
    {
        var buffer = new byte[1024 * 1024];
        try
        {
            while (!_stop.IsCancellationRequested)
            {
                using var message = new MemoryStream();
                WebSocketReceiveResult result;
                do
                {
                    result = await _socket.ReceiveAsync(buffer, _stop.Token);
                    if (result.MessageType == WebSocketMessageType.Close)
                    {
                        Fail(new InvalidOperationException($"{Address} closed its socket: {_socket.CloseStatusDescription}"));
                        return;
                    }

                    message.Write(buffer, 0, result.Count);
                }
                while (!result.EndOfMessage);

                if (result.MessageType != WebSocketMessageType.Text)
                {
                    continue; // previews
                }

                var node = JsonNode.Parse(message.ToArray())!;
                var type = (string?)node["type"];
                if (type is not ("execution_success" or "execution_error" or "execution_interrupted")
                    || (string?)node["data"]?["prompt_id"] is not { } promptId)
                {
                    continue;
                }

                var done = _prompts.GetOrAdd(promptId, _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
                if (type == "execution_success")
                {
                    done.TrySetResult();
                }
                else
                {
                    done.TrySetException(new InvalidOperationException($"{Address}: {type} for {promptId}: {node["data"]?.ToJsonString()}"));
                }
            }
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
            // Disposed.
        }
        catch (Exception ex) when (ex is WebSocketException or IOException)
        {
            Fail(ex);
        }
    }

    private void Fail(Exception ex)
    {
        foreach (var waiting in _prompts.Values)
        {
            waiting.TrySetException(ex);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _receiving;
        _socket.Abort();
        _socket.Dispose();
        _http.Dispose();
        _stop.Dispose();
    }
}
