using System.Net.WebSockets;
using System.Text;
using System.Text.Json.Nodes;

namespace DirectorsConsole.JobService.Tests.Api;

/// <summary>A WebSocket client of a job or group stream that reads whole JSON messages and records them in order.</summary>
public sealed class StreamClient(WebSocket socket) : IAsyncDisposable
{
    private static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(30);

    public WebSocket Socket { get; } = socket;

    public List<JsonObject> Received { get; } = [];

    /// <summary>The next message, or null when the server closed the socket (see <see cref="WebSocket.CloseStatus"/>).</summary>
    public async Task<JsonObject?> ReceiveAsync(TimeSpan? timeout = null)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        cts.CancelAfter(timeout ?? DefaultTimeout);
        var buffer = new byte[64 * 1024];
        using var message = new MemoryStream();
        WebSocketReceiveResult result;
        do
        {
            result = await Socket.ReceiveAsync(buffer, cts.Token);
            if (result.MessageType == WebSocketMessageType.Close)
            {
                return null;
            }

            message.Write(buffer, 0, result.Count);
        }
        while (!result.EndOfMessage);

        var json = JsonNode.Parse(message.ToArray())!.AsObject();
        Received.Add(json);
        return json;
    }

    /// <summary>Reads until a message of <paramref name="type"/> arrives (inclusive) and returns it.</summary>
    public async Task<JsonObject> ReceiveUntilAsync(string type, TimeSpan? timeout = null)
    {
        while (true)
        {
            var message = await ReceiveAsync(timeout) ?? throw new InvalidOperationException(
                $"The server closed the socket ({Socket.CloseStatus} {Socket.CloseStatusDescription}) before '{type}'; got: {string.Join(", ", Received.Select(m => (string?)m["type"]))}");
            if ((string?)message["type"] == type)
            {
                return message;
            }
        }
    }

    public Task SendTextAsync(string text) =>
        Socket.SendAsync(Encoding.UTF8.GetBytes(text), WebSocketMessageType.Text, true, TestContext.Current.CancellationToken);

    public async ValueTask DisposeAsync()
    {
        if (Socket.State == WebSocketState.Open)
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            try
            {
                await Socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "test done", cts.Token);
            }
            catch (Exception ex) when (ex is WebSocketException or OperationCanceledException)
            {
                // The server went first.
            }
        }

        Socket.Dispose();
    }
}
