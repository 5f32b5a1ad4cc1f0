using System.Collections.Frozen;

namespace DirectorsConsole.Messaging;

/// <summary>
/// What a command does to the server's data, by its name. Two decisions rest on it: a command that only reads may be
/// sent again after the connection was lost before its reply came (sending it twice changes nothing), and while the
/// server cannot persist writes (<see cref="DurabilityGate"/>) only commands that write nothing to its data are sent.
/// </summary>
public static class RedisCommandKinds
{
    // Commands that read data or ask about the server, and change no key. Scripts (EVAL, EVALSHA) are not here: a
    // script may write, and the client cannot tell.
    private static readonly FrozenSet<string> ReadOnly = FrozenSet.ToFrozenSet(
    [
        "PING", "ECHO", "TIME", "INFO", "DBSIZE", "LASTSAVE", "COMMAND", "HELLO", "CLIENT", "PUBSUB",
        "GET", "MGET", "STRLEN", "GETRANGE", "EXISTS", "TYPE", "TTL", "PTTL", "EXPIRETIME", "PEXPIRETIME", "KEYS", "SCAN",
        "HGET", "HMGET", "HGETALL", "HKEYS", "HVALS", "HLEN", "HEXISTS", "HSTRLEN", "HSCAN",
        "LRANGE", "LLEN", "LINDEX", "LPOS",
        "SMEMBERS", "SISMEMBER", "SMISMEMBER", "SCARD", "SSCAN",
        "ZRANGE", "ZREVRANGE", "ZRANGEBYSCORE", "ZREVRANGEBYSCORE", "ZRANGEBYLEX", "ZSCORE", "ZMSCORE", "ZCARD", "ZCOUNT",
        "ZLEXCOUNT", "ZRANK", "ZREVRANK", "ZSCAN",
        "EVAL_RO", "EVALSHA_RO",
    ], StringComparer.OrdinalIgnoreCase);

    // Commands that change no stored data but are not reads either: they are allowed while writes are refused, but
    // never sent twice (a message published twice is delivered twice; SAVE and SCRIPT LOAD are how the guard and the
    // script cache recover).
    private static readonly FrozenSet<string> NoDataChange = FrozenSet.ToFrozenSet(
        ["PUBLISH", "SCRIPT", "SAVE", "BGSAVE", "COMMITAOF", "CONFIG"], StringComparer.OrdinalIgnoreCase);

    /// <summary>True when the command only reads, so sending it again cannot change anything.</summary>
    public static bool IsReadOnly(IReadOnlyList<RedisArg> command) => ReadOnly.Contains(command[0].ToString());

    /// <summary>True when the command may change stored data (every script counts as one).</summary>
    public static bool ChangesData(IReadOnlyList<RedisArg> command)
    {
        var name = command[0].ToString();
        return !ReadOnly.Contains(name) && !NoDataChange.Contains(name);
    }
}
