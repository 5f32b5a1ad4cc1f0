using System.Reflection;
using System.Text;
using System.Threading.Channels;
using DirectorsConsole.Messaging;
using DirectorsConsole.Testing;
using Microsoft.Extensions.Logging.Abstractions;
using ConnectionMultiplexer = StackExchange.Redis.ConnectionMultiplexer;
using RedisChannel = StackExchange.Redis.RedisChannel;

namespace DirectorsConsole.ServiceDefaults.Tests.Redis;

/// <summary>Each test has a server of its own, because it stops and restarts it.</summary>
public sealed class RedisReconnectTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);

    [Theory]
    [MemberData(nameof(RedisTestServers.Kinds), MemberType = typeof(RedisTestServers))]
    public async Task CommandsFailWhileTheServerIsDownAndSucceedAfterItRestarts(RedisServerKind kind)
    {
        var ct = TestContext.Current.CancellationToken;
        await using var server = await RedisTestServers.StartOwnAsync(kind);
        await using var redis = new RedisConnection(RedisTestServers.Options(server.ConnectionString, TimeSpan.FromSeconds(1)));
        await redis.PingAsync(ct);

        await server.StopAsync();
        await Assert.ThrowsAnyAsync<RedisException>(() => redis.PingAsync(ct));
        Assert.False(redis.IsConnected);
        await server.RestartAsync(ct);

        // The client reconnects in the background, without a command asking it to.
        await Eventually.ReturnsAsync(() => Task.FromResult(redis.IsConnected), connected => connected);
        await redis.ExecuteAsync(["SET", "after-restart", "ok"], ct).WaitAsync(Patience, ct);
        Assert.Equal("ok", await redis.StringGetAsync("after-restart", ct));
    }

    [Theory]
    [MemberData(nameof(RedisTestServers.Kinds), MemberType = typeof(RedisTestServers))]
    public async Task SubscriberResubscribesAfterTheServerRestarts(RedisServerKind kind)
    {
        var ct = TestContext.Current.CancellationToken;
        await using var server = await RedisTestServers.StartOwnAsync(kind);
        var options = RedisTestServers.Options(server.ConnectionString, TimeSpan.FromSeconds(3));
        await using var redis = new RedisConnection(options);
        await using var subscriber = new RedisSubscriber(options);
        var received = Channel.CreateUnbounded<string>();
        var resubscribed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var subscription = await subscriber.SubscribeAsync(
            "news",
            (_, payload, _) => received.Writer.WriteAsync(Encoding.UTF8.GetString(payload.Span), ct).AsTask(),
            _ =>
            {
                resubscribed.TrySetResult();
                return Task.CompletedTask;
            },
            cancellationToken: ct);

        Assert.Equal(1, await redis.PublishAsync("news", "before", ct));
        Assert.Equal("before", await received.Reader.ReadAsync(ct).AsTask().WaitAsync(Patience, ct));
        Assert.False(resubscribed.Task.IsCompleted);

        await server.RestartAsync(ct);
        await resubscribed.Task.WaitAsync(Patience, ct);

        Assert.Equal(1, await redis.PublishAsync("news", "after", ct));
        Assert.Equal("after", await received.Reader.ReadAsync(ct).AsTask().WaitAsync(Patience, ct));
    }

    [Fact]
    public async Task ASubscriptionThatFailedWhileTheServerWasDownLeavesNoQueueInTheClient()
    {
        // Arrange: a subscriber on a client of its own, the server stopped
        var ct = TestContext.Current.CancellationToken;
        await using var server = await RedisTestServers.StartOwnAsync(RedisServerKind.Garnet);
        var options = RedisTestServers.Options(server.ConnectionString, TimeSpan.FromSeconds(1));
        await using var multiplexer = await ConnectionMultiplexer.ConnectAsync(options.ToConfigurationOptions());
        await using var subscriber = new RedisSubscriber(multiplexer, NullLogger<RedisSubscriber>.Instance);
        var channel = RedisChannel.Literal("news");
        await server.StopAsync();

        // Act: two subscriptions fail (as a retrying service's would), then one succeeds once the server is back
        for (var attempt = 0; attempt < 2; attempt++)
        {
            await Assert.ThrowsAnyAsync<Exception>(() => subscriber.SubscribeAsync("news", (_, _, _) => Task.CompletedTask, cancellationToken: ct));
        }

        await server.RestartAsync(ct);
        var received = Channel.CreateUnbounded<string>();
        await using var subscription = await Eventually.ReturnsAsync(
            async () =>
            {
                try
                {
                    return await subscriber.SubscribeAsync("news", (_, payload, _) => received.Writer.WriteAsync(Encoding.UTF8.GetString(payload.Span), ct).AsTask(), cancellationToken: ct);
                }
                catch (RedisException)
                {
                    return null;
                }
            },
            s => s is not null, Patience);
        await using var redis = new RedisConnection(options);
        await redis.PublishAsync("news", "after", ct);

        // Assert: the client reads the channel into one queue only (each failed one would keep every message unread)
        Assert.Equal("after", await received.Reader.ReadAsync(ct).AsTask().WaitAsync(Patience, ct));
        Assert.Equal(1, await Eventually.ReturnsAsync(() => Task.FromResult(QueuesOf(multiplexer, channel)), queues => queues == 1, Patience));
    }

    /// <summary>The client's own count of the queues it delivers the channel's messages to (not public in the client).</summary>
    private static int QueuesOf(ConnectionMultiplexer multiplexer, RedisChannel channel)
    {
        var counts = typeof(ConnectionMultiplexer).GetMethod("GetSubscriberCounts", BindingFlags.Instance | BindingFlags.NonPublic)
            ?? throw new MissingMethodException("ConnectionMultiplexer.GetSubscriberCounts is gone: read the queue count another way.");
        object?[] arguments = [channel, 0, 0];
        counts.Invoke(multiplexer, arguments);
        return (int)arguments[2]!;
    }
}
