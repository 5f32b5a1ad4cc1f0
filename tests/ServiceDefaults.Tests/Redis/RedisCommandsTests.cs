using DirectorsConsole.Messaging;
using DirectorsConsole.Testing;

namespace DirectorsConsole.ServiceDefaults.Tests.Redis;

/// <summary>The typed helpers the stores use instead of spelling out commands, against Garnet and real Redis.</summary>
public sealed class RedisCommandsTests(RedisTestServers servers)
{
    [Theory]
    [MemberData(nameof(RedisTestServers.KindsAndProtocols), MemberType = typeof(RedisTestServers))]
    public async Task ListHashAndSetHelpersReadWhatWasWritten(RedisServerKind kind, bool resp3)
    {
        // Arrange
        var ct = TestContext.Current.CancellationToken;
        await using var redis = await ConnectAsync(kind, resp3);
        var key = RedisTestServers.UniqueName("helpers");
        await redis.ListRightPushAsync(key + ":list", "a", ct);
        await redis.ListRightPushAsync(key + ":list", "b", ct);
        await redis.HashSetManyAsync(key + ":hash", [new("record", "{}"), new("version", 3)], ct);
        await redis.ExecuteAsync(["SADD", key + ":set", "x", "y", "z"], ct);

        // Act
        var listLength = await redis.ListLengthAsync(key + ":list", ct);
        var hashLength = await redis.HashLengthAsync(key + ":hash", ct);
        var fields = await redis.HashGetManyAsync(key + ":hash", ["record", "engine", "version"], ct);
        var missingHash = await redis.HashGetManyAsync(key + ":nohash", ["record", "version"], ct);
        var removed = await redis.SetRemoveAsync(key + ":set", "y", ct);
        var removedAgain = await redis.SetRemoveAsync(key + ":set", "y", ct);
        var members = await redis.SetMembersAsync(key + ":set", ct);
        var setLength = await redis.SetLengthAsync(key + ":set", ct);

        // Assert
        Assert.Equal(2, listLength);
        Assert.Equal(0, await redis.ListLengthAsync(key + ":nolist", ct));
        Assert.Equal(2, hashLength);
        Assert.Equal(0, await redis.HashLengthAsync(key + ":nohash", ct));
        Assert.Equal(["{}", null, "3"], fields);
        Assert.Equal([null, null], missingHash);
        Assert.True(removed);
        Assert.False(removedAgain);
        Assert.Equal(["x", "z"], members.Order());
        Assert.Equal(2, setLength);
        Assert.Empty(await redis.SetMembersAsync(key + ":noset", ct));
        Assert.Equal(0, await redis.SetLengthAsync(key + ":noset", ct));
    }

    [Theory]
    [MemberData(nameof(RedisTestServers.KindsAndProtocols), MemberType = typeof(RedisTestServers))]
    public async Task SortedSetHelpersRankCountAndRemoveByScore(RedisServerKind kind, bool resp3)
    {
        // Arrange: scores 10, 20, 30, 40
        var ct = TestContext.Current.CancellationToken;
        await using var redis = await ConnectAsync(kind, resp3);
        var key = RedisTestServers.UniqueName("zset");
        foreach (var (member, score) in new[] { ("a", 10.0), ("b", 20.0), ("c", 30.0), ("d", 40.0) })
        {
            await redis.SortedSetAddAsync(key, member, score, ct);
        }

        // Act and assert: ranks both ways
        Assert.Equal(["a", "b", "c", "d"], await redis.SortedSetRangeByRankAsync(key, cancellationToken: ct));
        Assert.Equal(["d", "c"], await redis.SortedSetRangeByRankAsync(key, 0, 1, SortOrder.Descending, ct));
        Assert.Equal(["b", "c"], await redis.SortedSetRangeByRankAsync(key, 1, 2, cancellationToken: ct));
        Assert.Empty(await redis.SortedSetRangeByRankAsync(key + ":missing", cancellationToken: ct));
        Assert.Equal([("b", 20.0), ("c", 30.0)], await redis.SortedSetRangeByRankWithScoresAsync(key, 1, 2, ct));
        Assert.Empty(await redis.SortedSetRangeByRankWithScoresAsync(key + ":missing", cancellationToken: ct));
        var queueScore = -10 * (double)(1L << 40) + 7; // a job queue's scores: priority × 2⁴⁰ + order, exact in a double
        await redis.SortedSetAddAsync(key + ":queue", "urgent", queueScore, ct);
        Assert.Equal([("urgent", queueScore)], await redis.SortedSetRangeByRankWithScoresAsync(key + ":queue", cancellationToken: ct));

        // Counts: all members, and an inclusive score range
        Assert.Equal(4, await redis.SortedSetLengthAsync(key, cancellationToken: ct));
        Assert.Equal(3, await redis.SortedSetLengthAsync(key, 20, double.PositiveInfinity, ct));
        Assert.Equal(0, await redis.SortedSetLengthAsync(key + ":missing", cancellationToken: ct));

        // Removal below a score, the score itself excluded, then included
        Assert.Equal(1, await redis.SortedSetRemoveRangeByScoreAsync(key, double.NegativeInfinity, 20, Exclude.Stop, ct));
        Assert.Equal(["b", "c", "d"], await redis.SortedSetRangeByRankAsync(key, cancellationToken: ct));
        Assert.Equal(2, await redis.SortedSetRemoveRangeByScoreAsync(key, 20, 30, cancellationToken: ct));
        Assert.Equal(["d"], await redis.SortedSetRangeByRankAsync(key, cancellationToken: ct));
        Assert.Equal(0, await redis.SortedSetRemoveRangeByScoreAsync(key, 40, 40, Exclude.Both, ct));
    }

