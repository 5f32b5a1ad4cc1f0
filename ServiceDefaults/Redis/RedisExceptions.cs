namespace DirectorsConsole.ServiceDefaults.Redis;

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

/// <summary>No reply arrived within the command timeout.</summary>
public sealed class RedisTimeoutException : RedisException
{
    public RedisTimeoutException(string message) : base(message) { }
}

/// <summary>The server could not be reached, or the connection was lost while the command was in flight.</summary>
public sealed class RedisConnectionException : RedisException
{
    public RedisConnectionException(string message) : base(message) { }

    public RedisConnectionException(string message, Exception? innerException) : base(message, innerException) { }
}

/// <summary>The server sent something that is not valid RESP, or a reply larger than the configured limit.
/// The connection is dropped and re-established, because nothing after a bad frame can be trusted.</summary>
public sealed class RedisProtocolException : RedisException
{
    public RedisProtocolException(string message) : base(message) { }

    public RedisProtocolException(string message, Exception? innerException) : base(message, innerException) { }
}
