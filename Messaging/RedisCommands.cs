using System.Diagnostics;

namespace DirectorsConsole.Messaging;

/// <summary>Typed helpers for the commands the services use. Each is one <see cref="IRedisConnection.ExecuteAsync"/>.</summary>
public static class RedisCommands
{
    /// <summary>Sends PING and returns the round-trip time.</summary>
    public static async Task<TimeSpan> PingAsync(this IRedisConnection redis, CancellationToken cancellationToken = default)
    {
        var started = Stopwatch.GetTimestamp();
        await redis.ExecuteAsync(["PING"], cancellationToken).ConfigureAwait(false);
        return Stopwatch.GetElapsedTime(started);
    }

    public static async Task<string?> StringGetAsync(this IRedisConnection redis, string key, CancellationToken cancellationToken = default) =>
        (await redis.ExecuteAsync(["GET", key], cancellationToken).ConfigureAwait(false)).AsString();

    public static async Task<byte[]?> StringGetBytesAsync(this IRedisConnection redis, string key, CancellationToken cancellationToken = default) =>
        (await redis.ExecuteAsync(["GET", key], cancellationToken).ConfigureAwait(false)).AsBytes();

    /// <summary>SET with an optional expiry; with <paramref name="onlyIfNotExists"/> (NX) returns false when the key existed.</summary>
    public static Task<bool> StringSetAsync(
        this IRedisConnection redis, string key, RedisArg value, TimeSpan? expiry = null, bool onlyIfNotExists = false,
        CancellationToken cancellationToken = default) =>
        redis.StringSetAsync(key, value, expiry, onlyIfNotExists, OnLostReply.Fail, cancellationToken);

    /// <summary>SET as above; <paramref name="onLostReply"/> says whether it is sent again when its reply was lost with the
    /// connection (a SET of a whole value is, unless another writer's later value must not be overwritten).</summary>
    public static async Task<bool> StringSetAsync(
        this IRedisConnection redis, string key, RedisArg value, TimeSpan? expiry, bool onlyIfNotExists, OnLostReply onLostReply,
        CancellationToken cancellationToken = default)
    {
        List<RedisArg> command = ["SET", key, value];
        if (expiry is { } ttl)
        {
            command.AddRange(["PX", ToMilliseconds(ttl)]);
        }

        if (onlyIfNotExists)
        {
            command.Add("NX");
        }

        // NX that did not set answers null; every successful SET answers OK.
        return !(await redis.ExecuteAsync(command, onLostReply, cancellationToken).ConfigureAwait(false)).IsNull;
    }

    public static Task<long> StringIncrementAsync(this IRedisConnection redis, string key, long by = 1, CancellationToken cancellationToken = default) =>
        redis.StringIncrementAsync(key, by, OnLostReply.Fail, cancellationToken);

    /// <summary>INCRBY; with <see cref="OnLostReply.Resend"/> for a counter whose values are only compared, where a
    /// second increment after a lost reply merely skips a number.</summary>
    public static async Task<long> StringIncrementAsync(
        this IRedisConnection redis, string key, long by, OnLostReply onLostReply, CancellationToken cancellationToken = default) =>
        (await redis.ExecuteAsync(["INCRBY", key, by], onLostReply, cancellationToken).ConfigureAwait(false)).AsInt64();

    public static Task<bool> KeyDeleteAsync(this IRedisConnection redis, string key, CancellationToken cancellationToken = default) =>
        redis.KeyDeleteAsync(key, OnLostReply.Fail, cancellationToken);

    /// <summary>DEL of one key; true when it existed (so false for a delete sent again after its lost reply).</summary>
    public static async Task<bool> KeyDeleteAsync(this IRedisConnection redis, string key, OnLostReply onLostReply, CancellationToken cancellationToken = default) =>
        (await redis.ExecuteAsync(["DEL", key], onLostReply, cancellationToken).ConfigureAwait(false)).AsInt64() > 0;

