using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using DirectorsConsole.JobService.Engine;
using DirectorsConsole.JobService.Model;
using DirectorsConsole.Messaging;
using DirectorsConsole.Testing;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace DirectorsConsole.JobService.Tests.Engine;

/// <summary>The watchers of one stream in a replica share its reads: each still gets every event once, in order, also
/// one that starts behind the others, while Redis is read about once per notification rather than once per watcher,
/// and every watcher gets the same event objects (parsed, and made into the client's message, once). The poll is set to
/// ten minutes, so only the notifications can deliver within the test.</summary>
public sealed class SharedStreamReadTests(GarnetFixture garnet) : IClassFixture<GarnetFixture>
{
    private const int Watchers = 40;
    private const int Earlier = 5;
    private const int Later = 10;

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Fact]
    public async Task EveryWatcherGetsEveryEventInOrderWithOneReadPerNotification()
    {
        var options = new RedisOptions { ConnectionString = garnet.ConnectionString };
        await using var direct = new RedisConnection(options);
        await using var connection = new RedisConnection(options);
        var counted = new ScriptCounter(connection);
        await using var subscriber = new RedisSubscriber(options);
        await using var streams = new RedisJobEventStream(
            counted, subscriber, new JobStore(counted, NullLogger<JobStore>.Instance), Options.Create(new JobEngineOptions { StreamPollInterval = TimeSpan.FromMinutes(10) }),
            NullLogger<RedisJobEventStream>.Instance);
        var stream = JobStreamId.Group(Guid.NewGuid().ToString());
        for (var i = 1; i <= Earlier; i++)
        {
            await AppendAsync(direct, stream, i, notify: false);
        }

        var received = Enumerable.Range(0, Watchers).Select(_ => new ConcurrentQueue<JobStreamEvent>()).ToArray();
        var subscriptions = new List<IAsyncDisposable>();
        for (var w = 0; w < Watchers; w++)
        {
            var mine = received[w];
            subscriptions.Add(await streams.SubscribeAsync(stream, Earlier, (e, _) =>
            {
                mine.Enqueue(e);
                return Task.CompletedTask;
            }, Token));
        }

        // A watcher that starts asks for a read (what came between its snapshot and its subscription); the first
        // event after them all shows every such read is done.
        await AppendAsync(direct, stream, Earlier + 1, notify: true);
        await Eventually.ReturnsAsync(() => Task.FromResult(received.Min(q => q.Count)), count => count == 1);
        var readsBefore = ListRanges(counted);
        for (var i = Earlier + 2; i <= Earlier + Later; i++)
        {
            await AppendAsync(direct, stream, i, notify: true);
            await Eventually.ReturnsAsync(() => Task.FromResult(received.Min(q => q.Count)), count => count == i - Earlier);
        }

        var reads = ListRanges(counted) - readsBefore;
        // One watcher started behind the others: it reads what it missed on its own, then shares.
        var late = new ConcurrentQueue<JobStreamEvent>();
        subscriptions.Add(await streams.SubscribeAsync(stream, 1, (e, _) =>
        {
            late.Enqueue(e);
            return Task.CompletedTask;
        }, Token));
        await AppendAsync(direct, stream, Earlier + Later + 1, notify: true);
        await Eventually.ReturnsAsync(() => Task.FromResult(late.Count), count => count == Earlier + Later);

        foreach (var watcher in received)
        {
            Assert.Equal(Enumerable.Range(Earlier + 1, Later).Select(i => (long)i), watcher.Take(Later).Select(e => e.Sequence));
            Assert.Equal(Enumerable.Range(Earlier + 1, Later), watcher.Take(Later).Select(e => (int)e.Payload["n"]!));
        }

        Assert.Equal(Enumerable.Range(2, Earlier + Later), late.Select(e => (int)e.Payload["n"]!));
        for (var i = 0; i < Later; i++)
        {
            Assert.All(received, watcher => Assert.Same(received[0].ElementAt(i), watcher.ElementAt(i)));
        }

        // About one read per notification (a few more where a notification came while a read was under way), against
        // Watchers × Later when every watcher read for itself.
        Assert.InRange(reads, 1, 3 * Later);
        foreach (var subscription in subscriptions)
        {
            await subscription.DisposeAsync();
        }
    }

    /// <summary>Appends a <c>child_progress</c> carrying <c>n</c> to the stream as the engine stores it, and notifies.</summary>
    [Fact]
    public async Task ANotificationWithNothingNewForAWatcherDeliversNothingAndIsNoFailure()
    {
        // Arrange
        var options = new RedisOptions { ConnectionString = garnet.ConnectionString };
        await using var direct = new RedisConnection(options);
        await using var connection = new RedisConnection(options);
        await using var subscriber = new RedisSubscriber(options);
        var logger = new WarningRecorder();
        await using var streams = new RedisJobEventStream(
            connection, subscriber, new JobStore(connection, NullLogger<JobStore>.Instance), Options.Create(new JobEngineOptions { StreamPollInterval = TimeSpan.FromMinutes(10) }),
            logger);
        var stream = JobStreamId.Group(Guid.NewGuid().ToString());
        var received = new ConcurrentQueue<JobStreamEvent>();
        await using var subscription = await streams.SubscribeAsync(stream, 0, (e, _) =>
        {
            received.Enqueue(e);
            return Task.CompletedTask;
        }, Token);
        await AppendAsync(direct, stream, 1, notify: true);
        await Eventually.ReturnsAsync(() => Task.FromResult(received.Count), count => count == 1);

        // Act: notifications of events the watcher already has, then a new one
        for (var i = 0; i < 5; i++)
        {
            await direct.PublishAsync(JobKeys.StreamNotifications, stream.ToString(), Token);
        }

        await AppendAsync(direct, stream, 2, notify: true);
        await Eventually.ReturnsAsync(() => Task.FromResult(received.Count), count => count >= 2);

        // Assert
        Assert.Equal([1L, 2L], received.Select(e => e.Sequence));
        Assert.Empty(logger.Warnings);
    }

    /// <summary>Keeps every warning or error logged.</summary>
    private sealed class WarningRecorder : ILogger<RedisJobEventStream>
    {
        public ConcurrentQueue<string> Warnings { get; } = new();

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Warning;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (IsEnabled(logLevel))
            {
                Warnings.Enqueue(formatter(state, exception) + " " + exception?.Message);
            }
        }
    }

    internal static async Task AppendAsync(IRedisConnection redis, JobStreamId stream, int n, bool notify)
    {
        var stored = new JsonObject
        {
            ["type"] = "child_progress",
            ["payload"] = new JsonObject { ["n"] = n },
            ["at"] = DateTimeOffset.UtcNow.ToString("O"),
        };
        await redis.ListRightPushAsync(JobKeys.Stream(stream), stored.ToJsonString(), Token);
        if (notify)
        {
            await redis.PublishAsync(JobKeys.StreamNotifications, stream.ToString(), Token);
        }
    }

    /// <summary>The <c>LRANGE</c> commands sent through <paramref name="counted"/> so far.</summary>
    private static int ListRanges(ScriptCounter counted) =>
        counted.CountCommands(command => string.Equals(command[0], "LRANGE", StringComparison.OrdinalIgnoreCase));
}
