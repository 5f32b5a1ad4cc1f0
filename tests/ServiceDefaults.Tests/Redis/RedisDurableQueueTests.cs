using DirectorsConsole.Messaging;
using DirectorsConsole.Testing;
using Microsoft.Extensions.Logging.Abstractions;

namespace DirectorsConsole.ServiceDefaults.Tests.Redis;

public sealed class RedisDurableQueueTests(RedisTestServers servers)
{
    private static readonly TimeSpan Visibility = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    public sealed record RenderCommand(string JobId, int Frame);

    [Theory]
    [MemberData(nameof(RedisTestServers.Kinds), MemberType = typeof(RedisTestServers))]
    public async Task MessagesAreReceivedInFifoOrderAndAckedForGood(RedisServerKind kind)
    {
        var ct = TestContext.Current.CancellationToken;
        await using var redis = await ConnectAsync(kind);
        var queue = NewQueue(redis);
        var name = RedisTestServers.UniqueName("fifo");

        var ids = new List<string>();
        for (var frame = 0; frame < 5; frame++)
        {
            ids.Add(await queue.EnqueueAsync(name, new RenderCommand("job", frame), ct));
        }

        Assert.Equal(new QueueCounts(5, 0), await queue.GetCountsAsync(name, ct));
        for (var frame = 0; frame < 5; frame++)
        {
            var delivery = await queue.TryReceiveAsync<RenderCommand>(name, Visibility, ct);
            Assert.NotNull(delivery);
            Assert.Equal(ids[frame], delivery.MessageId);
            Assert.Equal(new RenderCommand("job", frame), delivery.Message);
            Assert.Equal(1, delivery.DeliveryCount);
            Assert.InRange(delivery.EnqueuedAt, DateTimeOffset.UtcNow.AddMinutes(-1), DateTimeOffset.UtcNow.AddMinutes(1));
            Assert.Equal(new QueueCounts(4 - frame, 1), await queue.GetCountsAsync(name, ct));
            Assert.True(await queue.AckAsync(delivery, ct));
            Assert.False(await queue.AckAsync(delivery, ct));
        }

        Assert.Null(await queue.TryReceiveAsync<RenderCommand>(name, Visibility, ct));
        Assert.Equal(new QueueCounts(0, 0), await queue.GetCountsAsync(name, ct));
    }

    [Theory]
    [MemberData(nameof(RedisTestServers.Kinds), MemberType = typeof(RedisTestServers))]
    public async Task MessageOfAConsumerThatDiedIsDeliveredToAnotherAfterTheVisibilityTimeout(RedisServerKind kind)
    {
        var ct = TestContext.Current.CancellationToken;
        await using var redis = await ConnectAsync(kind);
        var queue = NewQueue(redis);
        var name = RedisTestServers.UniqueName("redeliver");
        var id = await queue.EnqueueAsync(name, new RenderCommand("job", 1), ct);

        var died = await queue.TryReceiveAsync<RenderCommand>(name, TimeSpan.FromSeconds(1), ct);
        Assert.NotNull(died);
        Assert.Null(await queue.TryReceiveAsync<RenderCommand>(name, Visibility, ct));
        var second = await queue.ReceiveAsync<RenderCommand>(name, Visibility, TimeSpan.FromSeconds(10), ct);

        Assert.NotNull(second);
        Assert.Equal(id, second.MessageId);
        Assert.Equal(2, second.DeliveryCount);
        Assert.NotEqual(died.LeaseToken, second.LeaseToken);
        Assert.False(await queue.AckAsync(died, ct));
        Assert.False(await queue.ExtendAsync(died, Visibility, ct));
        Assert.False(await queue.ReleaseAsync(died, TimeSpan.Zero, ct));
        Assert.True(await queue.AckAsync(second, ct));
        Assert.Equal(new QueueCounts(0, 0), await queue.GetCountsAsync(name, ct));
    }