    /// <summary>Deletes several keys; returns how many existed.</summary>
    public static async Task<long> KeyDeleteAsync(this IRedisConnection redis, IReadOnlyList<string> keys, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfZero(keys.Count);
        return (await redis.ExecuteAsync([(RedisArg)"DEL", .. keys.Select(k => (RedisArg)k)], cancellationToken).ConfigureAwait(false)).AsInt64();
    }

    private const string DeleteIfEqualsScript = """
        if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
        return 0
        """;

    /// <summary>Deletes the key only while it holds <paramref name="value"/> (a lease given up by its holder); true when
    /// it did. Sent again after a lost reply: a second run finds the key gone, or someone else's, and changes nothing.</summary>
    public static async Task<bool> KeyDeleteIfEqualsAsync(this IRedisConnection redis, string key, string value, CancellationToken cancellationToken = default) =>
        (await redis.ScriptEvaluateAsync(DeleteIfEqualsScript, [key], [value], OnLostReply.Resend, cancellationToken).ConfigureAwait(false)).AsInt64() == 1;

    public static async Task<bool> KeyExistsAsync(this IRedisConnection redis, string key, CancellationToken cancellationToken = default) =>
        (await redis.ExecuteAsync(["EXISTS", key], cancellationToken).ConfigureAwait(false)).AsInt64() > 0;

    /// <summary>Sets a time to live; false when the key does not exist.</summary>
    public static async Task<bool> KeyExpireAsync(this IRedisConnection redis, string key, TimeSpan expiry, CancellationToken cancellationToken = default) =>
        (await redis.ExecuteAsync(["PEXPIRE", key, ToMilliseconds(expiry)], cancellationToken).ConfigureAwait(false)).AsInt64() > 0;

    /// <summary>Sets one field; true when the field is new.</summary>
    public static async Task<bool> HashSetAsync(this IRedisConnection redis, string key, string field, RedisArg value, CancellationToken cancellationToken = default) =>
        (await redis.ExecuteAsync(["HSET", key, field, value], cancellationToken).ConfigureAwait(false)).AsInt64() > 0;

    /// <summary>Sets several fields in one command; returns how many were new.</summary>
    public static async Task<long> HashSetManyAsync(
        this IRedisConnection redis, string key, IEnumerable<KeyValuePair<string, RedisArg>> fields, CancellationToken cancellationToken = default)
    {
        List<RedisArg> command = ["HSET", key];
        foreach (var (field, value) in fields)
        {
            command.Add(field);
            command.Add(value);
        }

        if (command.Count == 2)
        {
            throw new ArgumentException("At least one field is required.", nameof(fields));
        }

        return (await redis.ExecuteAsync(command, cancellationToken).ConfigureAwait(false)).AsInt64();
    }

    public static async Task<string?> HashGetAsync(this IRedisConnection redis, string key, string field, CancellationToken cancellationToken = default) =>
        (await redis.ExecuteAsync(["HGET", key, field], cancellationToken).ConfigureAwait(false)).AsString();

    /// <summary>Every field of a hash (empty when the key does not exist). Reads both the RESP2 flat array and the RESP3 map.</summary>
    public static async Task<IReadOnlyDictionary<string, string>> HashGetAllAsync(
        this IRedisConnection redis, string key, CancellationToken cancellationToken = default)
    {
        var items = (await redis.ExecuteAsync(["HGETALL", key], cancellationToken).ConfigureAwait(false)).Items;
        var result = new Dictionary<string, string>(items.Count / 2, StringComparer.Ordinal);
        for (var i = 0; i + 1 < items.Count; i += 2)
        {
            result[items[i].AsString()!] = items[i + 1].AsString()!;
        }

        return result;
    }

    public static async Task<bool> HashDeleteAsync(this IRedisConnection redis, string key, string field, CancellationToken cancellationToken = default) =>
        (await redis.ExecuteAsync(["HDEL", key, field], cancellationToken).ConfigureAwait(false)).AsInt64() > 0;

    /// <summary>RPUSH; returns the new length of the list.</summary>
    public static async Task<long> ListRightPushAsync(this IRedisConnection redis, string key, RedisArg value, CancellationToken cancellationToken = default) =>
        (await redis.ExecuteAsync(["RPUSH", key, value], cancellationToken).ConfigureAwait(false)).AsInt64();

