using System.Collections.Concurrent;
using System.Diagnostics;
using System.Threading.Channels;
using DirectorsConsole.ServiceDefaults.Durability;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace DirectorsConsole.ServiceDefaults.Redis;

/// <summary>
/// One socket shared by every caller. Commands go through a single writer that batches flushes; replies
/// come back in order and are matched to a FIFO of pending commands. The socket is opened lazily and
/// re-opened in the background with back-off, so a service starts even while Redis is down. While it is down,
/// commands wait for it up to <see cref="RedisOptions.OutageGrace"/>, so a restart of the server is not an error.
/// While the server cannot persist writes (<see cref="DurabilityGate"/>), commands that would change data are refused
/// before they are sent.
/// </summary>
public sealed class RedisConnection : IRedisConnection, IAsyncDisposable
{
    // Flushing after this many bytes keeps a long burst of commands from building one huge buffer.
    private const int FlushThresholdBytes = 64 * 1024;

    private readonly RedisEndpointSettings _settings;
    private readonly ILogger _logger;
    private readonly TimeProvider _timeProvider;
    private readonly DurabilityGate? _durability;
    private readonly Channel<PendingCommand> _commands =
        Channel.CreateUnbounded<PendingCommand>(new UnboundedChannelOptions { SingleReader = true });
    private readonly CancellationTokenSource _shutdown = new();
    private volatile Session? _session;
    private readonly RespReconnectLoop _reconnectLoop;
    private int _disposed;

    public RedisConnection(IOptions<RedisOptions> options, ILogger<RedisConnection> logger, TimeProvider timeProvider, DurabilityGate durability)
        : this(options.Value, logger, timeProvider, durability)
    {
    }

    /// <param name="durability">Refuses writes while the server cannot persist them; null sends every command.</param>
    public RedisConnection(RedisOptions options, ILogger? logger = null, TimeProvider? timeProvider = null, DurabilityGate? durability = null)
    {
        _settings = options.Resolve();
        _logger = logger ?? NullLogger.Instance;
        _timeProvider = timeProvider ?? TimeProvider.System;
        _durability = durability;
        _reconnectLoop = new RespReconnectLoop(_settings, _logger, _timeProvider, "Command connection", RunSessionAsync, _shutdown.Token);
    }

    public bool IsConnected => _session is not null;

    /// <summary>Why the last connection attempt failed or the last connection ended; null if none has.</summary>
    public string? LastError => _reconnectLoop.LastError;

    /// <summary>The server this connection talks to, as host:port.</summary>
    public string Endpoint => _settings.Endpoint;

