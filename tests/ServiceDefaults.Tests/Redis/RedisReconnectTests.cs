using System.Text;
using System.Threading.Channels;
using DirectorsConsole.Messaging;
using DirectorsConsole.Testing;

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
}
