using DirectorsConsole.JobService.Engine;
using DirectorsConsole.Messaging;
using DirectorsConsole.Testing;
using Microsoft.Extensions.Logging.Abstractions;

namespace DirectorsConsole.JobService.Tests.Engine;

/// <summary>A scheduler in the process that rings its wake-up is woken at once, not when the ring comes back from Redis,
/// and only once: the ring that comes back names the process that heard it already. A ring from another process wakes
/// it through Redis.</summary>
public sealed class SchedulerWakeTests(GarnetFixture garnet) : IClassFixture<GarnetFixture>
{
    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Fact]
    public async Task ARingInTheListenersOwnProcessWakesItAtOnceUntilItStopsListening()
    {
        // Arrange: a subscriber that never delivers, so only the ring in this process can wake the listener
        await using var redis = new RedisConnection(new RedisOptions { ConnectionString = garnet.ConnectionString });
        var wake = new SchedulerWake(redis, new SilentSubscriber(), NullLogger<SchedulerWake>.Instance);
        var woken = 0;

        // Act
        var listening = await wake.ListenAsync(() => Interlocked.Increment(ref woken), Token);
        await wake.WakeAsync(Token);
        var whileListening = Volatile.Read(ref woken);
        await listening.DisposeAsync();
        await wake.WakeAsync(Token);

        // Assert
        Assert.Equal(1, whileListening);
        Assert.Equal(1, Volatile.Read(ref woken));
    }

    [Fact]
    public async Task ARingFromAnotherProcessWakesTheListenerAndItsOwnRingWakesItOnce()
    {
        // Arrange: two processes' wake-ups over one Garnet, the first listening
        var options = new RedisOptions { ConnectionString = garnet.ConnectionString };
        await using var redis = new RedisConnection(options);
        await using var listenerSubscriber = new RedisSubscriber(options);
        var listener = new SchedulerWake(redis, listenerSubscriber, NullLogger<SchedulerWake>.Instance);
        var other = new SchedulerWake(redis, new SilentSubscriber(), NullLogger<SchedulerWake>.Instance);
        var woken = 0;
        await using var listening = await listener.ListenAsync(() => Interlocked.Increment(ref woken), Token);

        // Act: the other process rings
        await other.WakeAsync(Token);
        var byOther = await Eventually.ReturnsAsync(() => Task.FromResult(Volatile.Read(ref woken)), n => n == 1, TimeSpan.FromSeconds(5));

        // Act: the listener's own process rings, then the other again (its ring arrives after the first one's)
        await listener.WakeAsync(Token);
        await other.WakeAsync(Token);
        var total = await Eventually.ReturnsAsync(() => Task.FromResult(Volatile.Read(ref woken)), n => n >= 3, TimeSpan.FromSeconds(5));
        await Task.Delay(200, Token);

        // Assert: once by the other's first ring, once at once by its own (whose echo it let pass), once by the other's second
        Assert.Equal(1, byOther);
        Assert.Equal(3, total);
        Assert.Equal(3, Volatile.Read(ref woken));
    }

    private sealed class SilentSubscriber : IRedisSubscriber
    {
        public event Action? SubscriptionsLost
        {
            add { }
            remove { }
        }

        public Task<IAsyncDisposable> SubscribeAsync(
            string channel, Func<string, ReadOnlyMemory<byte>, CancellationToken, Task> onMessage, Func<CancellationToken, Task>? onResubscribed = null,
            bool pattern = false, CancellationToken cancellationToken = default) => Task.FromResult<IAsyncDisposable>(new Nothing());

        private sealed class Nothing : IAsyncDisposable
        {
            public ValueTask DisposeAsync() => ValueTask.CompletedTask;
        }
    }
}
