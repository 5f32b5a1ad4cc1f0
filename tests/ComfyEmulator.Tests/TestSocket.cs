using System.Buffers.Binary;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json.Nodes;
using System.Threading.Channels;

namespace DirectorsConsole.ComfyEmulator.Tests;

/// <summary>A frame received from the emulator: JSON text (with its type and data) or binary bytes.</summary>
public sealed record ReceivedFrame(string? Text, byte[]? Bytes)
{
    public JsonObject? Json { get; } = Text is null ? null : JsonNode.Parse(Text)!.AsObject();

    public string Type => Json?["type"]?.GetValue<string>() ?? "binary";

    public JsonObject Data => Json?["data"]?.AsObject() ?? [];

    public uint EventType => BinaryPrimitives.ReadUInt32BigEndian(Bytes);

    public string? PromptId => Data["prompt_id"]?.GetValue<string>();

    public override string ToString() => Text ?? $"binary {Convert.ToHexString(Bytes![..Math.Min(8, Bytes.Length)])} ({Bytes.Length} bytes)";
}

/// <summary>A ClientWebSocket whose frames are collected in the background, to be awaited one by one.</summary>
public sealed class TestSocket : IAsyncDisposable
{
    private static readonly TimeSpan FrameTimeout = TimeSpan.FromSeconds(20);

    private readonly ClientWebSocket socket;
    private readonly Channel<ReceivedFrame> frames = Channel.CreateUnbounded<ReceivedFrame>();
    private readonly Task receiving;

    private TestSocket(ClientWebSocket socket)
    {
        this.socket = socket;
        receiving = ReceiveAsync();
    }

    /// <summary>Completes when the server closed or dropped the connection.</summary>
    public Task Closed => receiving;

    public static async Task<TestSocket> ConnectAsync(Uri uri)
    {
        var socket = new ClientWebSocket();
        await socket.ConnectAsync(uri, TestContext.Current.CancellationToken);
        return new TestSocket(socket);
    }

    public Task SendAsync(string text) =>
        socket.SendAsync(Encoding.UTF8.GetBytes(text), WebSocketMessageType.Text, true, TestContext.Current.CancellationToken);

    public async Task<ReceivedFrame> NextAsync()
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        timeout.CancelAfter(FrameTimeout);
        try
        {
            return await frames.Reader.ReadAsync(timeout.Token);
        }
        catch (OperationCanceledException) when (!TestContext.Current.CancellationToken.IsCancellationRequested)
        {
            throw new TimeoutException($"no frame within {FrameTimeout.TotalSeconds} s");
        }
        catch (ChannelClosedException)
        {
            throw new InvalidOperationException("the socket closed while a frame was awaited");
        }
    }

    /// <summary>Frames until (and including) the first that matches.</summary>
    public async Task<List<ReceivedFrame>> UntilAsync(Func<ReceivedFrame, bool> last)
    {
        var received = new List<ReceivedFrame>();
        while (true)
        {
            var frame = await NextAsync();
            received.Add(frame);
            if (last(frame)) return received;
        }
    }

    /// <summary>The frames of one prompt up to its <c>executing</c> with <c>node: null</c>.</summary>
    public Task<List<ReceivedFrame>> UntilRunOverAsync(string promptId) =>
        UntilAsync(f => f.Type == "executing" && f.Data["node"] is null && f.PromptId == promptId);

    public List<ReceivedFrame> Buffered()
    {
        var buffered = new List<ReceivedFrame>();
        while (frames.Reader.TryRead(out var frame)) buffered.Add(frame);
        return buffered;
    }

    public async Task CloseAsync()
    {
        if (socket.State == WebSocketState.Open)
        {
            await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
        }
        await receiving.WaitAsync(TimeSpan.FromSeconds(10));
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await CloseAsync();
        }
        catch (Exception e) when (e is WebSocketException or TimeoutException or ObjectDisposedException)
        {
            // Already dropped by the server, which is what some tests do on purpose.
        }
        socket.Dispose();
    }

    private async Task ReceiveAsync()
    {
        var buffer = new byte[64 * 1024];
        using var message = new MemoryStream();
        try
        {
            while (true)
            {
                var result = await socket.ReceiveAsync(buffer, CancellationToken.None);
                if (result.MessageType == WebSocketMessageType.Close) return;
                message.Write(buffer, 0, result.Count);
                if (!result.EndOfMessage) continue;
                var bytes = message.ToArray();
                message.SetLength(0);
                frames.Writer.TryWrite(result.MessageType == WebSocketMessageType.Text
                    ? new ReceivedFrame(Encoding.UTF8.GetString(bytes), null)
                    : new ReceivedFrame(null, bytes));
            }
        }
        catch (WebSocketException)
        {
            // The server aborted the connection.
        }
        finally
        {
            frames.Writer.TryComplete();
        }
    }
}
