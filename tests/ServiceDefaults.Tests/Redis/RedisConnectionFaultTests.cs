using DirectorsConsole.ServiceDefaults.Redis;
using DirectorsConsole.Testing;

namespace DirectorsConsole.ServiceDefaults.Tests.Redis;

/// <summary>Failures a real server will not produce on demand, played by <see cref="FakeRedisServer"/>.</summary>
public sealed class RedisConnectionFaultTests
{
    [Theory]
    [InlineData("?garbage\r\n")]
    [InlineData("$5\r\nabcdefgh\r\n")]
    [InlineData("$999999999\r\n")]
    public async Task MalformedOrOversizedReplyFailsThePendingCommandAndTheNextSucceedsAfterReconnect(string badReply)
    {
        var ct = TestContext.Current.CancellationToken;
        await using var server = new FakeRedisServer((connection, command) => Task.FromResult<string?>(
            FakeRedisServer.Handshake(command) ?? (connection == 1 ? badReply : "+PONG\r\n")));
        var options = RedisTestServers.Options(server.ConnectionString);
        options.MaxReplyBytes = 64 * 1024;
        await using var redis = new RedisConnection(options);

        await Assert.ThrowsAsync<RedisProtocolException>(() => redis.ExecuteAsync(["PING"], ct));
        var reply = await redis.ExecuteAsync(["PING"], ct);

        Assert.Equal("PONG", reply.AsString());
        Assert.Equal(2, server.ConnectionsAccepted);
    }

    [Fact]
    public async Task CommandWithoutReplyTimesOut()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var server = new FakeRedisServer((_, command) => Task.FromResult<string?>(FakeRedisServer.Handshake(command)));
        await using var redis = new RedisConnection(RedisTestServers.Options(server.ConnectionString, TimeSpan.FromMilliseconds(300)));

        var error = await Assert.ThrowsAsync<RedisTimeoutException>(() => redis.ExecuteAsync(["PING"], ct));

        Assert.Contains("PING", error.Message);
        Assert.True(redis.IsConnected);
    }

    [Fact]
    public async Task AbandonedCommandKeepsItsSlotSoLaterRepliesStillMatch()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var server = new FakeRedisServer(async (_, command) =>
        {
            if (FakeRedisServer.Handshake(command) is { } handshake)
            {
                return handshake;
            }

            if (command[0] == "PING")
            {
                return "+PONG\r\n";
            }

            if (command[1] == "slow")
            {
                await Task.Delay(300, ct);
            }

            return $"${command[1].Length}\r\n{command[1]}\r\n";
        });
        await using var redis = new RedisConnection(RedisTestServers.Options(server.ConnectionString));
        // Connected first, so the command below is certainly written before it is cancelled.
        await redis.PingAsync(ct);

        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var slow = redis.ExecuteAsync(["ECHO", "slow"], cancel.Token);
        await Task.Delay(50, ct);
        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => slow);
        var fast = await redis.ExecuteAsync(["ECHO", "fast"], ct);

        Assert.Equal("fast", fast.AsString());
    }

    [Fact]
    public async Task RefusedConnectionFailsWithAConnectionErrorWithinTheTimeout()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var redis = new RedisConnection(
            RedisTestServers.Options($"127.0.0.1:{TestPorts.GetFreeTcpPort()}", TimeSpan.FromMilliseconds(500)));

        var error = await Assert.ThrowsAsync<RedisConnectionException>(() => redis.ExecuteAsync(["PING"], ct));

        Assert.False(redis.IsConnected);
        Assert.Contains("not connected", error.Message);
    }

    [Fact]
    public async Task ServerErrorCarriesItsPrefix()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var server = new FakeRedisServer((_, command) => Task.FromResult<string?>(
            FakeRedisServer.Handshake(command) ?? "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"));
        await using var redis = new RedisConnection(RedisTestServers.Options(server.ConnectionString));

        var error = await Assert.ThrowsAsync<RedisServerException>(() => redis.StringGetAsync("k", ct));

        Assert.Equal("WRONGTYPE", error.ErrorPrefix);
        Assert.True(redis.IsConnected);
    }

    [Theory]
    [InlineData(false, "AUTH svc secret|CLIENT SETNAME servicedefaults-tests|PING")]
    [InlineData(true, "HELLO 3 AUTH svc secret SETNAME servicedefaults-tests|PING")]
    public async Task HandshakeAuthenticatesAndNamesTheConnection(bool resp3, string expected)
    {
        var ct = TestContext.Current.CancellationToken;
        var received = new List<string>();
        await using var server = new FakeRedisServer((_, command) =>
        {
            lock (received)
            {
                received.Add(string.Join(' ', command));
            }

            return Task.FromResult<string?>(command[0] == "PING" ? "+PONG\r\n" : FakeRedisServer.Handshake(command) ?? "+OK\r\n");
        });
        var protocol = resp3 ? ",protocol=resp3" : "";
        await using var redis = new RedisConnection(RedisTestServers.Options($"{server.ConnectionString},user=svc,password=secret{protocol}"));

        await redis.PingAsync(ct);

        Assert.Equal(expected, string.Join('|', received));
    }

    [Fact]
    public async Task RejectedPasswordFailsCommandsWithTheServersReason()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var server = new FakeRedisServer((_, command) => Task.FromResult<string?>(
            command[0] == "AUTH" ? "-WRONGPASS invalid username-password pair\r\n" : FakeRedisServer.Handshake(command)));
        await using var redis = new RedisConnection(RedisTestServers.Options($"{server.ConnectionString},password=nope", TimeSpan.FromMilliseconds(500)));

        var error = await Assert.ThrowsAsync<RedisConnectionException>(() => redis.ExecuteAsync(["PING"], ct));

        Assert.Contains("WRONGPASS", error.Message);
    }
}
