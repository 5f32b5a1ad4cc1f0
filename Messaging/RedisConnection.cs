using DirectorsConsole.Messaging.Durability;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace DirectorsConsole.Messaging;

/// <summary>
/// Commands over StackExchange.Redis's multiplexer, with the two rules this system adds on top of it:
/// <list type="bullet">
/// <item>A lost connection within <see cref="RedisOptions.OutageGrace"/> is not an error. The multiplexer reconnects by
/// itself and holds commands issued meanwhile in its backlog; a command that times out there, or whose connection
/// failed before it was written, never reached the server and is retried. A read whose reply was lost is sent again
/// (sending it twice changes nothing); a write that may have reached the server fails at once, because sending it
/// again could apply it twice, unless its caller says it is safe to send again (<see cref="OnLostReply.Resend"/>).</item>
/// <item>While the server cannot persist writes (<see cref="DurabilityGate"/>), commands that would change data are
/// refused before they are sent, and a <c>MISCONF</c> reply closes the gate for every writer of this process.</item>
/// </list>
/// Server errors, timeouts and lost connections surface as this library's <see cref="RedisException"/> types, which the
/// services map to HTTP statuses.
/// </summary>
public sealed class RedisConnection : IRedisConnection, IAsyncDisposable
{
    // Between retries of a command that could not be sent: the multiplexer reconnects on its own schedule.
    private static readonly TimeSpan RetryDelay = TimeSpan.FromMilliseconds(100);

    private readonly IConnectionMultiplexer _multiplexer;
    private readonly bool _ownsMultiplexer;
    private readonly RedisOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _timeProvider;
    private readonly DurabilityGate? _durability;
    private readonly IDatabase _database;
    private readonly AppendOnlyFileCommits? _commits;
    // Connections lost so far: a commit answered after one may have been answered by a restarted server that never had
    // the write it was meant to cover.
    private long _connectionFailures;

    public RedisConnection(
        IOptions<RedisOptions> options, IConnectionMultiplexer multiplexer, ILogger<RedisConnection> logger, TimeProvider timeProvider, DurabilityGate durability)
        : this(multiplexer, ownsMultiplexer: false, options.Value, logger, timeProvider, durability)
    {
    }

    /// <summary>A connection with a multiplexer of its own, closed with it (tools and tests; services share the one
    /// registered by <c>AddRedisMessaging</c>).</summary>
    /// <param name="durability">Refuses writes while the server cannot persist them; null sends every command.</param>
    public RedisConnection(RedisOptions options, ILogger? logger = null, TimeProvider? timeProvider = null, DurabilityGate? durability = null)
        : this(ConnectionMultiplexer.Connect(options.ToConfigurationOptions()), ownsMultiplexer: true, options, logger, timeProvider, durability)
    {
    }

    private RedisConnection(
        IConnectionMultiplexer multiplexer, bool ownsMultiplexer, RedisOptions options, ILogger? logger, TimeProvider? timeProvider, DurabilityGate? durability)
    {
        _multiplexer = multiplexer;
        _ownsMultiplexer = ownsMultiplexer;
        _options = options;
        _logger = logger ?? NullLogger.Instance;
        _timeProvider = timeProvider ?? TimeProvider.System;
        _durability = durability;
        _database = multiplexer.GetDatabase();
        if (options.CommitWrites)
        {
            _commits = new AppendOnlyFileCommits(() => _database.ExecuteAsync("COMMITAOF"));
            _multiplexer.ConnectionFailed += OnConnectionFailed;
        }
    }

    // Only the connection commands go over: the subscriber connection carries no write and no commit.
    private void OnConnectionFailed(object? sender, ConnectionFailedEventArgs e)
    {
        if (e.ConnectionType != ConnectionType.Subscription)
        {
            Interlocked.Increment(ref _connectionFailures);
        }
    }

    public bool IsConnected => _multiplexer.IsConnected;

    /// <summary>The server this connection talks to, as host:port.</summary>
    public string Endpoint => string.Join(",", _multiplexer.GetEndPoints().Select(endpoint => endpoint.ToString()));

    public Task<RedisReply> ExecuteAsync(IReadOnlyList<RedisArg> command, CancellationToken cancellationToken = default) =>
        ExecuteAsync(command, OnLostReply.Fail, cancellationToken);

    public Task<RedisReply> ExecuteAsync(IReadOnlyList<RedisArg> command, OnLostReply onLostReply, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(command);
        ArgumentOutOfRangeException.ThrowIfZero(command.Count);
        var name = command[0].ToString();
        var args = new object[command.Count - 1];
        for (var i = 1; i < command.Count; i++)
        {
            args[i - 1] = command[i].Value;
        }

        var resend = RedisCommandKinds.IsReadOnly(command) || onLostReply == OnLostReply.Resend;
        return RunAsync(name, resend, RedisCommandKinds.ChangesData(command), () => _database.ExecuteAsync(name, args), cancellationToken);
    }

    public Task<RedisReply> ScriptEvaluateAsync(
        string script, IReadOnlyList<string> keys, IReadOnlyList<RedisArg> args, CancellationToken cancellationToken = default) =>
        ScriptEvaluateAsync(script, keys, args, OnLostReply.Fail, cancellationToken);

