using System.Net.WebSockets;
using System.Text.Json.Nodes;

namespace DirectorsConsole.IntegrationTests;

/// <summary>A client of the job and group streams through the Gateway, as the web app connects to them.</summary>
public static class GatewaySockets
{
    private static CancellationToken Token => TestContext.Current.CancellationToken;

    public static async Task<ClientWebSocket> ConnectAsync(RunningSuite suite, string path)
    {
        var socket = new ClientWebSocket();
        await socket.ConnectAsync(new Uri($"ws://127.0.0.1:{suite.Port}{path}"), Token);
        return socket;
    }

    /// <summary>Every message up to the first of one of <paramref name="lastTypes"/>.</summary>
    public static async Task<List<JsonObject>> ReceiveUntilAsync(ClientWebSocket socket, params string[] lastTypes)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Token);
        timeout.CancelAfter(TimeSpan.FromSeconds(90));
        var messages = new List<JsonObject>();
        var buffer = new byte[64 * 1024];
        while (true)
        {
            using var message = new MemoryStream();
            WebSocketReceiveResult result;
            do
            {
                result = await socket.ReceiveAsync(buffer, timeout.Token);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    throw new InvalidOperationException(
                        $"The server closed the socket ({socket.CloseStatus} {socket.CloseStatusDescription}); got: {string.Join(", ", messages.Select(m => (string?)m["type"]))}");
                }

                message.Write(buffer, 0, result.Count);
            }
            while (!result.EndOfMessage);

            var json = JsonNode.Parse(message.ToArray())!.AsObject();
            messages.Add(json);
            if (lastTypes.Contains((string?)json["type"]))
            {
                return messages;
            }
        }
    }

    public static async Task CloseAsync(ClientWebSocket socket)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "done", timeout.Token);
    }
}
