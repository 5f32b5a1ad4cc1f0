using Microsoft.Extensions.Logging;

namespace DirectorsConsole.ServiceDefaults.Redis;

/// <summary>
/// Keeps one RESP socket alive for its owner (the command connection or the subscriber): connects, runs the
/// owner's session on the socket until it ends, and reconnects with back-off until shut down. Remembers the
/// last connection error so commands that fail meanwhile can say why.
/// </summary>
/// <param name="runSession">Uses the socket until it breaks or <paramref name="shutdown"/> fires; cleans up the
/// socket and returns why the session ended.</param>
internal sealed class RespReconnectLoop(
    RedisEndpointSettings settings,
    ILogger logger,
    TimeProvider timeProvider,
    string role,
    Func<RespTransport, CancellationToken, Task<Exception?>> runSession,
    CancellationToken shutdown)
{
    private readonly Lock _startLock = new();
    private volatile Task? _run;
    private volatile string? _lastError;

    public string? LastError => _lastError;

    /// <summary>Ends when the loop has stopped after shutdown; at once when it never started.</summary>
    public Task Completion
    {
        get
        {
            lock (_startLock)
            {
                return _run ?? Task.CompletedTask;
            }
        }
    }

    /// <summary>Starts connecting in the background on first use, so a service starts even while Redis is down.</summary>
    public void EnsureStarted()
    {
        if (_run is not null)
        {
            return;
        }

        lock (_startLock)
        {
            _run ??= Task.Run(RunAsync);
        }
    }

    private async Task RunAsync()
    {
        var backoff = new ReconnectBackoff(settings.ReconnectMinDelay, settings.ReconnectMaxDelay);
        var everConnected = false;
        var failedAttempts = 0;
        while (!shutdown.IsCancellationRequested)
        {
            RespTransport transport;
            try
            {
                transport = await RespTransport.ConnectAsync(settings, logger, shutdown).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (shutdown.IsCancellationRequested)
            {
                break;
            }
            catch (Exception ex)
            {
                _lastError = ex.Message;
                // Warn once per outage; every further attempt would only repeat it.
                logger.Log(failedAttempts++ == 0 ? LogLevel.Warning : LogLevel.Debug, ex,
                    "{Role} could not connect to Redis at {Endpoint}; retrying with back-off", role, settings.Endpoint);
                if (!await DelayAsync(backoff.Next(), shutdown).ConfigureAwait(false))
                {
                    break;
                }

                continue;
            }

            backoff.Reset();
            failedAttempts = 0;
            logger.LogInformation("{Role} {Action} to Redis at {Endpoint}", role, everConnected ? "reconnected" : "connected", settings.Endpoint);
            everConnected = true;
            var reason = await runSession(transport, shutdown).ConfigureAwait(false);
            if (shutdown.IsCancellationRequested)
            {
                break;
            }

            _lastError = reason?.Message;
            logger.LogWarning(reason, "{Role} disconnected from Redis at {Endpoint}; reconnecting", role, settings.Endpoint);
            if (!await DelayAsync(backoff.Next(), shutdown).ConfigureAwait(false))
            {
                break;
            }
        }
    }

    private async Task<bool> DelayAsync(TimeSpan delay, CancellationToken cancellationToken)
    {
        try
        {
            await Task.Delay(delay, timeProvider, cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }
}