    /// <summary>LPUSH; returns the new length of the list.</summary>
    public static async Task<long> ListLeftPushAsync(this IRedisConnection redis, string key, RedisArg value, CancellationToken cancellationToken = default) =>
        (await redis.ExecuteAsync(["LPUSH", key, value], cancellationToken).ConfigureAwait(false)).AsInt64();

    /// <summary>LRANGE with inclusive indexes; -1 is the last element.</summary>
    public static async Task<IReadOnlyList<string>> ListRangeAsync(
        this IRedisConnection redis, string key, long start = 0, long stop = -1, CancellationToken cancellationToken = default) =>
        ToStrings(await redis.ExecuteAsync(["LRANGE", key, start, stop], cancellationToken).ConfigureAwait(false));

    /// <summary>ZADD of one member; true when the member is new.</summary>
    public static async Task<bool> SortedSetAddAsync(
        this IRedisConnection redis, string key, string member, double score, CancellationToken cancellationToken = default) =>
        (await redis.ExecuteAsync(["ZADD", key, score, member], cancellationToken).ConfigureAwait(false)).AsInt64() > 0;

    /// <summary>Members with min &lt;= score &lt;= max, lowest score first, optionally paged.</summary>
    public static async Task<IReadOnlyList<string>> SortedSetRangeByScoreAsync(
        this IRedisConnection redis, string key, double min = double.NegativeInfinity, double max = double.PositiveInfinity,
        long skip = 0, long take = -1, CancellationToken cancellationToken = default)
    {
        List<RedisArg> command = ["ZRANGEBYSCORE", key, min, max];
        if (skip != 0 || take >= 0)
        {
            command.AddRange(["LIMIT", skip, take]);
        }

        return ToStrings(await redis.ExecuteAsync(command, cancellationToken).ConfigureAwait(false));
    }

    /// <summary>Whether <paramref name="member"/> is in the sorted set (ZSCORE).</summary>
    public static async Task<bool> SortedSetContainsAsync(this IRedisConnection redis, string key, string member, CancellationToken cancellationToken = default) =>
        !(await redis.ExecuteAsync(["ZSCORE", key, member], cancellationToken).ConfigureAwait(false)).IsNull;

    public static async Task<bool> SortedSetRemoveAsync(this IRedisConnection redis, string key, string member, CancellationToken cancellationToken = default) =>
        (await redis.ExecuteAsync(["ZREM", key, member], cancellationToken).ConfigureAwait(false)).AsInt64() > 0;

    /// <summary>Members by rank (0 is the first, -1 the last, both inclusive), lowest score first or, with
    /// <see cref="SortOrder.Descending"/>, highest first (ZRANGE / ZREVRANGE).</summary>
    public static async Task<IReadOnlyList<string>> SortedSetRangeByRankAsync(
        this IRedisConnection redis, string key, long start = 0, long stop = -1, SortOrder order = SortOrder.Ascending,
        CancellationToken cancellationToken = default) =>
        ToStrings(await redis.ExecuteAsync([order == SortOrder.Descending ? "ZREVRANGE" : "ZRANGE", key, start, stop], cancellationToken)
            .ConfigureAwait(false));

    /// <summary>Members by rank with their scores (ZRANGE … WITHSCORES), lowest score first.</summary>
    public static async Task<IReadOnlyList<(string Member, double Score)>> SortedSetRangeByRankWithScoresAsync(
        this IRedisConnection redis, string key, long start = 0, long stop = -1, CancellationToken cancellationToken = default)
    {
        var reply = await redis.ExecuteAsync(["ZRANGE", key, start, stop, "WITHSCORES"], cancellationToken).ConfigureAwait(false);
        if (reply.IsNull || reply.Items.Count == 0)
        {
            return [];
        }

        // RESP2 answers member, score, member, score…; RESP3 a pair per member.
        var pairs = reply.Items[0].Kind == RedisReplyKind.Array
            ? reply.Items.Select(pair => (pair.Items[0], pair.Items[1]))
            : reply.Items.Chunk(2).Select(pair => (pair[0], pair[1]));
        return pairs.Select(pair => (pair.Item1.AsString()!, ParseScore(pair.Item2.AsString()!))).ToArray();
    }