    [Theory]
    [MemberData(nameof(RedisTestServers.Kinds), MemberType = typeof(RedisTestServers))]
    public async Task ReleasedMessageComesBackAfterItsDelay(RedisServerKind kind)
    {
        var ct = TestContext.Current.CancellationToken;
        await using var redis = await ConnectAsync(kind);
        var queue = NewQueue(redis);
        var name = RedisTestServers.UniqueName("release");
        await queue.EnqueueAsync(name, new RenderCommand("job", 1), ct);

        var first = await queue.TryReceiveAsync<RenderCommand>(name, Visibility, ct);
        Assert.NotNull(first);
        Assert.True(await queue.ReleaseAsync(first, TimeSpan.FromMilliseconds(500), ct));
        Assert.False(await queue.AckAsync(first, ct));
        Assert.Equal(new QueueCounts(1, 0), await queue.GetCountsAsync(name, ct));
        Assert.Null(await queue.TryReceiveAsync<RenderCommand>(name, Visibility, ct));
        var again = await queue.ReceiveAsync<RenderCommand>(name, Visibility, TimeSpan.FromSeconds(10), ct);

        Assert.NotNull(again);
        Assert.Equal(first.MessageId, again.MessageId);
        Assert.Equal(2, again.DeliveryCount);
        Assert.True(await queue.AckAsync(again, ct));
    }

    [Theory]
    [MemberData(nameof(RedisTestServers.Kinds), MemberType = typeof(RedisTestServers))]
    public async Task ExtendedLeaseIsNotRedelivered(RedisServerKind kind)
    {
        var ct = TestContext.Current.CancellationToken;
        await using var redis = await ConnectAsync(kind);
        var queue = NewQueue(redis);
        var name = RedisTestServers.UniqueName("extend");
        await queue.EnqueueAsync(name, new RenderCommand("job", 1), ct);

        var delivery = await queue.TryReceiveAsync<RenderCommand>(name, TimeSpan.FromSeconds(1), ct);
        Assert.NotNull(delivery);
        Assert.True(await queue.ExtendAsync(delivery, Visibility, ct));
        // Past the original one-second lease: the extension must hold it.
        Assert.Null(await queue.ReceiveAsync<RenderCommand>(name, Visibility, TimeSpan.FromMilliseconds(1500), ct));

        Assert.Equal(new QueueCounts(0, 1), await queue.GetCountsAsync(name, ct));
        Assert.True(await queue.AckAsync(delivery, ct));
    }

    [Theory]
    [MemberData(nameof(RedisTestServers.Kinds), MemberType = typeof(RedisTestServers))]
    public async Task ReceiveWaitsForAMessageEnqueuedLater(RedisServerKind kind)
    {
        var ct = TestContext.Current.CancellationToken;
        await using var redis = await ConnectAsync(kind);
        var queue = NewQueue(redis);
        var name = RedisTestServers.UniqueName("wait");

        var receive = queue.ReceiveAsync<RenderCommand>(name, Visibility, TimeSpan.FromSeconds(10), ct);
        await Task.Delay(200, ct);
        var id = await queue.EnqueueAsync(name, new RenderCommand("job", 9), ct);

        var delivery = await receive;
        Assert.NotNull(delivery);
        Assert.Equal(id, delivery.MessageId);
        Assert.True(await queue.AckAsync(delivery, ct));
    }

    [Theory]
    [MemberData(nameof(RedisTestServers.Kinds), MemberType = typeof(RedisTestServers))]
    public async Task TheProducersTraceContextTravelsWithTheMessage(RedisServerKind kind)
    {
        var ct = TestContext.Current.CancellationToken;
        using var listener = RedisEventBusTests.ListenTo(RedisTelemetry.ActivitySourceName, "DirectorsConsole.Tests.Queue");
        using var testSource = new System.Diagnostics.ActivitySource("DirectorsConsole.Tests.Queue");
        await using var redis = await ConnectAsync(kind);
        var queue = NewQueue(redis);
        var name = RedisTestServers.UniqueName("trace");

        System.Diagnostics.ActivityTraceId producerTrace;
        using (var producer = testSource.StartActivity("producer"))
        {
            producerTrace = producer!.TraceId;
            await queue.EnqueueAsync(name, new RenderCommand("job", 1), ct);
        }

        var delivery = await queue.TryReceiveAsync<RenderCommand>(name, Visibility, ct);
        Assert.NotNull(delivery);
        using var processing = delivery.StartProcessingActivity();

        Assert.Equal(producerTrace, delivery.ProducerContext.TraceId);
        Assert.Equal(producerTrace, processing!.TraceId);
        Assert.True(await queue.AckAsync(delivery, ct));
    }

