using DirectorsConsole.Messaging;
using DirectorsConsole.Testing;

namespace DirectorsConsole.ServiceDefaults.Tests.Redis;

/// <summary>A restart of the server shorter than <see cref="RedisOptions.OutageGrace"/> is not an error, and no command
/// that may have reached the server is sent twice unless its caller said that is safe.</summary>
public sealed class RedisOutageGraceTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    [Theory]
    [MemberData(nameof(RedisTestServers.Kinds), MemberType = typeof(RedisTestServers))]
    public async Task ReadsAndWritesIssuedDuringARestartSucceedOnceTheServerIsBack(RedisServerKind kind)
    {
        var ct = TestContext.Current.CancellationToken;
        var dataDir = Directory.CreateTempSubdirectory("dc-grace-").FullName;
        await using var server = await RedisTestServers.StartOwnAsync(kind, dataDir);
        var options = RedisTestServers.Options(server, TimeSpan.FromSeconds(2));
        // Longer than any restart below, however busy the machine: the point is that nothing fails while it lasts.
        options.OutageGrace = TimeSpan.FromMinutes(2);
        await using var redis = new RedisConnection(options);
        await redis.StringSetAsync("grace:key", "before", cancellationToken: ct);

        using var stopReaders = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var reads = 0L;
        var errors = new List<string>();
        var readers = Enumerable.Range(0, 4).Select(_ => Task.Run(async () =>
        {
            while (!stopReaders.IsCancellationRequested)
            {
                try
                {
                    Assert.Equal("before", await redis.StringGetAsync("grace:key", stopReaders.Token));
                    Interlocked.Increment(ref reads);
                }
                catch (RedisException ex)
                {
                    lock (errors)
                    {
                        errors.Add(ex.Message);
                    }
                }
                catch (OperationCanceledException) when (stopReaders.IsCancellationRequested)
                {
                    return;
                }
            }
        }, ct)).ToArray();
        await Eventually.ReturnsAsync(() => Task.FromResult(Interlocked.Read(ref reads)), n => n > 50);

        await server.StopAsync();
        await Eventually.ReturnsAsync(() => Task.FromResult(redis.IsConnected), connected => !connected);
        Assert.False(redis.IsConnected);
        // Issued while the server is away, so certainly not sent: it waits for the reconnect and is carried out once.
        var write = redis.StringIncrementAsync("grace:counter", cancellationToken: ct);
        await server.RestartAsync(ct);
        var readsAfterRestart = Interlocked.Read(ref reads);
        Assert.Equal(1, await write.WaitAsync(Patience, ct));
        await Eventually.ReturnsAsync(() => Task.FromResult(Interlocked.Read(ref reads)), n => n > readsAfterRestart + 50);
        await stopReaders.CancelAsync();
        await Task.WhenAll(readers);

        Assert.Empty(errors);
        Assert.True(Interlocked.Read(ref reads) > readsAfterRestart + 50, "reads did not resume after the restart");
        await server.StopAsync();
        Directory.Delete(dataDir, recursive: true);
    }

    [Fact]
    public async Task AfterTheConnectionDiesAReadIsSentAgainButAWriteThatMayHaveArrivedIsNot()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var server = await RedisTestServers.StartOwnAsync(RedisServerKind.Garnet);
        await using var relay = new TcpRelay(server.Port);
        // The command timeout is longer than the test takes to break the connection, so only the broken connection ends
        // the commands below, and the grace is long enough for any reconnect on a busy machine.
        var options = RedisTestServers.Options(relay.ConnectionString, TimeSpan.FromSeconds(30));
        options.OutageGrace = TimeSpan.FromMinutes(1);
        await using var redis = new RedisConnection(options);
        await using var direct = new RedisConnection(RedisTestServers.Options(server.ConnectionString));
        var counter = RedisTestServers.UniqueName("sent-once");
        var readKey = RedisTestServers.UniqueName("read-again");
        await redis.StringSetAsync(readKey, "value", cancellationToken: ct);

        relay.LoseReplies();
        var write = redis.StringIncrementAsync(counter, cancellationToken: ct);
        await Eventually.ReturnsAsync(() => direct.StringGetAsync(counter, ct), value => value == "1");
        relay.BreakConnections();

        var lost = await Assert.ThrowsAsync<RedisConnectionException>(() => write.WaitAsync(Patience, ct));
        Assert.Contains("INCR", lost.Message);
        // A round trip first: the client is connected again, so the read below is sent at once rather than waiting in
        // the backlog for a reconnect whose handshake replies would be lost too.
        Assert.Equal("value", await redis.StringGetAsync(readKey, ct));

        relay.LoseReplies();
        var read = redis.StringGetAsync(readKey, ct);
        await Eventually.ReturnsAsync(() => Task.FromResult(relay.HasSentWhileLosing(readKey)), sent => sent);
        relay.BreakConnections();

        Assert.Equal("value", await read.WaitAsync(Patience, ct));
        Assert.True(relay.HasSentWhileLosing(readKey), "the read never reached the server before the connection broke");
        Assert.Equal("1", await redis.StringGetAsync(counter, ct));
    }

    [Fact]
    public async Task AScriptSafeToResendIsSentAgainAfterItsReplyWasLostAndCarriedOutOnce()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var server = await RedisTestServers.StartOwnAsync(RedisServerKind.Garnet);
        await using var relay = new TcpRelay(server.Port);
        var options = RedisTestServers.Options(relay.ConnectionString, TimeSpan.FromSeconds(30));
        options.OutageGrace = TimeSpan.FromMinutes(1);
        await using var redis = new RedisConnection(options);
        await using var direct = new RedisConnection(RedisTestServers.Options(server.ConnectionString));
        var marker = RedisTestServers.UniqueName("applied-by");
        var list = RedisTestServers.UniqueName("appended-once");
        // Recognises its own earlier run by the token it left, and answers as it did then.
        const string appendOnce = """
            if redis.call('GET', KEYS[1]) ~= ARGV[1] then
              redis.call('SET', KEYS[1], ARGV[1])
              redis.call('RPUSH', KEYS[2], ARGV[1])
            end
            return redis.call('LLEN', KEYS[2])
            """;
        await redis.PingAsync(ct);

        relay.LoseReplies();
        var script = redis.ScriptEvaluateAsync(appendOnce, [marker, list], ["token-1"], OnLostReply.Resend, ct);
        await Eventually.ReturnsAsync(() => direct.ExecuteAsync(["LLEN", list], ct), reply => reply.AsInt64() == 1);
        relay.BreakConnections();

        // The first run's reply was dropped by the relay, so this answer came from the script sent again.
        Assert.Equal(1, (await script.WaitAsync(Patience, ct)).AsInt64());
        Assert.True(relay.HasSentWhileLosing(list), "the script never reached the server before the connection broke");
        Assert.Equal(["token-1"], await direct.ListRangeAsync(list, cancellationToken: ct));

        // The same script without the caller's word is not sent again.
        relay.LoseReplies();
        var once = redis.ScriptEvaluateAsync(appendOnce, [marker, list], ["token-2"], ct);
        await Eventually.ReturnsAsync(() => direct.ExecuteAsync(["LLEN", list], ct), reply => reply.AsInt64() == 2);
        relay.BreakConnections();
        var lost = await Assert.ThrowsAsync<RedisConnectionException>(() => once.WaitAsync(Patience, ct));
        Assert.Contains("was lost before its reply came back", lost.Message);
    }

    [Fact]
    public void OutageGraceMustNotBeNegative()
    {
        var options = RedisTestServers.Options("127.0.0.1:6379");
        options.OutageGrace = TimeSpan.FromSeconds(-1);

        var result = new RedisOptionsValidator("redis").Validate(null, options);

        Assert.True(result.Failed);
        Assert.Contains("OutageGrace", result.FailureMessage);
    }
}
