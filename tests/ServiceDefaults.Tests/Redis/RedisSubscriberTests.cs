using System.Text;
using System.Threading.Channels;
using DirectorsConsole.Messaging;
using DirectorsConsole.Testing;

namespace DirectorsConsole.ServiceDefaults.Tests.Redis;

public sealed class RedisSubscriberTests(RedisTestServers servers)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    [Theory]
    [MemberData(nameof(RedisTestServers.KindsAndProtocols), MemberType = typeof(RedisTestServers))]
    public async Task HandlersRunInOrderSurviveFailuresAndStopAfterTheLastHandleIsDisposed(RedisServerKind kind, bool resp3)
    {
        var ct = TestContext.Current.CancellationToken;
        var server = await servers.GetAsync(kind);
        var options = RedisTestServers.Options(server.ConnectionString + (resp3 ? ",protocol=resp3" : ""));
        await using var redis = new RedisConnection(options);
        await using var subscriber = new RedisSubscriber(options);
        var channel = RedisTestServers.UniqueName("sub");
        var first = Channel.CreateUnbounded<string>();
        var second = Channel.CreateUnbounded<string>();

        var failing = await subscriber.SubscribeAsync(channel, async (_, payload, _) =>
        {
            var text = Encoding.UTF8.GetString(payload.Span);
            // A slow first message must not be overtaken by the next one.
            await Task.Delay(text == "0" ? 100 : 0, ct);
            await first.Writer.WriteAsync(text, ct);
            throw new InvalidOperationException("handler failure must not stop the subscription");
        }, cancellationToken: ct);
        var other = await subscriber.SubscribeAsync(channel, (_, payload, _) =>
            second.Writer.WriteAsync(Encoding.UTF8.GetString(payload.Span), ct).AsTask(), cancellationToken: ct);

        for (var i = 0; i < 5; i++)
        {
            Assert.Equal(1, await redis.PublishAsync(channel, i.ToString(System.Globalization.CultureInfo.InvariantCulture), ct));
        }

        for (var i = 0; i < 5; i++)
        {
            var expected = i.ToString(System.Globalization.CultureInfo.InvariantCulture);
            Assert.Equal(expected, await first.Reader.ReadAsync(ct).AsTask().WaitAsync(Patience, ct));
            Assert.Equal(expected, await second.Reader.ReadAsync(ct).AsTask().WaitAsync(Patience, ct));
        }

        await failing.DisposeAsync();
        Assert.Equal(1, await redis.PublishAsync(channel, "still", ct));
        Assert.Equal("still", await second.Reader.ReadAsync(ct).AsTask().WaitAsync(Patience, ct));

        await other.DisposeAsync();
        // The UNSUBSCRIBE is written before DisposeAsync returns; the PUBLISH goes over another socket, so
        // wait for the server to count no subscribers rather than for a fixed time.
        var deadline = DateTime.UtcNow + Patience;
        while (await redis.PublishAsync(channel, "gone", ct) != 0 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20, ct);
        }

        Assert.Equal(0, await redis.PublishAsync(channel, "gone", ct));
    }

    [Theory]
    [MemberData(nameof(RedisTestServers.Kinds), MemberType = typeof(RedisTestServers))]
    public async Task PatternSubscriptionReceivesMatchingChannels(RedisServerKind kind)
    {
        var ct = TestContext.Current.CancellationToken;
        var server = await servers.GetAsync(kind);
        var options = RedisTestServers.Options(server.ConnectionString);
        await using var redis = new RedisConnection(options);
        await using var subscriber = new RedisSubscriber(options);
        var prefix = RedisTestServers.UniqueName("psub");
        var received = Channel.CreateUnbounded<(string Channel, string Payload)>();

        await using var subscription = await subscriber.SubscribeAsync(prefix + ":*",
            (channel, payload, _) => received.Writer.WriteAsync((channel, Encoding.UTF8.GetString(payload.Span)), ct).AsTask(),
            pattern: true, cancellationToken: ct);
        await redis.PublishAsync(prefix + ":a", "1", ct);

        Assert.Equal((prefix + ":a", "1"), await received.Reader.ReadAsync(ct).AsTask().WaitAsync(Patience, ct));
    }

    [Theory]
    [MemberData(nameof(RedisTestServers.Kinds), MemberType = typeof(RedisTestServers))]
    public async Task ASubscriptionDisposedAfterItsMultiplexerIsClosedQuietly(RedisServerKind kind)
    {
        // A host that stops disposes its singletons (the multiplexer among them) while a background service may still
        // be closing its subscription in a finally block; that late close must not throw.
        var ct = TestContext.Current.CancellationToken;
        var server = await servers.GetAsync(kind);
        var multiplexer = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(
            RedisTestServers.Options(server.ConnectionString).ToConfigurationOptions());
        var subscriber = new RedisSubscriber(multiplexer, Microsoft.Extensions.Logging.Abstractions.NullLogger<RedisSubscriber>.Instance);
        var subscription = await subscriber.SubscribeAsync(RedisTestServers.UniqueName("late"), (_, _, _) => Task.CompletedTask, cancellationToken: ct);

        await multiplexer.DisposeAsync();

        await subscription.DisposeAsync();
        await subscriber.DisposeAsync();
    }

    /// <summary>What a BackendService replica's peers rely on to see it die: a subscription counts (PUBSUB NUMSUB) while
    /// the connection that made it lives and stops counting once that connection closes, as when its process dies.</summary>
    [Theory]
    [MemberData(nameof(RedisTestServers.Kinds), MemberType = typeof(RedisTestServers))]
    public async Task ASubscriptionCountsWhileItsConnectionLivesAndNotOnceItCloses(RedisServerKind kind)
    {
        // Arrange: a bare connection that subscribes and never reconnects, so its closing is the only change
        var ct = TestContext.Current.CancellationToken;
        var server = await servers.GetAsync(kind);
        await using var redis = new RedisConnection(RedisTestServers.Options(server.ConnectionString));
        var channel = RedisTestServers.UniqueName("presence");
        using var bare = new System.Net.Sockets.TcpClient();
        await bare.ConnectAsync("127.0.0.1", server.Port, ct);
        var command = Encoding.ASCII.GetBytes($"*2\r\n$9\r\nSUBSCRIBE\r\n${Encoding.UTF8.GetByteCount(channel)}\r\n{channel}\r\n");
        await bare.GetStream().WriteAsync(command, ct);

        // Act
        var whileOpen = await Eventually.ReturnsAsync(() => redis.SubscriberCountsAsync([channel, channel + ":other"], ct), counts => counts[0] == 1, Patience);
        bare.Close();
        var afterClose = await Eventually.ReturnsAsync(() => redis.SubscriberCountsAsync([channel], ct), counts => counts[0] == 0, Patience);

        // Assert
        Assert.Equal([1L, 0L], whileOpen);
        Assert.Equal([0L], afterClose);
    }

    /// <summary>A subscriber whose connection the server drops hears of the loss
    /// (<see cref="IRedisSubscriber.SubscriptionsLost"/>) and of the re-subscription, after which it counts again.</summary>
    [Theory]
    [MemberData(nameof(RedisTestServers.KindsAndProtocols), MemberType = typeof(RedisTestServers))]
    public async Task ASubscriberWhoseConnectionIsDroppedHearsOfItAndCountsAgainOnceResubscribed(RedisServerKind kind, bool resp3)
    {
        // Arrange: the subscriber's connections carry a name of their own, so the test can drop exactly them
        var ct = TestContext.Current.CancellationToken;
        var server = await servers.GetAsync(kind);
        var connectionString = server.ConnectionString + (resp3 ? ",protocol=resp3" : "");
        await using var redis = new RedisConnection(RedisTestServers.Options(connectionString));
        var subscriberOptions = RedisTestServers.Options(connectionString);
        subscriberOptions.ClientName = RedisTestServers.UniqueName("presence").Replace(':', '-');
        await using var subscriber = new RedisSubscriber(subscriberOptions);
        var channel = RedisTestServers.UniqueName("presence");
        var lost = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var resubscribed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        subscriber.SubscriptionsLost += () => lost.TrySetResult();
        await using var subscription = await subscriber.SubscribeAsync(channel, (_, _, _) => Task.CompletedTask,
            _ =>
            {
                resubscribed.TrySetResult();
                return Task.CompletedTask;
            }, cancellationToken: ct);

        // Act: the server drops the subscriber's connections, as a network fault would
        var before = await redis.SubscriberCountsAsync([channel], ct);
        var clients = (await redis.ExecuteAsync(["CLIENT", "LIST"], ct)).AsString()!.Split('\n')
            .Where(line => line.Contains($" name={subscriberOptions.ClientName} ", StringComparison.Ordinal))
            .Select(line => long.Parse(System.Text.RegularExpressions.Regex.Match(line, @"(?:^|\W)id=(\d+)").Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        foreach (var id in clients)
        {
            await redis.ExecuteAsync(["CLIENT", "KILL", "ID", id], ct);
        }

        await lost.Task.WaitAsync(Patience, ct);
        await resubscribed.Task.WaitAsync(Patience, ct);
        // The client reports the re-subscription as it sends it: the server counts it once it has handled it.
        var after = await Eventually.ReturnsAsync(() => redis.SubscriberCountsAsync([channel], ct), counts => counts.SequenceEqual([1L]), Patience);

        // Assert
        Assert.Equal([1L], before);
        Assert.NotEmpty(clients);
        Assert.Equal([1L], after);
    }
}
