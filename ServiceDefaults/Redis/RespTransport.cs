using System.IO.Pipelines;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;

namespace DirectorsConsole.ServiceDefaults.Redis;

/// <summary>One connected, authenticated socket with RESP framing on both directions. Used by the command
/// connection and by the subscriber, which each own one at a time.</summary>
internal sealed class RespTransport : IAsyncDisposable
{
    private readonly Socket _socket;
    private readonly NetworkStream _stream;
    private readonly RespParser _parser;

    private RespTransport(Socket socket, RedisEndpointSettings settings)
    {
        _socket = socket;
        _stream = new NetworkStream(socket, ownsSocket: true);
        Input = PipeReader.Create(_stream, new StreamPipeReaderOptions(bufferSize: 64 * 1024));
        Output = PipeWriter.Create(_stream, new StreamPipeWriterOptions(minimumBufferSize: 16 * 1024));
        _parser = new RespParser(settings.MaxReplyBytes);
    }

    public PipeReader Input { get; }

    public PipeWriter Output { get; }

    /// <summary>Connects, then sends HELLO 3 (RESP3) or AUTH (RESP2, when a password is set) and CLIENT SETNAME.</summary>
    public static async Task<RespTransport> ConnectAsync(RedisEndpointSettings settings, ILogger logger, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(settings.ConnectTimeout);
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.KeepAlive, true);
        RespTransport? transport = null;
        try
        {
            await socket.ConnectAsync(settings.Host, settings.Port, timeout.Token).ConfigureAwait(false);
            transport = new RespTransport(socket, settings);
            await transport.HandshakeAsync(settings, logger, timeout.Token).ConfigureAwait(false);
            return transport;
        }
        catch (Exception ex)
        {
            if (transport is not null)
            {
                await transport.DisposeAsync().ConfigureAwait(false);
            }
            else
            {
                socket.Dispose();
            }

            if (ex is OperationCanceledException && cancellationToken.IsCancellationRequested)
            {
                throw;
            }

            throw ex switch
            {
                OperationCanceledException => new RedisConnectionException(
                    $"Could not connect to Redis at {settings.Endpoint} within {settings.ConnectTimeout.TotalMilliseconds:0} ms."),
                RedisException => ex,
                _ => new RedisConnectionException($"Could not connect to Redis at {settings.Endpoint}: {ex.Message}", ex),
            };
        }
    }

    public async ValueTask SendAsync(IReadOnlyList<RedisArg> command, CancellationToken cancellationToken)
    {
        RespWriter.WriteCommand(Output, command);
        await Output.FlushAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Waits for the next complete reply. Throws <see cref="RedisConnectionException"/> when the
    /// server closes the connection and <see cref="RedisProtocolException"/> for a malformed reply.</summary>
    public async ValueTask<RedisReply> ReadReplyAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            var result = await Input.ReadAsync(cancellationToken).ConfigureAwait(false);
            var buffer = result.Buffer;
            bool parsed;
            RedisReply? reply;
            try
            {
                parsed = _parser.TryRead(ref buffer, out reply);
            }
            catch (RedisProtocolException)
            {
                Input.AdvanceTo(buffer.Start, buffer.End);
                throw;
            }

            if (parsed)
            {
                Input.AdvanceTo(buffer.Start);
                return reply;
            }

            // Nothing is consumed, everything is examined: the next read waits for more bytes, and the
            // parse starts over on the whole frame once they arrive.
            Input.AdvanceTo(buffer.Start, buffer.End);
            if (result.IsCompleted)
            {
                throw new RedisConnectionException(buffer.IsEmpty
                    ? "The Redis server closed the connection."
                    : "The Redis server closed the connection in the middle of a reply.");
            }

            if (result.IsCanceled)
            {
                throw new OperationCanceledException(cancellationToken);
            }
        }
    }

    private async Task HandshakeAsync(RedisEndpointSettings settings, ILogger logger, CancellationToken cancellationToken)
    {
        if (settings.Resp3)
        {
            List<RedisArg> hello = ["HELLO", "3"];
            if (settings.Password is not null)
            {
                hello.AddRange(["AUTH", settings.User ?? "default", settings.Password]);
            }

            hello.AddRange(["SETNAME", settings.ClientName]);
            await ExpectSuccessAsync(hello, "HELLO 3", cancellationToken).ConfigureAwait(false);
            return;
        }

        if (settings.Password is not null)
        {
            RedisArg[] auth = settings.User is null ? ["AUTH", settings.Password] : ["AUTH", settings.User, settings.Password];
            await ExpectSuccessAsync(auth, "AUTH", cancellationToken).ConfigureAwait(false);
        }

        await SendAsync(["CLIENT", "SETNAME", settings.ClientName], cancellationToken).ConfigureAwait(false);
        var named = await ReadReplyAsync(cancellationToken).ConfigureAwait(false);
        if (named.Kind == RedisReplyKind.Error)
        {
            // The name only helps people reading CLIENT LIST; a server without it is still usable.
            logger.LogDebug("Redis at {Endpoint} refused CLIENT SETNAME: {Error}", settings.Endpoint, named.AsString());
        }
    }

    private async Task ExpectSuccessAsync(IReadOnlyList<RedisArg> command, string what, CancellationToken cancellationToken)
    {
        await SendAsync(command, cancellationToken).ConfigureAwait(false);
        var reply = await ReadReplyAsync(cancellationToken).ConfigureAwait(false);
        if (reply.Kind == RedisReplyKind.Error)
        {
            throw new RedisConnectionException($"{what} was refused by the server: {reply.AsString()}",
                new RedisServerException(reply.AsString()!));
        }
    }

    /// <summary>Shuts the socket down, which ends any read or write in progress on it.</summary>
    public void Abort()
    {
        try
        {
            _socket.Shutdown(SocketShutdown.Both);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            // Already closed; there is nothing left to end.
        }
    }

    /// <summary>Closes the connection. Call only once no read or write is running on it.</summary>
    public async ValueTask DisposeAsync()
    {
        Abort();
        await Input.CompleteAsync().ConfigureAwait(false);
        try
        {
            // Completing the writer flushes what is still buffered, which fails when the peer already dropped the
            // connection: nothing can be sent on it any more, so there is nothing to report.
            await Output.CompleteAsync().ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or SocketException)
        {
        }

        await _stream.DisposeAsync().ConfigureAwait(false);
    }
}
