using DirectorsConsole.JobService.Engine;
using DirectorsConsole.Messaging;
using DirectorsConsole.Testing;
using Microsoft.Extensions.Logging.Abstractions;

namespace DirectorsConsole.JobService.Tests.Engine;

/// <summary>A scheduler in the process that rings its wake-up is woken at once, not when the ring comes back from Redis.</summary>
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