    /// <summary>The number of members with min &lt;= score &lt;= max (ZCOUNT), or of all members (ZCARD) when both bounds
    /// are infinite.</summary>
    public static async Task<long> SortedSetLengthAsync(
        this IRedisConnection redis, string key, double min = double.NegativeInfinity, double max = double.PositiveInfinity,
        CancellationToken cancellationToken = default)
    {
        IReadOnlyList<RedisArg> command = double.IsNegativeInfinity(min) && double.IsPositiveInfinity(max)
            ? ["ZCARD", key]
            : ["ZCOUNT", key, min, max];
        return (await redis.ExecuteAsync(command, cancellationToken).ConfigureAwait(false)).AsInt64();
    }

    /// <summary>Removes the members whose score lies between the bounds (ZREMRANGEBYSCORE), inclusive unless
    /// <paramref name="exclude"/> says otherwise; returns how many were removed.</summary>
    public static async Task<long> SortedSetRemoveRangeByScoreAsync(
        this IRedisConnection redis, string key, double min, double max, Exclude exclude = Exclude.None,
        CancellationToken cancellationToken = default) =>
        (await redis.ExecuteAsync(
            ["ZREMRANGEBYSCORE", key, ScoreBound(min, exclude.HasFlag(Exclude.Start)), ScoreBound(max, exclude.HasFlag(Exclude.Stop))],
            cancellationToken).ConfigureAwait(false)).AsInt64();

    /// <summary>The values of several fields of a hash, in the order asked, null for a missing field (HMGET; all null
    /// when the key does not exist).</summary>
    public static async Task<IReadOnlyList<string?>> HashGetManyAsync(
        this IRedisConnection redis, string key, IReadOnlyList<string> fields, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfZero(fields.Count);
        var reply = await redis.ExecuteAsync([(RedisArg)"HMGET", key, .. fields.Select(f => (RedisArg)f)], cancellationToken).ConfigureAwait(false);
        return reply.Items.Select(item => item.AsString()).ToArray();
    }

    /// <summary>The number of fields of a hash (HLEN; 0 when the key does not exist).</summary>
    public static async Task<long> HashLengthAsync(this IRedisConnection redis, string key, CancellationToken cancellationToken = default) =>
        (await redis.ExecuteAsync(["HLEN", key], cancellationToken).ConfigureAwait(false)).AsInt64();

    /// <summary>The length of a list (LLEN; 0 when the key does not exist).</summary>
    public static async Task<long> ListLengthAsync(this IRedisConnection redis, string key, CancellationToken cancellationToken = default) =>
        (await redis.ExecuteAsync(["LLEN", key], cancellationToken).ConfigureAwait(false)).AsInt64();

    /// <summary>Every member of a set, in no particular order (SMEMBERS; empty when the key does not exist).</summary>
    public static async Task<IReadOnlyList<string>> SetMembersAsync(this IRedisConnection redis, string key, CancellationToken cancellationToken = default) =>
        ToStrings(await redis.ExecuteAsync(["SMEMBERS", key], cancellationToken).ConfigureAwait(false));

    /// <summary>The number of members of a set (SCARD; 0 when the key does not exist).</summary>
    public static async Task<long> SetLengthAsync(this IRedisConnection redis, string key, CancellationToken cancellationToken = default) =>
        (await redis.ExecuteAsync(["SCARD", key], cancellationToken).ConfigureAwait(false)).AsInt64();

    /// <summary>SREM of one member; true when it was there.</summary>
    public static async Task<bool> SetRemoveAsync(this IRedisConnection redis, string key, string member, CancellationToken cancellationToken = default) =>
        (await redis.ExecuteAsync(["SREM", key, member], cancellationToken).ConfigureAwait(false)).AsInt64() > 0;