    [Theory]
    [MemberData(nameof(RedisTestServers.Kinds), MemberType = typeof(RedisTestServers))]
    public async Task KeyScanFindsEveryMatchingKeyAndOnlyThose(RedisServerKind kind)
    {
        // Arrange: more keys than one page holds
        var ct = TestContext.Current.CancellationToken;
        await using var redis = await ConnectAsync(kind, resp3: false);
        var prefix = RedisTestServers.UniqueName("scan");
        var expected = Enumerable.Range(0, 25).Select(i => $"{prefix}:{i}").ToHashSet();
        foreach (var key in expected)
        {
            await redis.StringSetAsync(key, "1", cancellationToken: ct);
        }

        await redis.StringSetAsync(prefix + "-other", "1", cancellationToken: ct);

        // Act
        var found = new HashSet<string>();
        var cursor = "0";
        do
        {
            var page = await redis.KeyScanAsync(cursor, prefix + ":*", 10, ct);
            found.UnionWith(page.Keys);
            cursor = page.Cursor;
        }
        while (cursor != "0");

        // Assert
        Assert.Equal(expected.Order(), found.Order());
    }

    [Theory]
    [MemberData(nameof(RedisTestServers.Kinds), MemberType = typeof(RedisTestServers))]
    public async Task ServerHelpersReadInfoAndSave(RedisServerKind kind)
    {
        // Arrange
        var ct = TestContext.Current.CancellationToken;
        await using var redis = await ConnectAsync(kind, resp3: false);

        // Act
        var info = await redis.InfoAsync("persistence", ct);
        await redis.SaveAsync(ct);

        // Assert: both servers name the section; SAVE answers OK (an error reply would have thrown)
        Assert.Contains("# Persistence", info, StringComparison.OrdinalIgnoreCase);
    }

    [Theory]
    [MemberData(nameof(RedisTestServers.Kinds), MemberType = typeof(RedisTestServers))]
    public async Task WriteHelpersTakeTheirResendRule(RedisServerKind kind)
    {
        // Arrange
        var ct = TestContext.Current.CancellationToken;
        await using var redis = await ConnectAsync(kind, resp3: false);
        var key = RedisTestServers.UniqueName("resend");

        // Act
        var set = await redis.StringSetAsync(key, "v", TimeSpan.FromMinutes(1), onlyIfNotExists: true, OnLostReply.Resend, ct);
        var setAgain = await redis.StringSetAsync(key, "w", null, onlyIfNotExists: true, OnLostReply.Resend, ct);
        var counted = await redis.StringIncrementAsync(key + ":n", 3, OnLostReply.Resend, ct);
        var deleted = await redis.KeyDeleteAsync(key, OnLostReply.Resend, ct);
        var deletedAgain = await redis.KeyDeleteAsync(key, OnLostReply.Resend, ct);
        await redis.StringSetAsync(key + ":lease", "holder-a", cancellationToken: ct);
        var deletedByAnother = await redis.KeyDeleteIfEqualsAsync(key + ":lease", "holder-b", ct);
        var deletedByHolder = await redis.KeyDeleteIfEqualsAsync(key + ":lease", "holder-a", ct);
        var deletedByHolderAgain = await redis.KeyDeleteIfEqualsAsync(key + ":lease", "holder-a", ct);

        // Assert
        Assert.True(set);
        Assert.False(setAgain);
        Assert.Equal(3, counted);
        Assert.True(deleted);
        Assert.False(deletedAgain);
        Assert.False(deletedByAnother);
        Assert.True(deletedByHolder);
        Assert.False(deletedByHolderAgain);
        Assert.False(await redis.KeyExistsAsync(key + ":lease", ct));
    }

    private async Task<RedisConnection> ConnectAsync(RedisServerKind kind, bool resp3)
    {
        var server = await servers.GetAsync(kind);
        return new RedisConnection(RedisTestServers.Options(server.ConnectionString + (resp3 ? ",protocol=resp3" : "")));
    }
}
