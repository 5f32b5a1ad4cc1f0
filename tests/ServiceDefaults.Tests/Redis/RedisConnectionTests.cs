using DirectorsConsole.Messaging;
using DirectorsConsole.Testing;

namespace DirectorsConsole.ServiceDefaults.Tests.Redis;

public sealed class RedisConnectionTests(RedisTestServers servers)
{
    [Theory]
    [MemberData(nameof(RedisTestServers.KindsAndProtocols), MemberType = typeof(RedisTestServers))]
    public async Task CommandsRoundTripOverBothProtocols(RedisServerKind kind, bool resp3)
    {
        var ct = TestContext.Current.CancellationToken;
        var server = await servers.GetAsync(kind);
        await using var redis = new RedisConnection(RedisTestServers.Options(server.ConnectionString + (resp3 ? ",protocol=resp3" : "")));
        var key = RedisTestServers.UniqueName("cmd");

        await redis.PingAsync(ct);
        Assert.True(await redis.StringSetAsync(key, "v1", TimeSpan.FromMinutes(1), cancellationToken: ct));
        Assert.False(await redis.StringSetAsync(key, "v2", onlyIfNotExists: true, cancellationToken: ct));
        Assert.Equal("v1", await redis.StringGetAsync(key, ct));
        Assert.True(await redis.StringSetAsync(key + ":bytes", new byte[] { 0, 255, 10, 13 }, cancellationToken: ct));
        Assert.Equal(new byte[] { 0, 255, 10, 13 }, await redis.StringGetBytesAsync(key + ":bytes", ct));
        Assert.True(await redis.KeyExistsAsync(key, ct));
        Assert.True(await redis.KeyExpireAsync(key, TimeSpan.FromMinutes(5), ct));
        Assert.Equal(2, await redis.KeyDeleteAsync([key, key + ":bytes", key + ":missing"], ct));
        Assert.False(await redis.KeyDeleteAsync(key, ct));
        Assert.Null(await redis.StringGetAsync(key, ct));
        Assert.Equal(5, await redis.StringIncrementAsync(key + ":n", 5, ct));

        var hash = key + ":hash";
        Assert.True(await redis.HashSetAsync(hash, "a", "1", ct));
        Assert.False(await redis.HashSetAsync(hash, "a", "2", ct));
        Assert.Equal(2, await redis.HashSetManyAsync(hash, [new("b", 2.5), new("c", "three")], ct));
        Assert.Equal("2", await redis.HashGetAsync(hash, "a", ct));
        Assert.Equal(new Dictionary<string, string> { ["a"] = "2", ["b"] = "2.5", ["c"] = "three" }, await redis.HashGetAllAsync(hash, ct));
        Assert.Empty(await redis.HashGetAllAsync(key + ":nohash", ct));
        Assert.True(await redis.HashDeleteAsync(hash, "a", ct));
        var all = await redis.ExecuteAsync(["HGETALL", hash], ct);
        // A RESP3 map reads as an array of keys and values, as a RESP2 reply does.
        Assert.Equal(RedisReplyKind.Array, all.Kind);
        Assert.Equal(4, all.Items.Count);

        var list = key + ":list";
        await redis.ListRightPushAsync(list, "b", ct);
        await redis.ListRightPushAsync(list, "c", ct);
        Assert.Equal(3, await redis.ListLeftPushAsync(list, "a", ct));
        Assert.Equal(["a", "b", "c"], await redis.ListRangeAsync(list, cancellationToken: ct));

        var zset = key + ":zset";
        Assert.True(await redis.SortedSetAddAsync(zset, "late", 30, ct));
        Assert.True(await redis.SortedSetAddAsync(zset, "early", 10, ct));
        Assert.True(await redis.SortedSetAddAsync(zset, "middle", 20, ct));
        Assert.Equal(["early", "middle"], await redis.SortedSetRangeByScoreAsync(zset, max: 25, cancellationToken: ct));
        Assert.Equal(["middle"], await redis.SortedSetRangeByScoreAsync(zset, skip: 1, take: 1, cancellationToken: ct));
        Assert.True(await redis.SortedSetRemoveAsync(zset, "early", ct));

        Assert.Equal(0, await redis.PublishAsync(key + ":nobody", "hello", ct));

        var wrongType = await Assert.ThrowsAsync<RedisServerException>(() => redis.HashGetAsync(list, "x", ct));
        Assert.Equal("WRONGTYPE", wrongType.ErrorPrefix);
    }

    [Theory]
    [MemberData(nameof(RedisTestServers.Kinds), MemberType = typeof(RedisTestServers))]
    public async Task ScriptsRunByHashAndFallBackToEvalWhenTheServerDoesNotKnowThem(RedisServerKind kind)
    {
        var ct = TestContext.Current.CancellationToken;
        var server = await servers.GetAsync(kind);
        await using var redis = new RedisConnection(RedisTestServers.Options(server.ConnectionString));
        var key = RedisTestServers.UniqueName("script");
        // A script text no server has seen, so the first EVALSHA meets NOSCRIPT.
        var script = $"-- {Guid.NewGuid():N}\nredis.call('SET', KEYS[1], ARGV[1]) return redis.call('INCRBY', KEYS[2], ARGV[2])";

        var first = await redis.ScriptEvaluateAsync(script, [key, key + ":n"], ["x", 2], ct);
        var second = await redis.ScriptEvaluateAsync(script, [key, key + ":n"], ["y", 3], ct);

        Assert.Equal(2, first.AsInt64());
        Assert.Equal(5, second.AsInt64());
        Assert.Equal("y", await redis.StringGetAsync(key, ct));
    }

    [Theory]
    [MemberData(nameof(RedisTestServers.Kinds), MemberType = typeof(RedisTestServers))]
    public async Task PipelinedCommandsFromManyTasksGetTheirOwnReplies(RedisServerKind kind)
    {
        var ct = TestContext.Current.CancellationToken;
        var server = await servers.GetAsync(kind);
        await using var redis = new RedisConnection(RedisTestServers.Options(server.ConnectionString));
        var prefix = RedisTestServers.UniqueName("pipe");
        var clientId = (await redis.ExecuteAsync(["CLIENT", "ID"], ct)).AsInt64();

        await Task.WhenAll(Enumerable.Range(0, 50).Select(task => Task.Run(async () =>
        {
            var counter = $"{prefix}:{task}:n";
            for (var i = 0; i < 200; i++)
            {
                var value = $"{task}-{i}";
                var set = redis.StringSetAsync($"{prefix}:{task}:{i}", value, cancellationToken: ct);
                var incremented = redis.StringIncrementAsync(counter, cancellationToken: ct);
                var read = redis.StringGetAsync($"{prefix}:{task}:{i}", ct);
                Assert.True(await set);
                Assert.Equal(i + 1, await incremented);
                Assert.Equal(value, await read);
            }
        }, ct)));

        Assert.Equal(clientId, (await redis.ExecuteAsync(["CLIENT", "ID"], ct)).AsInt64());
    }
}
