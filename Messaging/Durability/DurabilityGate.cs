using DirectorsConsole.Messaging;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace DirectorsConsole.Messaging.Durability;

/// <summary>Why writes are refused, and since when.</summary>
public sealed record DurabilityFault(string Cause, DateTimeOffset Since);

/// <summary>
/// Whether this process may change state in Redis now. Closed while the server cannot persist writes (a full disk
/// under its data directory, a failing append-only file, <c>MISCONF</c>): nothing is accepted that a restart of the
/// server would lose. <see cref="RedisDurabilityMonitor"/> closes and reopens it; the Redis client refuses commands
/// that change data while it is closed, and every service refuses state-changing requests (507).
/// </summary>
public sealed class DurabilityGate(TimeProvider timeProvider, ILogger<DurabilityGate>? logger = null)
{
    private readonly ILogger _logger = logger ?? (ILogger)NullLogger.Instance;
    private readonly Lock _lock = new();
    private volatile DurabilityFault? _fault;

    public bool IsOpen => _fault is null;

    /// <summary>Why writes are refused; null while they are accepted.</summary>
    public DurabilityFault? Fault => _fault;

    /// <summary>Refuses writes from now on, saying why. A gate already closed keeps the time it closed.</summary>
    public void Close(string cause)
    {
        lock (_lock)
        {
            if (_fault?.Cause == cause)
            {
                return;
            }

            var wasOpen = _fault is null;
            _fault = new DurabilityFault(cause, _fault?.Since ?? timeProvider.GetUtcNow());
            _logger.Log(wasOpen ? LogLevel.Error : LogLevel.Warning, "Writes to Redis are refused: {Cause}", cause);
        }
    }

    /// <summary>Accepts writes again; call only once what the server holds is persisted.</summary>
    public void Open()
    {
        lock (_lock)
        {
            if (_fault is { } fault)
            {
                _fault = null;
                _logger.LogWarning("Writes to Redis are accepted again after {Duration} ({Cause})", timeProvider.GetUtcNow() - fault.Since, fault.Cause);
            }
        }
    }

    /// <summary>The error for a write refused now.</summary>
    public RedisNotDurableException Refuse(string operation) =>
        new($"{operation} was not sent: {_fault?.Cause ?? "Redis cannot persist writes"}");
}