    [Theory]
    [MemberData(nameof(RedisTestServers.Kinds), MemberType = typeof(RedisTestServers))]
    public async Task AnEnqueueUnderADeduplicationKeyAddsOneMessageHoweverOftenItIsSent(RedisServerKind kind)
    {
        var ct = TestContext.Current.CancellationToken;
        await using var redis = await ConnectAsync(kind);
        var queue = NewQueue(redis);
        var name = RedisTestServers.UniqueName("dedup");

        var id = await queue.EnqueueAsync(name, new RenderCommand("job", 1), "prompt-1", ct);
        Assert.Equal(id, await queue.EnqueueAsync(name, new RenderCommand("job", 1), "prompt-1", ct));
        var other = await queue.EnqueueAsync(name, new RenderCommand("job", 2), "prompt-2", ct);
        Assert.Equal(new QueueCounts(2, 0), await queue.GetCountsAsync(name, ct));
        var delivery = await queue.TryReceiveAsync<RenderCommand>(name, Visibility, ct);
        Assert.True(await queue.AckAsync(delivery!, ct));

        // Also once the message was taken and acknowledged: a late resend is recognised, not added again.
        Assert.Equal(id, await queue.EnqueueAsync(name, new RenderCommand("job", 1), "prompt-1", ct));
        Assert.Equal(new QueueCounts(1, 0), await queue.GetCountsAsync(name, ct));
        Assert.Equal(other, (await queue.TryReceiveAsync<RenderCommand>(name, Visibility, ct))?.MessageId);
    }

    [Theory]
    [MemberData(nameof(RedisTestServers.Kinds), MemberType = typeof(RedisTestServers))]
    public async Task ReclaimMakesTheDeliveriesOfOtherConsumersVisibleAtOnceAndKeepsItsOwn(RedisServerKind kind)
    {
        var ct = TestContext.Current.CancellationToken;
        await using var redis = await ConnectAsync(kind);
        var queue = NewQueue(redis);
        var name = RedisTestServers.UniqueName("reclaim");
        var first = await queue.EnqueueAsync(name, new RenderCommand("job", 1), ct);
        var second = await queue.EnqueueAsync(name, new RenderCommand("job", 2), ct);
        var third = await queue.EnqueueAsync(name, new RenderCommand("job", 3), ct);
        var dead = await queue.TryReceiveAsync<RenderCommand>(name, Visibility, "dead-session", ct);
        var alive = await queue.TryReceiveAsync<RenderCommand>(name, Visibility, "new-session", ct);

        Assert.Equal(1, await queue.ReclaimAsync(name, "new-session", ct));

        // The dead consumer's message comes first again, ahead of the one that was waiting, without waiting 30 s.
        var again = await queue.TryReceiveAsync<RenderCommand>(name, Visibility, "new-session", ct);
        Assert.Equal(first, dead!.MessageId);
        Assert.Equal(first, again?.MessageId);
        Assert.Equal(2, again!.DeliveryCount);
        Assert.False(await queue.AckAsync(dead, ct));
        Assert.Equal(second, alive!.MessageId);
        Assert.True(await queue.AckAsync(alive, ct));
        // The deliveries left are the new session's own.
        Assert.Equal(0, await queue.ReclaimAsync(name, "new-session", ct));
        Assert.Equal(third, (await queue.TryReceiveAsync<RenderCommand>(name, Visibility, "new-session", ct))?.MessageId);
    }