    /// <summary>One step of SCAN over the keys matching <paramref name="pattern"/>: start with cursor "0" and go on with
    /// the returned cursor until it is "0" again. A step may return no keys, and a key may be returned twice.</summary>
    public static async Task<KeyScanPage> KeyScanAsync(
        this IRedisConnection redis, string cursor, string pattern, int pageSize, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(pageSize, 1);
        var reply = await redis.ExecuteAsync(["SCAN", cursor, "MATCH", pattern, "COUNT", pageSize], cancellationToken).ConfigureAwait(false);
        return new KeyScanPage(reply.Items[0].AsString()!, ToStrings(reply.Items[1]));
    }

    /// <summary>The text of <c>INFO <paramref name="section"/></c>: <c>name:value</c> lines under <c># Heading</c> lines.</summary>
    public static async Task<string> InfoAsync(this IRedisConnection redis, string section, CancellationToken cancellationToken = default) =>
        (await redis.ExecuteAsync(["INFO", section], cancellationToken).ConfigureAwait(false)).AsString() ?? "";

    /// <summary>The value of one server setting (CONFIG GET); null when the server has no such setting.</summary>
    public static async Task<string?> ConfigGetAsync(this IRedisConnection redis, string parameter, CancellationToken cancellationToken = default)
    {
        var items = (await redis.ExecuteAsync(["CONFIG", "GET", parameter], cancellationToken).ConfigureAwait(false)).Items;
        return items.Count >= 2 ? items[1].AsString() : null;
    }

    /// <summary>SAVE: the server writes everything it holds to disk before it answers.</summary>
    public static async Task SaveAsync(this IRedisConnection redis, CancellationToken cancellationToken = default) =>
        await redis.ExecuteAsync(["SAVE"], cancellationToken).ConfigureAwait(false);

    /// <summary>Publishes a message; returns how many subscribers received it.</summary>
    public static async Task<long> PublishAsync(this IRedisConnection redis, string channel, string message, CancellationToken cancellationToken = default) =>
        (await redis.ExecuteAsync(["PUBLISH", channel, message], cancellationToken).ConfigureAwait(false)).AsInt64();

    /// <summary>Publishes a binary message; returns how many subscribers received it.</summary>
    public static async Task<long> PublishAsync(
        this IRedisConnection redis, string channel, ReadOnlyMemory<byte> message, CancellationToken cancellationToken = default) =>
        (await redis.ExecuteAsync(["PUBLISH", channel, message], cancellationToken).ConfigureAwait(false)).AsInt64();

    /// <summary>PUBSUB NUMSUB: how many connections subscribe to each channel now, in the order given. A connection's
    /// subscriptions end with it, so a channel only one process subscribes to counts 0 from the moment that process's
    /// connection closes (it died, or the connection broke and it has not re-subscribed yet). Answered by Redis and
    /// Garnet alike.</summary>
    public static async Task<IReadOnlyList<long>> SubscriberCountsAsync(
        this IRedisConnection redis, IReadOnlyList<string> channels, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfZero(channels.Count);
        var reply = await redis.ExecuteAsync([(RedisArg)"PUBSUB", "NUMSUB", .. channels.Select(c => (RedisArg)c)], cancellationToken).ConfigureAwait(false);
        // Channel, count, channel, count…
        var counts = new long[channels.Count];
        for (var i = 0; i < counts.Length; i++)
        {
            counts[i] = reply.Items[(2 * i) + 1].AsInt64();
        }

        return counts;
    }

    private static IReadOnlyList<string> ToStrings(RedisReply reply) =>
        reply.IsNull ? [] : reply.Items.Select(item => item.AsString()!).ToArray();

    private static double ParseScore(string score) => score switch
    {
        "inf" or "+inf" => double.PositiveInfinity,
        "-inf" => double.NegativeInfinity,
        _ => double.Parse(score, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture),
    };

    // Score bounds are inclusive unless prefixed with '(' (infinities are written +inf and -inf either way).
    private static RedisArg ScoreBound(double score, bool exclusive) =>
        exclusive ? "(" + ((RedisArg)score).ToString() : score;

    private static long ToMilliseconds(TimeSpan value)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(value, TimeSpan.Zero);
        return Math.Max(1, (long)Math.Ceiling(value.TotalMilliseconds));
    }
}
