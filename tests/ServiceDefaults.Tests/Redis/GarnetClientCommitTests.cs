using System.Globalization;
using DirectorsConsole.Messaging;
using DirectorsConsole.Testing;

namespace DirectorsConsole.ServiceDefaults.Tests.Redis;

/// <summary>
/// The embedded Garnet does not make a write's reply wait for its append-only file; the services' client commits the
/// file after its writes (<see cref="RedisOptions.CommitWrites"/>). Shown on a Garnet that commits only when asked (a
/// commit frequency far longer than the test), so that nothing but the client's commits can put the writes in the file.
/// </summary>
public sealed class GarnetClientCommitTests
{
    private const int NeverDuringTheTest = 600_000;

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task AWriteIsInTheFileWhenItsCallerGoesOnOnlyWhenTheClientCommits(bool commitWrites)
    {
        // Arrange
        var ct = TestContext.Current.CancellationToken;
        var dataDir = Directory.CreateTempSubdirectory("dc-garnet-commit-").FullName;
        try
        {
            await using var server = await RedisServerProcess.StartGarnetAsync(dataDir, ct, commitFrequencyMilliseconds: NeverDuringTheTest);
            var options = RedisTestServers.Options(server);
            options.CommitWrites = commitWrites;
            await using var redis = new RedisConnection(options);

            // Act: writes from many callers at once, a script among them
            await Task.WhenAll(Enumerable.Range(0, 200).Select(i => i % 10 == 0
                ? redis.ScriptEvaluateAsync("return redis.call('SET', KEYS[1], ARGV[1])", [$"commit:{i}"], [i], ct)
                : redis.ExecuteAsync(["SET", $"commit:{i}", i], ct)));
            var persistence = await redis.ExecuteAsync(["INFO", "persistence"], ct);

            // Assert: the file is committed up to its tail exactly when the client commits
            var committed = Field(persistence.AsString()!, "CommittedUntilAddress");
            var tail = Field(persistence.AsString()!, "TailAddress");
            Assert.Equal(commitWrites, committed == tail);
            if (!commitWrites)
            {
                return;
            }

            // and every write survives a SIGKILL of the server
            await server.RestartAsync(ct);
            await using var after = new RedisConnection(RedisTestServers.Options(server));
            for (var i = 0; i < 200; i++)
            {
                Assert.Equal(i.ToString(CultureInfo.InvariantCulture), await after.StringGetAsync($"commit:{i}", ct));
            }
        }
        finally
        {
            Directory.Delete(dataDir, recursive: true);
        }
    }

    [Theory]
    [InlineData(OnLostReply.Fail)]
    [InlineData(OnLostReply.Resend)]
    public async Task AWriteWhoseCommitIsLostWithTheConnectionFailsAsALostReplyUnlessItIsSafeToSendAgain(OnLostReply onLostReply)
    {
        // Arrange: the client reaches Garnet through a relay; the command timeout outlasts the test's break of the
        // connection, and the grace covers a reconnect on a busy machine
        var ct = TestContext.Current.CancellationToken;
        var dataDir = Directory.CreateTempSubdirectory("dc-garnet-commit-").FullName;
        try
        {
            await using var server = await RedisServerProcess.StartGarnetAsync(dataDir, ct);
            await using var relay = new TcpRelay(server.Port);
            var options = RedisTestServers.Options(relay.ConnectionString, TimeSpan.FromSeconds(30));
            options.CommitWrites = true;
            options.OutageGrace = TimeSpan.FromMinutes(1);
            await using var redis = new RedisConnection(options);
            await using var direct = new RedisConnection(RedisTestServers.Options(server));
            var key = RedisTestServers.UniqueName("commit-lost");
            await redis.ExecuteAsync(["SET", key, "before"], ct);

            // Act: a write goes through and is answered; the commit after it reaches the server, its answer does not,
            // and the connection dies
            relay.LoseRepliesOnceSent("COMMITAOF");
            var write = redis.ExecuteAsync(["SET", key, "written"], onLostReply, ct);
            await Eventually.ReturnsAsync(() => Task.FromResult(relay.HasSentWhileLosing("COMMITAOF")), sent => sent);
            relay.BreakConnections();

            // Assert: the write was carried out; its caller hears that it may have been, unless it said sending it
            // again is safe, in which case it is sent again over the new connection and committed
            Assert.Equal("written", await direct.StringGetAsync(key, ct));
            if (onLostReply == OnLostReply.Fail)
            {
                var lost = await Assert.ThrowsAsync<DirectorsConsole.Messaging.RedisConnectionException>(() => write.WaitAsync(TimeSpan.FromSeconds(60), ct));
                Assert.Contains("may have been carried out", lost.Message);
                Assert.Contains("commit of the append-only file", lost.InnerException?.Message);
            }
            else
            {
                await write.WaitAsync(TimeSpan.FromSeconds(60), ct);
            }

            // and the connection is usable again
            await redis.ExecuteAsync(["SET", key, "after"], ct);
            Assert.Equal("after", await direct.StringGetAsync(key, ct));
        }
        finally
        {
            Directory.Delete(dataDir, recursive: true);
        }
    }

    [Fact]
    public async Task CommittingAgainstAServerWithoutCommitAofFailsTheWriteWithTheServersError()
    {
        // Arrange: a redis-server, which syncs its own file and has no COMMITAOF
        var ct = TestContext.Current.CancellationToken;
        await using var server = await RedisTestServers.StartOwnAsync(RedisServerKind.Redis);
        var options = RedisTestServers.Options(server);
        options.CommitWrites = true;
        await using var redis = new RedisConnection(options);

        // Act
        var error = await Assert.ThrowsAsync<DirectorsConsole.Messaging.RedisServerException>(
            () => redis.ExecuteAsync(["SET", "commit:misconfigured", "1"], ct));

        // Assert: the setting is a mistake for this server, and the error says which command it did not know; reads
        // need no commit and still work
        Assert.Contains("COMMITAOF", error.Message, StringComparison.OrdinalIgnoreCase);
        Assert.Equal("1", await redis.StringGetAsync("commit:misconfigured", ct));
    }

    private static long Field(string info, string name) =>
        long.Parse(info.Split('\n').Select(line => line.Trim()).First(line => line.StartsWith(name + ":", StringComparison.Ordinal))[(name.Length + 1)..],
            CultureInfo.InvariantCulture);
}