    [Theory]
    [MemberData(nameof(RedisTestServers.Kinds), MemberType = typeof(RedisTestServers))]
    public async Task AReceiveOfManyTakesUpToItsMostInQueueOrderEachADeliveryOfItsOwn(RedisServerKind kind)
    {
        // Arrange
        var ct = TestContext.Current.CancellationToken;
        await using var redis = await ConnectAsync(kind);
        var queue = NewQueue(redis);
        var name = RedisTestServers.UniqueName("many");
        var ids = new List<string>();
        for (var frame = 0; frame < 5; frame++)
        {
            ids.Add(await queue.EnqueueAsync(name, new RenderCommand("job", frame), ct));
        }

        // A message is visible from a time in milliseconds, and equal times go by id: released in the millisecond the
        // others were enqueued in, the first would rightly come back ahead of them.
        await Task.Delay(TimeSpan.FromMilliseconds(5), ct);

        // Act
        var batch = await queue.TryReceiveManyAsync<RenderCommand>(name, Visibility, "consumer", 3, ct);
        var countsHeld = await queue.GetCountsAsync(name, ct);
        var acked = await queue.AckAsync(batch[1], ct);
        var released = await queue.ReleaseAsync(batch[0], TimeSpan.Zero, ct);
        var rest = await queue.TryReceiveManyAsync<RenderCommand>(name, Visibility, "consumer", 10, ct);
        var none = await queue.TryReceiveManyAsync<RenderCommand>(name, Visibility, "consumer", 10, ct);

        // Assert: the first three in order, each acknowledged or released on its own; the released one comes back behind
        // the two that were waiting, a second delivery
        Assert.Equal(ids[..3], batch.Select(delivery => delivery.MessageId));
        Assert.Equal([0, 1, 2], batch.Select(delivery => delivery.Message.Frame));
        Assert.All(batch, delivery => Assert.Equal(1, delivery.DeliveryCount));
        Assert.Equal(new QueueCounts(2, 3), countsHeld);
        Assert.True(acked);
        Assert.True(released);
        Assert.Equal([ids[3], ids[4], ids[0]], rest.Select(delivery => delivery.MessageId));
        Assert.Equal([1, 1, 2], rest.Select(delivery => delivery.DeliveryCount));
        Assert.Empty(none);
        Assert.True(await queue.AckAsync(batch[2], ct));
        Assert.Equal(new QueueCounts(0, 3), await queue.GetCountsAsync(name, ct));
    }

    [Fact]
    public async Task ReceivesOfOneAndOfManyAndAnEnqueueWhoseRepliesWereLostAreSentAgainAndCarriedOutOnce()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var server = await RedisTestServers.StartOwnAsync(RedisServerKind.Garnet);
        await using var relay = new TcpRelay(server.Port);
        // The command timeout is longer than the test takes to break the connection, so only the broken connection ends
        // the commands below, and the grace covers any reconnect on a busy machine.
        var options = RedisTestServers.Options(relay.ConnectionString, TimeSpan.FromSeconds(30));
        options.OutageGrace = TimeSpan.FromMinutes(1);
        await using var redis = new RedisConnection(options);
        await using var direct = new RedisConnection(RedisTestServers.Options(server.ConnectionString));
        var queue = NewQueue(redis);
        var observer = NewQueue(direct);
        var name = RedisTestServers.UniqueName("lost-replies");
        await redis.PingAsync(ct);

        relay.LoseReplies();
        var enqueue = queue.EnqueueAsync(name, new RenderCommand("job", 1), "prompt-1", ct);
        await Eventually.ReturnsAsync(() => observer.GetCountsAsync(name, ct), counts => counts.Waiting == 1);
        relay.BreakConnections();
        var id = await enqueue.WaitAsync(Patience, ct);
        Assert.True(relay.HasSentWhileLosing("prompt-1"), "the enqueue never reached the server before the connection broke");
        await redis.PingAsync(ct);

        relay.LoseReplies();
        var receive = queue.TryReceiveAsync<RenderCommand>(name, Visibility, "consumer", ct);
        await Eventually.ReturnsAsync(() => observer.GetCountsAsync(name, ct), counts => counts.InFlight == 1);
        relay.BreakConnections();
        var delivery = await receive.WaitAsync(Patience, ct);

        // The resent receive got the delivery the first one made: the message is not left in flight to nobody.
        Assert.Equal(id, delivery?.MessageId);
        Assert.Equal(1, delivery!.DeliveryCount);
        Assert.Equal(new QueueCounts(0, 1), await observer.GetCountsAsync(name, ct));
        Assert.True(await queue.AckAsync(delivery, ct));
        Assert.Equal(new QueueCounts(0, 0), await observer.GetCountsAsync(name, ct));

