namespace DirectorsConsole.Messaging;

/// <summary>Base of every error the Redis client raises.</summary>
public class RedisException : Exception
{
    public RedisException(string message) : base(message) { }

    public RedisException(string message, Exception? innerException) : base(message, innerException) { }
}

/// <summary>The server answered with an error reply, e.g. <c>WRONGTYPE Operation against a key…</c>.</summary>
public sealed class RedisServerException : RedisException
{
    public RedisServerException(string message) : base(message)
    {
        ErrorPrefix = ReadPrefix(message);
    }

    /// <summary>The error code the server put first (<c>ERR</c>, <c>NOSCRIPT</c>, <c>WRONGTYPE</c>, …),
    /// or an empty string when the message has none.</summary>
    public string ErrorPrefix { get; }

    // Redis error codes are the first word, in capitals, by convention.
    private static string ReadPrefix(string message)
    {
        var end = message.IndexOf(' ');
        var word = end < 0 ? message : message[..end];
        return word.Length > 0 && word.All(c => char.IsAsciiLetterUpper(c) || char.IsAsciiDigit(c) || c == '_')
            ? word
            : string.Empty;
    }
}

/// <summary>Redis cannot serve the command now: it is unreachable, too slow, or unable to persist writes. The
/// dependency's fault, not the caller's; the same command may succeed later.</summary>
public abstract class RedisUnavailableException : RedisException
{
    protected RedisUnavailableException(string message) : base(message) { }

    protected RedisUnavailableException(string message, Exception? innerException) : base(message, innerException) { }
}

/// <summary>No reply arrived within the command timeout.</summary>
public sealed class RedisTimeoutException : RedisUnavailableException
{
    public RedisTimeoutException(string message) : base(message) { }
}

/// <summary>The server could not be reached, or the connection was lost while the command was in flight.</summary>
public sealed class RedisConnectionException : RedisUnavailableException
{
    public RedisConnectionException(string message) : base(message) { }

    public RedisConnectionException(string message, Exception? innerException) : base(message, innerException) { }
}


/// <summary>A command that would change data was not sent, or was refused by the server (<c>MISCONF</c>), because
/// the server cannot persist writes now (a full disk, a failing append-only file). Nothing was changed.</summary>
public sealed class RedisNotDurableException : RedisUnavailableException
{
    public RedisNotDurableException(string message) : base(message) { }

    public RedisNotDurableException(string message, Exception? innerException) : base(message, innerException) { }
}