    public Task<RedisReply> ScriptEvaluateAsync(
        string script, IReadOnlyList<string> keys, IReadOnlyList<RedisArg> args, OnLostReply onLostReply, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(script);
        var redisKeys = keys.Select(key => (RedisKey)key).ToArray();
        var values = args.Select(arg => arg.Value).ToArray();
        // The client sends EVALSHA and falls back to EVAL when the server lost its script cache (after a restart).
        // A script may write, so it is treated as a write: sent again after a lost reply only when its caller says so.
        return RunAsync("EVALSHA", resendAfterLostReply: onLostReply == OnLostReply.Resend, changesData: true,
            () => _database.ScriptEvaluateAsync(script, redisKeys, values), cancellationToken);
    }

    /// <param name="resendAfterLostReply">Sending it again cannot change more than sending it once: a read, or a write
    /// its caller vouched for.</param>
    private async Task<RedisReply> RunAsync(
        string operation, bool resendAfterLostReply, bool changesData, Func<Task<RedisResult>> send, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        if (changesData && _durability is { IsOpen: false })
        {
            throw _durability.Refuse(operation);
        }

        if (changesData && _commits is not null)
        {
            var write = send;
            send = () => SendAndCommitAsync(operation, write);
        }

        var started = _timeProvider.GetTimestamp();
        while (true)
        {
            try
            {
                // The client has no cancellation of its own: a cancelled caller stops waiting, the command still runs.
                return RedisReply.From(await send().WaitAsync(cancellationToken).ConfigureAwait(false));
            }
            catch (StackExchange.Redis.RedisServerException ex)
            {
                throw ToServerError(operation, ex);
            }
            catch (Exception ex) when (ex is StackExchange.Redis.RedisConnectionException or StackExchange.Redis.RedisTimeoutException)
            {
                var neverSent = StatusOf(ex) is CommandStatus.WaitingToBeSent or CommandStatus.WaitingInBacklog;
                var waited = _timeProvider.GetElapsedTime(started);
                if ((neverSent || resendAfterLostReply) && waited + RetryDelay < _options.OutageGrace)
                {
                    _logger.LogDebug(ex, "{Operation} is retried: Redis is unreachable ({Waited} of the {Grace} grace spent)", operation, waited, _options.OutageGrace);
                    await Task.Delay(RetryDelay, _timeProvider, cancellationToken).ConfigureAwait(false);
                    continue;
                }

                if (ex is StackExchange.Redis.RedisTimeoutException && _multiplexer.IsConnected)
                {
                    throw new RedisTimeoutException($"Redis at {Endpoint} did not answer {operation} within {_options.CommandTimeout.TotalMilliseconds:0} ms.");
                }

                throw neverSent || resendAfterLostReply
                    ? new RedisConnectionException($"{operation} failed: Redis at {Endpoint} is unreachable ({ex.Message}).", ex)
                    : new RedisConnectionException($"{operation} failed: the connection to Redis at {Endpoint} was lost before its reply came back, " +
                        $"and it is not sent again because it may have been carried out ({ex.Message}).", ex);
            }
        }
    }

    /// <summary>The write, then a commit of the append-only file sent after its reply. A commit that fails, or that
    /// came back after the connection was lost, leaves the write in doubt: it fails as a write whose reply was lost
    /// (sent again only when its caller said it is safe), never as one that was not sent.</summary>
    private async Task<RedisResult> SendAndCommitAsync(string operation, Func<Task<RedisResult>> write)
    {
        var result = await write().ConfigureAwait(false);
        // Counted from the write's reply, not from its start: a write issued during an outage waits for the reconnect,
        // and the failed attempts at reconnecting before it was sent must not put it in doubt.
        var failuresBefore = Interlocked.Read(ref _connectionFailures);
        try
        {
            await _commits!.WaitAsync().ConfigureAwait(false);
        }
        catch (StackExchange.Redis.RedisServerException)
        {
            // The server does not commit on request (not a Garnet): a configuration error, reported as the server's.
            throw;
        }
        catch (Exception ex)
        {
            throw new StackExchange.Redis.RedisConnectionException(ConnectionFailureType.SocketFailure, CommandFlags.None,
                $"{operation} was carried out, but the commit of the append-only file after it failed: {ex.Message}", ex, CommandStatus.Sent);
        }

        if (Interlocked.Read(ref _connectionFailures) != failuresBefore)
        {
            throw new StackExchange.Redis.RedisConnectionException(ConnectionFailureType.SocketFailure, CommandFlags.None,
                $"{operation} was carried out, but the connection was lost before the append-only file was committed after it", null, CommandStatus.Sent);
        }

        return result;
    }

    private static CommandStatus StatusOf(Exception exception) => exception switch
    {
        StackExchange.Redis.RedisConnectionException connection => connection.CommandStatus,
        StackExchange.Redis.RedisTimeoutException timeout => timeout.Commandstatus,
        _ => CommandStatus.Unknown,
    };

    private RedisException ToServerError(string operation, StackExchange.Redis.RedisServerException exception)
    {
        var error = new RedisServerException(exception.Message);
        if (error.ErrorPrefix != "MISCONF")
        {
            return error;
        }

        // Redis refuses writes it cannot persist with MISCONF; every other writer of this process should stop before
        // trying, until the server says it persists again.
        _durability?.Close($"Redis at {Endpoint} refuses writes: {error.Message}");
        return new RedisNotDurableException($"Redis at {Endpoint} refused {operation} because it cannot persist writes: {error.Message}", error);
    }

    public async ValueTask DisposeAsync()
    {
        if (_commits is not null)
        {
            _multiplexer.ConnectionFailed -= OnConnectionFailed;
        }

        if (_ownsMultiplexer)
        {
            await _multiplexer.DisposeAsync().ConfigureAwait(false);
        }
    }
}
