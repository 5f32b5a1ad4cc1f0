using System.Net;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Text;
using DirectorsConsole.JobService.Apis;

namespace DirectorsConsole.JobService.Tests.Api;

/// <summary>The stream under a session's WebSocket: frames sent while it is held reach the connection in one write, in
/// the order sent, and whole; frames sent while it is not held each go at once.</summary>
public sealed class HeldWebSocketStreamTests
{
    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Fact]
    public async Task MessagesSentWhileHeldReachTheConnectionInOneWriteInOrder()
    {
        // Arrange: a server WebSocket over a held stream over a connection that records its writes
        var connection = new CountedStream(new MemoryStream());
        var held = new HeldWebSocketStream(connection);
        using var server = WebSocket.CreateFromStream(held, new WebSocketCreationOptions { IsServer = true, KeepAliveInterval = Timeout.InfiniteTimeSpan });

        // Act: three messages while held, two of them from another thread; then one more after the release
        held.Hold();
        await server.SendAsync("first"u8.ToArray(), WebSocketMessageType.Text, endOfMessage: true, Token);
        await Task.Run(async () =>
        {
            await server.SendAsync("second"u8.ToArray(), WebSocketMessageType.Text, endOfMessage: true, Token);
            await server.SendAsync(Encoding.UTF8.GetBytes(new string('x', 70_000)), WebSocketMessageType.Text, endOfMessage: true, Token);
        }, Token);
        var writesWhileHeld = connection.Writes;
        var heldBytes = held.HeldBytes;
        await held.ReleaseAsync(Token);
        var writesAfterRelease = connection.Writes;
        await server.SendAsync("fourth"u8.ToArray(), WebSocketMessageType.Text, endOfMessage: true, Token);

        // Assert: nothing written while held, one write for the three, one for the next; a client reads all four whole
        Assert.Equal(0, writesWhileHeld);
        Assert.True(heldBytes > 70_000, $"held {heldBytes} bytes");
        Assert.Equal(1, writesAfterRelease);
        Assert.Equal(2, connection.Writes);
        Assert.Equal(0, held.HeldBytes);
        var messages = await ReadMessagesAsync(connection.Written, 4);
        Assert.Equal(["first", "second", new string('x', 70_000), "fourth"], messages);
    }

    [Fact]
    public async Task AReleaseWithNothingHeldWritesNothingAndStopsHolding()
    {
        // Arrange
        var connection = new CountedStream(new MemoryStream());
        var held = new HeldWebSocketStream(connection);
        using var server = WebSocket.CreateFromStream(held, new WebSocketCreationOptions { IsServer = true, KeepAliveInterval = Timeout.InfiniteTimeSpan });

        // Act
        held.Hold();
        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();
        await held.ReleaseAsync(cancelled.Token);
        await server.SendAsync("after"u8.ToArray(), WebSocketMessageType.Text, endOfMessage: true, Token);

        // Assert
        Assert.Equal(1, connection.Writes);
        Assert.Equal(["after"], await ReadMessagesAsync(connection.Written, 1));
    }

    /// <summary>The client's side: reads <paramref name="count"/> messages from the bytes the server wrote.</summary>
    private static async Task<List<string>> ReadMessagesAsync(byte[] written, int count)
    {
        using var client = WebSocket.CreateFromStream(new MemoryStream(written), new WebSocketCreationOptions { IsServer = false, KeepAliveInterval = Timeout.InfiniteTimeSpan });
        var messages = new List<string>();
        var buffer = new byte[128 * 1024];
        while (messages.Count < count)
        {
            var length = 0;
            ValueWebSocketReceiveResult result;
            do
            {
                result = await client.ReceiveAsync(buffer.AsMemory(length), Token);
                length += result.Count;
            }
            while (!result.EndOfMessage);

            messages.Add(Encoding.UTF8.GetString(buffer, 0, length));
        }

        return messages;
    }

    /// <summary>Two ends of a loopback TCP connection.</summary>
    internal static async Task<(Socket Server, Socket Client)> ConnectedPairAsync()
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(1);
        var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        var connecting = client.ConnectAsync(listener.LocalEndPoint!, Token);
        var server = await listener.AcceptAsync(Token);
        await connecting;
        return (server, client);
    }
}

/// <summary>A connection that counts the writes made to it, keeps a copy of what was written, and can make writes
/// wait (<see cref="HoldWrites"/>) until <see cref="ReleaseWrites"/>.</summary>
internal sealed class CountedStream(Stream inner) : Stream
{
    private readonly MemoryStream _written = new();
    private TaskCompletionSource? _gate;
    private int _writes;
    private int _writesStarted;

    public int Writes => Volatile.Read(ref _writes);

    public int WritesStarted => Volatile.Read(ref _writesStarted);

    public byte[] Written
    {
        get
        {
            lock (_written)
            {
                return _written.ToArray();
            }
        }
    }

    public void HoldWrites() => _gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

    public void ReleaseWrites() => _gate?.TrySetResult();

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        Interlocked.Increment(ref _writesStarted);
        if (_gate is { } gate)
        {
            await gate.Task.WaitAsync(cancellationToken);
        }

        lock (_written)
        {
            _written.Write(buffer.Span);
        }

        // Counted before the bytes go on: once the peer has read them, the count already holds this write.
        Interlocked.Increment(ref _writes);
        await inner.WriteAsync(buffer, cancellationToken);
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Write(byte[] buffer, int offset, int count) => WriteAsync(buffer, offset, count).GetAwaiter().GetResult();

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => inner.ReadAsync(buffer, cancellationToken);

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => inner.ReadAsync(buffer, offset, count, cancellationToken);

    public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, count);

    public override void Flush() => inner.Flush();

    public override bool CanRead => inner.CanRead;
    public override bool CanWrite => true;
    public override bool CanSeek => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            inner.Dispose();
        }

        base.Dispose(disposing);
    }
}
