using System.Buffers;
using Microsoft.AspNetCore.Http.Features;

namespace DirectorsConsole.JobService.Apis;

/// <summary>
/// Lets a WebSocket session send many messages with one write to the connection. The framework's WebSocket writes
/// each frame to its stream, and Kestrel sends each write to the client (and the Gateway copies each one on): one send
/// per message per watcher. This stream sits between the WebSocket and Kestrel: while it is <see cref="Hold">held</see>
/// it keeps the frames written to it, and <see cref="ReleaseAsync"/> writes them all at once. A watcher that is behind
/// by ten events then costs one write, not ten. Frames are kept whole and in the order written; a frame the WebSocket
/// writes of its own accord (a keep-alive ping, a pong) while the stream is held goes out with the held ones.
/// </summary>
public sealed class HeldWebSocketStream(Stream connection) : Stream
{
    private const int KeptCapacity = 256 * 1024;
    private readonly Lock _gate = new();
    private ArrayBufferWriter<byte> _held = new(4096);
    // One write to the connection at a time: a release and a frame written while the stream is not held. Not disposed:
    // the WebSocket disposes its stream when aborted, possibly while a write is under way here.
    private readonly SemaphoreSlim _writing = new(1, 1);
    private bool _holding;

    /// <summary>Bytes kept since <see cref="Hold"/>.</summary>
    public int HeldBytes
    {
        get
        {
            lock (_gate)
            {
                return _held.WrittenCount;
            }
        }
    }

    /// <summary>Keeps every frame written from now until <see cref="ReleaseAsync"/>.</summary>
    public void Hold()
    {
        lock (_gate)
        {
            _holding = true;
        }
    }

    /// <summary>Writes what was kept with one write to the connection and stops holding. A cancelled release leaves the
    /// connection in an unknown state: the caller aborts the WebSocket.</summary>
    public async ValueTask ReleaseAsync(CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            if (_held.WrittenCount == 0)
            {
                _holding = false;
                return;
            }
        }

        await _writing.WaitAsync(cancellationToken);
        try
        {
            byte[]? rented = null;
            int length;
            lock (_gate)
            {
                _holding = false;
                length = _held.WrittenCount;
                if (length > 0)
                {
                    rented = ArrayPool<byte>.Shared.Rent(length);
                    _held.WrittenSpan.CopyTo(rented);
                    // A large buffer is not kept for the socket's life: a watcher that was far behind once would
                    // otherwise hold its largest batch for as long as it watches.
                    if (_held.Capacity > KeptCapacity)
                    {
                        _held = new ArrayBufferWriter<byte>(4096);
                    }
                    else
                    {
                        _held.ResetWrittenCount();
                    }
                }
            }

            if (rented is not null)
            {
                try
                {
                    await connection.WriteAsync(rented.AsMemory(0, length), cancellationToken);
                }
                finally
                {
                    ArrayPool<byte>.Shared.Return(rented);
                }
            }
        }
        finally
        {
            _writing.Release();
        }
    }

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (TryKeep(buffer.Span))
        {
            return;
        }

        await _writing.WaitAsync(cancellationToken);
        try
        {
            await connection.WriteAsync(buffer, cancellationToken);
        }
        finally
        {
            _writing.Release();
        }
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Write(byte[] buffer, int offset, int count) => WriteAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    public override Task FlushAsync(CancellationToken cancellationToken) =>
        HeldBytes > 0 ? Task.CompletedTask : connection.FlushAsync(cancellationToken);

    public override void Flush() => FlushAsync(CancellationToken.None).GetAwaiter().GetResult();

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        connection.ReadAsync(buffer, cancellationToken);

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        connection.ReadAsync(buffer, offset, count, cancellationToken);

    public override int Read(byte[] buffer, int offset, int count) => connection.Read(buffer, offset, count);

    public override bool CanRead => connection.CanRead;
    public override bool CanWrite => connection.CanWrite;
    public override bool CanSeek => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            connection.Dispose();
        }

        base.Dispose(disposing);
    }

    public override async ValueTask DisposeAsync()
    {
        await connection.DisposeAsync();
        await base.DisposeAsync();
    }

    private bool TryKeep(ReadOnlySpan<byte> frame)
    {
        lock (_gate)
        {
            if (!_holding)
            {
                return false;
            }

            _held.Write(frame);
            return true;
        }
    }
}

/// <summary>
/// The upgrade of a WebSocket request, giving the framework's WebSocket a <see cref="HeldWebSocketStream"/> over the
/// connection instead of the connection itself. Installed ahead of the WebSockets middleware, which takes the upgrade
/// feature it finds; the endpoint finds the stream with <see cref="HeldWebSocketWrites.StreamOf"/>.
/// </summary>
internal sealed class HeldWritesUpgradeFeature(IHttpUpgradeFeature upgrade) : IHttpUpgradeFeature
{
    public HeldWebSocketStream? Stream { get; private set; }

    public bool IsUpgradableRequest => upgrade.IsUpgradableRequest;

    public async Task<Stream> UpgradeAsync()
    {
        Stream = new HeldWebSocketStream(await upgrade.UpgradeAsync());
        return Stream;
    }
}

public static class HeldWebSocketWrites
{
    /// <summary>The WebSockets middleware, with every accepted socket writing through a <see cref="HeldWebSocketStream"/>.</summary>
    public static IApplicationBuilder UseWebSocketsWithHeldWrites(this IApplicationBuilder app)
    {
        app.Use((context, next) =>
        {
            if (context.Features.Get<IHttpUpgradeFeature>() is { IsUpgradableRequest: true } upgrade)
            {
                context.Features.Set<IHttpUpgradeFeature>(new HeldWritesUpgradeFeature(upgrade));
            }

            return next(context);
        });
        return app.UseWebSockets();
    }

    /// <summary>The stream under the WebSocket this request accepted; null when it was accepted without
    /// <see cref="UseWebSocketsWithHeldWrites"/>.</summary>
    public static HeldWebSocketStream? StreamOf(HttpContext context) =>
        (context.Features.Get<IHttpUpgradeFeature>() as HeldWritesUpgradeFeature)?.Stream;
}