        var ids = new List<string>();
        for (var frame = 2; frame < 5; frame++)
        {
            ids.Add(await observer.EnqueueAsync(name, new RenderCommand("job", frame), ct));
        }

        await redis.PingAsync(ct);
        relay.LoseReplies();
        var receiveMany = queue.TryReceiveManyAsync<RenderCommand>(name, Visibility, "consumer", 2, ct);
        await Eventually.ReturnsAsync(() => observer.GetCountsAsync(name, ct), counts => counts.InFlight == 2);
        relay.BreakConnections();
        var deliveries = await receiveMany.WaitAsync(Patience, ct);

        // The resent receive of several got the deliveries the first one made, in order, and took nothing more.
        Assert.Equal(ids[..2], deliveries.Select(d => d.MessageId));
        Assert.All(deliveries, d => Assert.Equal(1, d.DeliveryCount));
        Assert.Equal(new QueueCounts(1, 2), await observer.GetCountsAsync(name, ct));
    }

    [Theory]
    [MemberData(nameof(RedisTestServers.Kinds), MemberType = typeof(RedisTestServers))]
    public async Task ABatchEnqueueAddsEachMessageToItsQueueOnceWithOneScriptEachInATraceOfItsOwn(RedisServerKind kind)
    {
        var ct = TestContext.Current.CancellationToken;
        using var listener = RedisEventBusTests.ListenTo(RedisTelemetry.ActivitySourceName, "DirectorsConsole.Tests.Queue");
        using var testSource = new System.Diagnostics.ActivitySource("DirectorsConsole.Tests.Queue");
        await using var redis = await ConnectAsync(kind);
        var scripts = new ScriptCounter(redis);
        var queue = NewQueue(scripts);
        var (first, second) = (RedisTestServers.UniqueName("batch-a"), RedisTestServers.UniqueName("batch-b"));
        var earlier = await queue.EnqueueAsync(second, new RenderCommand("job", 0), "prompt-0", ct);
        // Two submissions' traces, and the batch's own span around the call.
        var traceA = new System.Diagnostics.ActivityContext(
            System.Diagnostics.ActivityTraceId.CreateRandom(), System.Diagnostics.ActivitySpanId.CreateRandom(), System.Diagnostics.ActivityTraceFlags.Recorded);
        var traceB = new System.Diagnostics.ActivityContext(
            System.Diagnostics.ActivityTraceId.CreateRandom(), System.Diagnostics.ActivitySpanId.CreateRandom(), System.Diagnostics.ActivityTraceFlags.Recorded);
        using var batch = testSource.StartActivity("batch");
        QueueMessage<RenderCommand>[] messages =
        [
            new(first, new RenderCommand("job", 1), "prompt-1") { Parent = traceA },
            new(second, new RenderCommand("job", 2), "prompt-2") { Parent = traceB },
            new(first, new RenderCommand("job", 3), "prompt-3") { Parent = traceA },
            new(second, new RenderCommand("job", 0), "prompt-0") { Parent = traceB },
        ];

        // Act: the batch, and the same batch again
        var before = scripts.Scripts;
        var ids = await queue.EnqueueManyAsync(messages, ct);
        var sentOnce = scripts.Scripts - before;
        var again = await queue.EnqueueManyAsync(messages, ct);

        // Assert: one script; the message already under its key is not added again, nor is any the second time
        Assert.Equal(1, sentOnce);
        Assert.Equal(ids, again);
        Assert.Equal(earlier, ids[3]);
        Assert.Equal(new QueueCounts(2, 0), await queue.GetCountsAsync(first, ct));
        Assert.Equal(new QueueCounts(2, 0), await queue.GetCountsAsync(second, ct));
        var taken = new List<QueueDelivery<RenderCommand>>();
        foreach (var name in new[] { first, first, second, second })
        {
            taken.Add((await queue.TryReceiveAsync<RenderCommand>(name, Visibility, ct))!);
        }

        Assert.Equal([ids[0], ids[2], ids[3], ids[1]], taken.Select(d => d.MessageId));
        Assert.Equal([1, 3, 0, 2], taken.Select(d => d.Message.Frame));
        Assert.Equal(traceA.TraceId, taken[0].ProducerContext.TraceId);
        Assert.Equal(traceA.TraceId, taken[1].ProducerContext.TraceId);
        Assert.Equal(traceB.TraceId, taken[3].ProducerContext.TraceId);
        Assert.Equal(batch, System.Diagnostics.Activity.Current);
    }

    [Fact]
    public async Task ABatchEnqueueWhoseReplyWasLostIsSentAgainAndAddsNoSecondMessage()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var server = await RedisTestServers.StartOwnAsync(RedisServerKind.Garnet);
        await using var lostReplies = await LostReplyConnection.StartAsync(server.Port, ct);
        var relay = lostReplies.Relay;
        await using var direct = new RedisConnection(RedisTestServers.Options(server.ConnectionString));
        var queue = NewQueue(lostReplies.Redis);
        var observer = NewQueue(direct);
        var (first, second) = (RedisTestServers.UniqueName("lost-batch-a"), RedisTestServers.UniqueName("lost-batch-b"));

        relay.LoseReplies();
        var enqueue = queue.EnqueueManyAsync<RenderCommand>(
        [
            new(first, new RenderCommand("job", 1), "lost-prompt-1"),
            new(second, new RenderCommand("job", 2), "lost-prompt-2"),
            new(first, new RenderCommand("job", 3), "lost-prompt-3"),
        ], ct);
        await Eventually.ReturnsAsync(() => observer.GetCountsAsync(second, ct), counts => counts.Waiting == 1);
        relay.BreakConnections();
        var ids = await enqueue.WaitAsync(Patience, ct);

        Assert.True(relay.HasSentWhileLosing("lost-prompt-3"), "the batch never reached the server before the connection broke");
        Assert.Equal(3, ids.Select((id, i) => (id, i == 1)).Distinct().Count());
        Assert.Equal(new QueueCounts(2, 0), await observer.GetCountsAsync(first, ct));
        Assert.Equal(new QueueCounts(1, 0), await observer.GetCountsAsync(second, ct));
        Assert.Equal(ids[0], (await observer.TryReceiveAsync<RenderCommand>(first, Visibility, ct))?.MessageId);
        Assert.Equal(ids[2], (await observer.TryReceiveAsync<RenderCommand>(first, Visibility, ct))?.MessageId);
        Assert.Equal(ids[1], (await observer.TryReceiveAsync<RenderCommand>(second, Visibility, ct))?.MessageId);
    }

    [Theory]
    [MemberData(nameof(RedisTestServers.Kinds), MemberType = typeof(RedisTestServers))]
    public async Task WaitingConsumerIsWokenByAnEnqueueFromAnotherProcess(RedisServerKind kind)
    {
        var ct = TestContext.Current.CancellationToken;
        var server = await servers.GetAsync(kind);
        var options = RedisTestServers.Options(server.ConnectionString);
        await using var consumerRedis = new RedisConnection(options);
        await using var consumerSubscriber = new RedisSubscriber(options);
        // Its polls never come: only the wake-up can hand it a message enqueued after it started waiting.
        var neverPolls = new NeverFiringTimeProvider();
        var consumer = new RedisDurableQueue(consumerRedis, consumerSubscriber, NullLogger<RedisDurableQueue>.Instance, neverPolls);
        await using var producerRedis = new RedisConnection(options);
        await using var producerSubscriber = new RedisSubscriber(options);
        var producer = new RedisDurableQueue(producerRedis, producerSubscriber, NullLogger<RedisDurableQueue>.Instance, TimeProvider.System);
        var name = RedisTestServers.UniqueName("wake");

        var receive = consumer.ReceiveAsync<RenderCommand>(name, Visibility, TimeSpan.FromMinutes(10), "consumer", ct);
        await neverPolls.Sleeping.WaitAsync(Patience, ct);
        Assert.False(receive.IsCompleted);
        var id = await producer.EnqueueAsync(name, new RenderCommand("job", 1), ct);

        var delivery = await receive.WaitAsync(Patience, ct);
        Assert.Equal(id, delivery?.MessageId);
        Assert.Equal(new RenderCommand("job", 1), delivery!.Message);
        Assert.True(await consumer.AckAsync(delivery, ct));
    }

    [Theory]
    [MemberData(nameof(RedisTestServers.Kinds), MemberType = typeof(RedisTestServers))]
    public async Task WokenConsumersTakeEachMessageOnceInOrder(RedisServerKind kind)
    {
        var ct = TestContext.Current.CancellationToken;
        var server = await servers.GetAsync(kind);
        var options = RedisTestServers.Options(server.ConnectionString);
        await using var redis = new RedisConnection(options);
        await using var subscriber = new RedisSubscriber(options);
        var neverPolls = new NeverFiringTimeProvider();
        var consumers = new RedisDurableQueue(redis, subscriber, NullLogger<RedisDurableQueue>.Instance, neverPolls);
        var producer = new RedisDurableQueue(redis, subscriber, NullLogger<RedisDurableQueue>.Instance, TimeProvider.System);
        var name = RedisTestServers.UniqueName("wake-many");

        // Three consumers asleep on the same queue; each message wakes them all and exactly one takes it.
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var taken = new List<QueueDelivery<RenderCommand>>();
        var loops = Enumerable.Range(0, 3).Select(i => Task.Run(async () =>
        {
            while (true)
            {
                var delivery = await consumers.ReceiveAsync<RenderCommand>(name, Visibility, TimeSpan.FromMinutes(10), $"consumer-{i}", stop.Token);
                Assert.NotNull(delivery);
                lock (taken)
                {
                    taken.Add(delivery);
                }
            }
        }, ct)).ToList();
        for (var frame = 0; frame < 6; frame++)
        {
            await neverPolls.WaitForSleepersAsync(3, Patience, ct);
            await producer.EnqueueAsync(name, new RenderCommand("job", frame), ct);
            await Eventually.ReturnsAsync(() => Task.FromResult(taken.Count), count => count == frame + 1);
        }

        await neverPolls.WaitForSleepersAsync(3, Patience, ct);
        await stop.CancelAsync();
        foreach (var loop in loops)
        {
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => loop);
        }

        foreach (var delivery in taken)
        {
            Assert.True(await producer.AckAsync(delivery, ct));
        }

        Assert.Equal(Enumerable.Range(0, 6), taken.Select(d => d.Message.Frame));
        Assert.All(taken, d => Assert.Equal(1, d.DeliveryCount));
        Assert.Equal(new QueueCounts(0, 0), await producer.GetCountsAsync(name, ct));
    }

    /// <summary>Real clocks, but timers that never fire: a consumer that found nothing sleeps until woken. Counts the
    /// consumers asleep (timers made and not yet disposed: a woken consumer's sleep is cancelled, which disposes it).</summary>
    private sealed class NeverFiringTimeProvider : TimeProvider
    {
        private readonly TaskCompletionSource _sleeping = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _sleepers;

        public Task Sleeping => _sleeping.Task;

        public async Task WaitForSleepersAsync(int count, TimeSpan patience, CancellationToken cancellationToken)
        {
            var deadline = DateTime.UtcNow + patience;
            while (Volatile.Read(ref _sleepers) != count)
            {
                if (DateTime.UtcNow > deadline)
                {
                    throw new TimeoutException($"{_sleepers} consumers asleep, not {count}.");
                }

                await Task.Delay(10, cancellationToken);
            }
        }

        public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
        {
            Interlocked.Increment(ref _sleepers);
            _sleeping.TrySetResult();
            return new SilentTimer(this);
        }

        private sealed class SilentTimer(NeverFiringTimeProvider owner) : ITimer
        {
            private int _disposed;

            public bool Change(TimeSpan dueTime, TimeSpan period) => true;

            public void Dispose()
            {
                if (Interlocked.Exchange(ref _disposed, 1) == 0)
                {
                    Interlocked.Decrement(ref owner._sleepers);
                }
            }

            public ValueTask DisposeAsync()
            {
                Dispose();
                return ValueTask.CompletedTask;
            }
        }
    }

    private async Task<RedisConnection> ConnectAsync(RedisServerKind kind)
    {
        var server = await servers.GetAsync(kind);
        return new RedisConnection(RedisTestServers.Options(server.ConnectionString));
    }

    private static RedisDurableQueue NewQueue(IRedisConnection redis) =>
        new(redis, NullLogger<RedisDurableQueue>.Instance, TimeProvider.System);
}