    public async Task<RedisReply> ExecuteAsync(IReadOnlyList<RedisArg> command, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(command);
        ArgumentOutOfRangeException.ThrowIfZero(command.Count);
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        cancellationToken.ThrowIfCancellationRequested();
        var changesData = RedisCommandKinds.ChangesData(command);
        if (changesData && _durability is { IsOpen: false })
        {
            throw _durability.Refuse(command[0].ToString());
        }

        _reconnectLoop.EnsureStarted();

        using var activity = StartActivity(command);
        var pending = new PendingCommand(command, RedisCommandKinds.IsReadOnly(command), _timeProvider.GetTimestamp());
        using var timeout = _timeProvider.CreateTimer(
            static state => ((TimeoutState)state!).Fire(), new TimeoutState(this, pending), Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        pending.Timeout = timeout;
        timeout.Change(_settings.CommandTimeout, Timeout.InfiniteTimeSpan);
        using var cancelRegistration = cancellationToken.UnsafeRegister(
            static (state, token) => ((PendingCommand)state!).Cancel(token), pending);
        if (!_commands.Writer.TryWrite(pending))
        {
            throw new ObjectDisposedException(nameof(RedisConnection));
        }

        RedisReply reply;
        try
        {
            reply = await pending.Task.ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            activity?.SetStatus(ActivityStatusCode.Error, ex.Message);
            throw;
        }

        if (reply.Kind == RedisReplyKind.Error)
        {
            var error = new RedisServerException(reply.AsString()!);
            activity?.SetStatus(ActivityStatusCode.Error, error.ErrorPrefix);
            if (error.ErrorPrefix == "MISCONF")
            {
                // Redis refuses writes it cannot persist with MISCONF; every other writer of this process should
                // stop before trying, until the server says it persists again.
                _durability?.Close($"Redis at {_settings.Endpoint} refuses writes: {error.Message}");
                throw new RedisNotDurableException(
                    $"Redis at {_settings.Endpoint} refused {command[0]} because it cannot persist writes: {error.Message}", error);
            }

            throw error;
        }

        return reply;
    }

    private Activity? StartActivity(IReadOnlyList<RedisArg> command)
    {
        if (!RedisTelemetry.Source.HasListeners())
        {
            return null;
        }

        var operation = command[0].ToString().ToUpperInvariant();
        var activity = RedisTelemetry.Source.StartActivity(operation, ActivityKind.Client);
        activity?.SetTag("db.system", "redis");
        activity?.SetTag("db.operation", operation);
        activity?.SetTag("server.address", _settings.Host);
        activity?.SetTag("server.port", _settings.Port);
        return activity;
    }

    private void OnTimeout(PendingCommand pending)
    {
        var operation = pending.Command[0].ToString();
        if (pending.IsQueued && !IsConnected)
        {
            // The server is away (restarting, most likely): wait for the reconnect, within the outage grace.
            var waited = _timeProvider.GetElapsedTime(pending.EnqueuedAt);
            if (waited < _settings.ConnectionWait)
            {
                pending.Timeout?.Change(_settings.ConnectionWait - waited, Timeout.InfiniteTimeSpan);
                return;
            }
        }

        if (pending.TryAbandonBeforeWrite() && !IsConnected)
        {
            pending.TrySetException(new RedisConnectionException(
                $"{operation} failed: not connected to Redis at {_settings.Endpoint} within {_settings.ConnectionWait.TotalMilliseconds:0} ms" +
                (LastError is null ? "." : $" ({LastError}).")));
            return;
        }

        if (pending.WrittenAt is { } writtenAt && _timeProvider.GetElapsedTime(writtenAt) is var sinceWrite && sinceWrite < _settings.CommandTimeout)
        {
            // Sent late, after a reconnect: it gets the whole command timeout from when it was sent.
            pending.Timeout?.Change(_settings.CommandTimeout - sinceWrite, Timeout.InfiniteTimeSpan);
            return;
        }

        // A written command keeps its place in the queue: its reply may still come and must be matched to
        // it, or every later reply would go to the wrong caller.
        pending.TrySetException(new RedisTimeoutException(
            $"Redis at {_settings.Endpoint} did not answer {operation} within {_settings.CommandTimeout.TotalMilliseconds:0} ms."));
    }

    /// <summary>Runs the writer and the reader on one socket until either stops, then fails every command
    /// that was written and not answered. Returns why the session ended.</summary>
    private async Task<Exception?> RunSessionAsync(RespTransport transport, CancellationToken shutdown)
    {
        var session = new Session(transport);
        using var sessionEnd = CancellationTokenSource.CreateLinkedTokenSource(shutdown);
        _session = session;
        var writer = WriteLoopAsync(session, sessionEnd.Token);
        var reader = ReadLoopAsync(session, sessionEnd.Token);
        var first = await Task.WhenAny(writer, reader).ConfigureAwait(false);
        _session = null;
        sessionEnd.Cancel();
        transport.Abort();
        try
        {
            await Task.WhenAll(writer, reader).ConfigureAwait(false);
        }
        catch (Exception)
        {
            // The first loop to stop says why; the other only stopped because the socket was aborted.
        }

        await transport.DisposeAsync().ConfigureAwait(false);
        var reason = first.Exception?.InnerException switch
        {
            RedisException redis => redis,
            { } other => new RedisConnectionException($"The connection to Redis at {_settings.Endpoint} failed: {other.Message}", other),
            null => new RedisConnectionException($"The connection to Redis at {_settings.Endpoint} was closed."),
        };
        while (session.Pending.TryDequeue(out var pending))
        {
            // A read sent again changes nothing, so it waits for the next connection like a command not yet sent.
            // A write may have been carried out already: sending it twice could apply it twice, so it fails.
            if (pending.IsReadOnly && reason is not RedisProtocolException && !pending.Task.IsCompleted
                && _timeProvider.GetElapsedTime(pending.EnqueuedAt) < _settings.OutageGrace
                && pending.TryReturnToQueue() && _commands.Writer.TryWrite(pending))
            {
                continue;
            }

            pending.TrySetException(reason is RedisProtocolException
                ? new RedisProtocolException(reason.Message, reason)
                : new RedisConnectionException(
                    $"The connection to Redis at {_settings.Endpoint} was lost before {pending.Command[0]} was answered: {reason.Message}", reason));
        }

        return reason;
    }

    private async Task WriteLoopAsync(Session session, CancellationToken cancellationToken)
    {
        var output = session.Transport.Output;
        var commands = _commands.Reader;
        while (await commands.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
        {
            var written = false;
            while (commands.TryRead(out var pending))
            {
                if (!pending.TryClaimForWrite(_timeProvider.GetTimestamp()))
                {
                    continue;
                }

                // Queued before it is written, so its reply can never arrive ahead of its slot.
                session.Pending.Enqueue(pending);
                RespWriter.WriteCommand(output, pending.Command);
                written = true;
                if (output.UnflushedBytes >= FlushThresholdBytes)
                {
                    await output.FlushAsync(cancellationToken).ConfigureAwait(false);
                    written = false;
                }
            }

            if (written)
            {
                await output.FlushAsync(cancellationToken).ConfigureAwait(false);
            }
        }
    }

    private static async Task ReadLoopAsync(Session session, CancellationToken cancellationToken)
    {
        while (true)
        {
            var reply = await session.Transport.ReadReplyAsync(cancellationToken).ConfigureAwait(false);
            if (reply.Kind == RedisReplyKind.Push)
            {
                // RESP3 out-of-band data (e.g. client-side caching invalidations) answers no command.
                continue;
            }

            if (!session.Pending.TryDequeue(out var pending))
            {
                throw new RedisProtocolException($"Redis sent a reply ({reply}) when no command was waiting for one.");
            }

            pending.TrySetResult(reply);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        _commands.Writer.TryComplete();
        await _shutdown.CancelAsync().ConfigureAwait(false);
        await _reconnectLoop.Completion.ConfigureAwait(false);

        while (_commands.Reader.TryRead(out var pending))
        {
            pending.TrySetException(new ObjectDisposedException(nameof(RedisConnection)));
        }

    }

    private sealed class Session(RespTransport transport)
    {
        public RespTransport Transport { get; } = transport;

        public ConcurrentQueue<PendingCommand> Pending { get; } = new();
    }

    private sealed record TimeoutState(RedisConnection Connection, PendingCommand Pending)
    {
        public void Fire() => Connection.OnTimeout(Pending);
    }

    private sealed class PendingCommand(IReadOnlyList<RedisArg> command, bool isReadOnly, long enqueuedAt)
        : TaskCompletionSource<RedisReply>(TaskCreationOptions.RunContinuationsAsynchronously)
    {
        private const int Queued = 0, Written = 1, Abandoned = 2;
        private int _state;
        private long _writtenAt;

        public IReadOnlyList<RedisArg> Command { get; } = command;

        public bool IsReadOnly { get; } = isReadOnly;

        /// <summary>When the caller handed the command over (a <see cref="TimeProvider"/> timestamp).</summary>
        public long EnqueuedAt { get; } = enqueuedAt;

        /// <summary>When the command was last written to a socket; null while it waits to be.</summary>
        public long? WrittenAt => Volatile.Read(ref _state) == Written && Volatile.Read(ref _writtenAt) is var at and not 0 ? at : null;

        public bool IsQueued => Volatile.Read(ref _state) == Queued;

        /// <summary>Fires the command timeout; re-armed while the command waits for a reconnect.</summary>
        public ITimer? Timeout { get; set; }

        public bool TryClaimForWrite(long now)
        {
            if (Interlocked.CompareExchange(ref _state, Written, Queued) != Queued)
            {
                return false;
            }

            Volatile.Write(ref _writtenAt, now);
            return true;
        }

        /// <summary>Puts a written command back in the queue (its connection was lost before the reply).</summary>
        public bool TryReturnToQueue()
        {
            Volatile.Write(ref _writtenAt, 0);
            return Interlocked.CompareExchange(ref _state, Queued, Written) == Written;
        }

        /// <summary>True when the command had not been written yet and now never will be.</summary>
        public bool TryAbandonBeforeWrite() => Interlocked.CompareExchange(ref _state, Abandoned, Queued) == Queued;

        public void Cancel(CancellationToken token)
        {
            TryAbandonBeforeWrite();
            TrySetCanceled(token);
        }
    }
}
