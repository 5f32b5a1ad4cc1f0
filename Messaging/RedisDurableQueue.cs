using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Microsoft.Extensions.Logging;

namespace DirectorsConsole.Messaging;

/// <summary>
/// At-least-once queues built from hashes, sorted sets and Lua only (Garnet has no streams). Per queue:
/// <list type="bullet">
/// <item><c>dc:q:{q}:msg</c> hash id → envelope JSON</item>
/// <item><c>dc:q:{q}:ready</c> sorted set id scored by the time it becomes visible (ms); ids are zero-padded
/// sequence numbers, so equal scores still come out first-in first-out</item>
/// <item><c>dc:q:{q}:inflight</c> sorted set id scored by its lease deadline (ms)</item>
/// <item><c>dc:q:{q}:lease</c> hash id → lease token of the current delivery</item>
/// <item><c>dc:q:{q}:deliveries</c> hash id → number of deliveries so far</item>
/// <item><c>dc:q:{q}:consumer</c> hash id → the consumer that holds the current delivery</item>
/// <item><c>dc:q:{q}:seq</c> the id counter</item>
/// <item><c>dc:q:{q}:dedup:{key}</c> the id of the message enqueued under a deduplication key (expires)</item>
/// </list>
/// Every script reads the clock with <c>TIME</c> on the server, so consumers on machines whose clocks
/// disagree still agree on when a lease has expired.
/// <para>When the connection to Redis breaks after a command was sent and before its reply came back, the client
/// cannot know whether it was carried out. Every command here is therefore safe to send again: an enqueue with a
/// deduplication key finds the message it already added, a receive finds the delivery it already made under the
/// lease token the caller chose, an ack or release sent again finds the lease gone and changes nothing, an extend
/// sets the same deadline again. Without that, a receive whose reply was lost left a message invisible to everyone
/// for a whole visibility timeout.</para>
/// <para>A consumer waiting in <see cref="ReceiveAsync{TMessage}(string, TimeSpan, TimeSpan, string, CancellationToken)"/>
/// is woken by a publish on <c>dc:q:{q}:wake</c> after each enqueue, a release without delay and a reclaim, so it takes a
/// message within a round trip of its enqueue instead of at its next poll. The wake-up is only a hint: the receive is the
/// same script, and the polls (50 ms doubling to 1 s) still find what a lost publish did not announce, messages whose
/// delay ran out and expired leases. Without a subscriber (tools and tests) consumers only poll.</para>
/// </summary>
public sealed class RedisDurableQueue(IRedisConnection redis, IRedisSubscriber? subscriber, ILogger<RedisDurableQueue> logger, TimeProvider timeProvider)
    : IDurableQueue
{
    /// <summary>A queue whose consumers only poll.</summary>
    public RedisDurableQueue(IRedisConnection redis, ILogger<RedisDurableQueue> logger, TimeProvider timeProvider)
        : this(redis, subscriber: null, logger, timeProvider)
    {
    }

    private const string Now = """
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        """;

    // A lease is held while the token matches and the id is still in flight (not yet moved back to ready).
    // KEYS[2] is the in-flight set and KEYS[3] the lease hash in every script that uses this.
    private const string RequireLease = """
        if redis.call('HGET', KEYS[3], ARGV[1]) ~= ARGV[2] or not redis.call('ZSCORE', KEYS[2], ARGV[1]) then
          return 0
        end
        """;

    // KEYS: msg, ready, seq. ARGV: envelope.
    private const string EnqueueScript = Now + "\n" + """
        local id = string.format('%016d', redis.call('INCR', KEYS[3]))
        redis.call('HSET', KEYS[1], id, ARGV[1])
        redis.call('ZADD', KEYS[2], now, id)
        return id
        """;

    // KEYS: per message msg, ready, seq, dedup (4 each). ARGV: dedup window ms, then the envelope of each message.
    // Replies with the id of each message: the one already under its deduplication key, or the new one.
    // A message's deduplication key is written after its message: Garnet may keep only the first commands of a script
    // when it dies while committing one, and a key without its message would make a resent enqueue drop the message; a
    // message without its key is at worst delivered twice, which consumers tolerate.
    private const string EnqueueOnceScript = Now + "\n" + """
        local ids = {}
        for i = 1, #KEYS / 4 do
          local k = (i - 1) * 4
          local existing = redis.call('GET', KEYS[k + 4])
          if existing then
            ids[i] = existing
          else
            local id = string.format('%016d', redis.call('INCR', KEYS[k + 3]))
            redis.call('HSET', KEYS[k + 1], id, ARGV[i + 1])
            redis.call('ZADD', KEYS[k + 2], now, id)
            redis.call('SET', KEYS[k + 4], id, 'PX', ARGV[1])
            ids[i] = id
          end
        end
        return ids
        """;

    // KEYS: msg, ready, inflight, lease, deliveries, consumer. ARGV: visibility ms, new lease token, consumer, the most
    // messages to take. Replies with id, envelope and delivery count of each message taken, in the order taken.
    // A receive sent again after its reply was lost finds the deliveries it made under the same token and returns them
    // again, in the order of their ids (a queue has few deliveries in flight, so looking through them is cheap).
    // Expired leases go back to ready at their deadline, so a redelivery keeps its place ahead of newer work.
    private const string ReceiveScript = Now + "\n" + """
        local taken = {}
        local again = {}
        local leases = redis.call('HGETALL', KEYS[4])
        for i = 1, #leases, 2 do
          if leases[i + 1] == ARGV[2] and redis.call('ZSCORE', KEYS[3], leases[i]) then
            table.insert(again, leases[i])
          end
        end
        if #again > 0 then
          table.sort(again)
          for _, id in ipairs(again) do
            table.insert(taken, id)
            table.insert(taken, redis.call('HGET', KEYS[1], id))
            table.insert(taken, tonumber(redis.call('HGET', KEYS[5], id)))
          end
          return taken
        end
        local expired = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now, 'WITHSCORES', 'LIMIT', 0, 100)
        for i = 1, #expired, 2 do
          redis.call('ZREM', KEYS[3], expired[i])
          redis.call('HDEL', KEYS[6], expired[i])
          redis.call('ZADD', KEYS[2], expired[i + 1], expired[i])
        end
        local max = tonumber(ARGV[4])
        while #taken < max * 3 do
          local ready = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, 1)
          if #ready == 0 then break end
          local id = ready[1]
          redis.call('ZREM', KEYS[2], id)
          local envelope = redis.call('HGET', KEYS[1], id)
          if envelope then
            local count = redis.call('HINCRBY', KEYS[5], id, 1)
            redis.call('HSET', KEYS[6], id, ARGV[3])
            redis.call('ZADD', KEYS[3], now + tonumber(ARGV[1]), id)
            redis.call('HSET', KEYS[4], id, ARGV[2])
            table.insert(taken, id)
            table.insert(taken, envelope)
            table.insert(taken, count)
          else
            redis.call('HDEL', KEYS[4], id)
            redis.call('HDEL', KEYS[5], id)
          end
        end
        return taken
        """;

    // KEYS: msg, inflight, lease, deliveries, consumer. ARGV: id, token.
    private const string AckScript = RequireLease + "\n" + """
        redis.call('ZREM', KEYS[2], ARGV[1])
        redis.call('HDEL', KEYS[1], ARGV[1])
        redis.call('HDEL', KEYS[3], ARGV[1])
        redis.call('HDEL', KEYS[4], ARGV[1])
        redis.call('HDEL', KEYS[5], ARGV[1])
        return 1
        """;

    // KEYS: ready, inflight, lease, consumer. ARGV: id, token, delay ms.
    private const string ReleaseScript = RequireLease + "\n" + Now + "\n" + """
        redis.call('ZREM', KEYS[2], ARGV[1])
        redis.call('HDEL', KEYS[3], ARGV[1])
        redis.call('HDEL', KEYS[4], ARGV[1])
        redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
        return 1
        """;

    // KEYS: ready, inflight, lease, consumer. ARGV: the consumer whose deliveries stay.
    // Score 0 puts a reclaimed message ahead of everything waiting: it was taken before any of them.
    private const string ReclaimScript = """
        local ids = redis.call('ZRANGE', KEYS[2], 0, -1)
        local reclaimed = 0
        for _, id in ipairs(ids) do
          if redis.call('HGET', KEYS[4], id) ~= ARGV[1] then
            redis.call('ZREM', KEYS[2], id)
            redis.call('HDEL', KEYS[3], id)
            redis.call('HDEL', KEYS[4], id)
            redis.call('ZADD', KEYS[1], 0, id)
            reclaimed = reclaimed + 1
          end
        end
        return reclaimed
        """;

    // KEYS: msg, inflight, lease. ARGV: id, token, visibility ms.
    private const string ExtendScript = RequireLease + "\n" + Now + "\n" + """
        redis.call('ZADD', KEYS[2], now + tonumber(ARGV[3]), ARGV[1])
        return 1
        """;

    private static readonly TimeSpan FirstPollDelay = TimeSpan.FromMilliseconds(50);
    private static readonly TimeSpan MaxPollDelay = TimeSpan.FromSeconds(1);

    /// <summary>How long a deduplication key is remembered: far longer than a connection outage a command rides out
    /// (<see cref="RedisOptions.OutageGrace"/>), short enough that the keys of a busy queue take little memory.</summary>
    public static readonly TimeSpan DeduplicationWindow = TimeSpan.FromMinutes(5);

    private readonly ConcurrentDictionary<string, QueueWakeup> _wakeups = new(StringComparer.Ordinal);

    public async Task<string> EnqueueAsync<TMessage>(string queue, TMessage message, CancellationToken cancellationToken = default)
    {
        var keys = QueueKeys.For(queue);
        using var activity = StartSendActivity(queue, default);
        var reply = await redis.ScriptEvaluateAsync(
            EnqueueScript, [keys.Messages, keys.Ready, keys.Sequence], [Envelope(message, activity, default)], cancellationToken).ConfigureAwait(false);
        var id = reply.AsString()!;
        activity?.SetTag("messaging.message.id", id);
        await WakeConsumersAsync(keys, cancellationToken).ConfigureAwait(false);
        return id;
    }

    public async Task<string> EnqueueAsync<TMessage>(string queue, TMessage message, string deduplicationKey, CancellationToken cancellationToken = default) =>
        (await EnqueueManyAsync([new QueueMessage<TMessage>(queue, message, deduplicationKey)], cancellationToken).ConfigureAwait(false))[0];

    public async Task<IReadOnlyList<string>> EnqueueManyAsync<TMessage>(IReadOnlyList<QueueMessage<TMessage>> messages, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(messages);
        if (messages.Count == 0)
        {
            return [];
        }

        var keys = new List<string>(messages.Count * 4);
        var args = new List<RedisArg>(messages.Count + 1) { (long)DeduplicationWindow.TotalMilliseconds };
        var queues = new Dictionary<string, QueueKeys>(StringComparer.Ordinal);
        var activities = new Activity?[messages.Count];
        var current = Activity.Current;
        try
        {
            for (var i = 0; i < messages.Count; i++)
            {
                var message = messages[i];
                ArgumentException.ThrowIfNullOrEmpty(message.DeduplicationKey);
                if (!queues.TryGetValue(message.Queue, out var queueKeys))
                {
                    queues[message.Queue] = queueKeys = QueueKeys.For(message.Queue);
                }

                keys.AddRange([queueKeys.Messages, queueKeys.Ready, queueKeys.Sequence, queueKeys.Deduplication(message.DeduplicationKey)]);
                activities[i] = StartSendActivity(message.Queue, message.Parent);
                // Each send is a child of its own message's parent, not of the send before it.
                Activity.Current = current;
                args.Add(Envelope(message.Message, activities[i], message.Parent));
            }

            var reply = await redis.ScriptEvaluateAsync(EnqueueOnceScript, keys, args, OnLostReply.Resend, cancellationToken).ConfigureAwait(false);
            var ids = reply.Items.Select(item => item.AsString()!).ToList();
            for (var i = 0; i < ids.Count; i++)
            {
                activities[i]?.SetTag("messaging.message.id", ids[i]);
            }

            await Task.WhenAll(queues.Values.Select(queueKeys => WakeConsumersAsync(queueKeys, cancellationToken))).ConfigureAwait(false);
            return ids;
        }
        finally
        {
            foreach (var activity in activities)
            {
                activity?.Dispose();
            }

            Activity.Current = current;
        }
    }

    /// <summary>The producer span of one message; <paramref name="parent"/> default: the current activity.</summary>
    private static Activity? StartSendActivity(string queue, ActivityContext parent)
    {
        var activity = RedisTelemetry.Source.StartActivity($"send {queue}", ActivityKind.Producer, parent);
        activity?.SetTag("messaging.system", "redis");
        activity?.SetTag("messaging.destination.name", queue);
        return activity;
    }

    /// <summary>The stored form of a message, carrying the trace context of its send span (or, when that was not
    /// recorded, of <paramref name="parent"/>, or of the current activity).</summary>
    private string Envelope<TMessage>(TMessage message, Activity? activity, ActivityContext parent)
    {
        var (traceParent, traceState) = activity is null && parent != default ? TraceContext.Capture(parent) : TraceContext.Capture(activity);
        var envelope = new QueueEnvelope(
            typeof(TMessage).Name,
            JsonSerializer.SerializeToElement(message, RedisEventBus.DataJson),
            traceParent,
            traceState,
            timeProvider.GetUtcNow().UtcDateTime);
        return JsonSerializer.Serialize(envelope, RedisEventBus.EnvelopeJson);
    }

    public Task<QueueDelivery<TMessage>?> TryReceiveAsync<TMessage>(
        string queue, TimeSpan visibilityTimeout, CancellationToken cancellationToken = default) =>
        TryReceiveAsync<TMessage>(queue, visibilityTimeout, consumer: "", cancellationToken);

    public async Task<QueueDelivery<TMessage>?> TryReceiveAsync<TMessage>(
        string queue, TimeSpan visibilityTimeout, string consumer, CancellationToken cancellationToken = default) =>
        (await TryReceiveManyAsync<TMessage>(queue, visibilityTimeout, consumer, max: 1, cancellationToken).ConfigureAwait(false)) is [var delivery] ? delivery : null;

    public async Task<IReadOnlyList<QueueDelivery<TMessage>>> TryReceiveManyAsync<TMessage>(
        string queue, TimeSpan visibilityTimeout, string consumer, int max, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(consumer);
        ArgumentOutOfRangeException.ThrowIfLessThan(max, 1);
        var keys = QueueKeys.For(queue);
        var leaseToken = Guid.NewGuid().ToString("N");
        var reply = await redis.ScriptEvaluateAsync(
            ReceiveScript,
            [keys.Messages, keys.Ready, keys.InFlight, keys.Leases, keys.Deliveries, keys.Consumers],
            [ToMilliseconds(visibilityTimeout), leaseToken, consumer, max],
            OnLostReply.Resend,
            cancellationToken).ConfigureAwait(false);
        if (reply.IsNull || reply.Items.Count == 0)
        {
            return [];
        }

        var items = reply.Items;
        var deliveries = new List<QueueDelivery<TMessage>>(items.Count / 3);
        for (var i = 0; i + 2 < items.Count; i += 3)
        {
            if (ReadDelivery<TMessage>(queue, items[i].AsString()!, items[i + 1].AsString(), (int)items[i + 2].AsInt64(), leaseToken) is { } delivery)
            {
                deliveries.Add(delivery);
            }
        }

        return deliveries;
    }

    /// <summary>One delivery of a receive, or null (logged) when its message's body cannot be read.</summary>
    private QueueDelivery<TMessage>? ReadDelivery<TMessage>(string queue, string id, string? envelopeJson, int deliveryCount, string leaseToken)
    {
        QueueEnvelope envelope;
        TMessage message;
        try
        {
            envelope = JsonSerializer.Deserialize<QueueEnvelope>(envelopeJson ?? "null", RedisEventBus.EnvelopeJson)
                ?? throw new JsonException($"Message {id} in queue '{queue}' has an empty envelope.");
            message = envelope.Payload.Deserialize<TMessage>(RedisEventBus.DataJson)!;
        }
        catch (JsonException ex)
        {
            logger.LogError(ex, "Message {MessageId} in queue {Queue} is not a {MessageType}; it stays in flight until its visibility timeout",
                id, queue, typeof(TMessage).Name);
            return null;
        }

        var producer = TraceContext.Parse(envelope.Traceparent, envelope.Tracestate);
        using var activity = RedisTelemetry.Source.StartActivity($"receive {queue}", ActivityKind.Consumer, producer);
        activity?.SetTag("messaging.system", "redis");
        activity?.SetTag("messaging.destination.name", queue);
        activity?.SetTag("messaging.message.id", id);
        activity?.SetTag("messaging.redis.delivery_count", deliveryCount);
        return new QueueDelivery<TMessage>(
            queue, id, leaseToken, deliveryCount, message,
            new DateTimeOffset(DateTime.SpecifyKind(envelope.EnqueuedAt, DateTimeKind.Utc)))
        {
            ProducerContext = producer,
        };
    }

    public Task<QueueDelivery<TMessage>?> ReceiveAsync<TMessage>(
        string queue, TimeSpan visibilityTimeout, TimeSpan wait, CancellationToken cancellationToken = default) =>
        ReceiveAsync<TMessage>(queue, visibilityTimeout, wait, consumer: "", cancellationToken);

    public async Task<QueueDelivery<TMessage>?> ReceiveAsync<TMessage>(
        string queue, TimeSpan visibilityTimeout, TimeSpan wait, string consumer, CancellationToken cancellationToken = default) =>
        (await ReceiveManyAsync<TMessage>(queue, visibilityTimeout, wait, consumer, max: 1, cancellationToken).ConfigureAwait(false)) is [var delivery] ? delivery : null;

    public async Task<IReadOnlyList<QueueDelivery<TMessage>>> ReceiveManyAsync<TMessage>(
        string queue, TimeSpan visibilityTimeout, TimeSpan wait, string consumer, int max, CancellationToken cancellationToken = default)
    {
        var started = timeProvider.GetTimestamp();
        var delay = FirstPollDelay;
        var wakeup = await WakeupAsync(queue, cancellationToken).ConfigureAwait(false);
        while (true)
        {
            // Taken before the receive: a message enqueued after the receive looked is announced after this.
            var woken = wakeup?.Next ?? Task.CompletedTask;
            var deliveries = await TryReceiveManyAsync<TMessage>(queue, visibilityTimeout, consumer, max, cancellationToken).ConfigureAwait(false);
            var remaining = wait - timeProvider.GetElapsedTime(started);
            if (deliveries.Count > 0 || remaining <= TimeSpan.Zero)
            {
                return deliveries;
            }

            var pause = delay < remaining ? delay : remaining;
            if (wakeup is null)
            {
                await Task.Delay(pause, timeProvider, cancellationToken).ConfigureAwait(false);
            }
            else
            {
                using var sleep = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                await Task.WhenAny(Task.Delay(pause, timeProvider, sleep.Token), woken).ConfigureAwait(false);
                await sleep.CancelAsync().ConfigureAwait(false);
                cancellationToken.ThrowIfCancellationRequested();
            }

            delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, MaxPollDelay.Ticks));
        }
    }

    /// <summary>The wake-ups of <paramref name="queue"/> in this process, subscribed on first use; null without a
    /// subscriber or while the subscription cannot be made (the consumer polls and the next receive tries again).</summary>
    private async Task<QueueWakeup?> WakeupAsync(string queue, CancellationToken cancellationToken)
    {
        if (subscriber is null)
        {
            return null;
        }

        var wakeup = _wakeups.GetOrAdd(queue, name => new QueueWakeup(QueueKeys.For(name).Wake));
        try
        {
            await wakeup.SubscribeAsync(subscriber, cancellationToken).ConfigureAwait(false);
            return wakeup;
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            logger.LogWarning(ex, "Consumers of queue {Queue} could not subscribe to its wake-ups; they poll until the next receive subscribes", queue);
            return null;
        }
    }

    /// <summary>Tells the consumers waiting on the queue, in every process, to look now. A failed publish is logged and
    /// left to their polls.</summary>
    private async Task WakeConsumersAsync(QueueKeys keys, CancellationToken cancellationToken)
    {
        if (subscriber is null)
        {
            return;
        }

        try
        {
            await redis.PublishAsync(keys.Wake, "1", cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            logger.LogWarning(ex, "Could not wake the consumers of {Channel}; they find the message at their next poll", keys.Wake);
        }
    }

    public async Task<bool> AckAsync(QueueDeliveryInfo delivery, CancellationToken cancellationToken = default)
    {
        var keys = QueueKeys.For(delivery.Queue);
        var reply = await redis.ScriptEvaluateAsync(
            AckScript,
            [keys.Messages, keys.InFlight, keys.Leases, keys.Deliveries, keys.Consumers],
            [delivery.MessageId, delivery.LeaseToken],
            OnLostReply.Resend,
            cancellationToken).ConfigureAwait(false);
        return reply.AsInt64() == 1;
    }

    public async Task<bool> ReleaseAsync(QueueDeliveryInfo delivery, TimeSpan delay, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(delay, TimeSpan.Zero);
        var keys = QueueKeys.For(delivery.Queue);
        var reply = await redis.ScriptEvaluateAsync(
            ReleaseScript,
            [keys.Ready, keys.InFlight, keys.Leases, keys.Consumers],
            [delivery.MessageId, delivery.LeaseToken, (long)Math.Ceiling(delay.TotalMilliseconds)],
            OnLostReply.Resend,
            cancellationToken).ConfigureAwait(false);
        var released = reply.AsInt64() == 1;
        if (released && delay == TimeSpan.Zero)
        {
            await WakeConsumersAsync(keys, cancellationToken).ConfigureAwait(false);
        }

        return released;
    }

    public async Task<int> ReclaimAsync(string queue, string consumer, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(consumer);
        var keys = QueueKeys.For(queue);
        var reply = await redis.ScriptEvaluateAsync(
            ReclaimScript,
            [keys.Ready, keys.InFlight, keys.Leases, keys.Consumers],
            [consumer],
            OnLostReply.Resend,
            cancellationToken).ConfigureAwait(false);
        var reclaimed = (int)reply.AsInt64();
        if (reclaimed > 0)
        {
            logger.LogInformation("{Count} messages of queue {Queue} held by consumers other than {Consumer} are visible again", reclaimed, queue, consumer);
            await WakeConsumersAsync(keys, cancellationToken).ConfigureAwait(false);
        }

        return reclaimed;
    }

    public async Task<bool> ExtendAsync(QueueDeliveryInfo delivery, TimeSpan visibilityTimeout, CancellationToken cancellationToken = default)
    {
        var keys = QueueKeys.For(delivery.Queue);
        var reply = await redis.ScriptEvaluateAsync(
            ExtendScript,
            [keys.Messages, keys.InFlight, keys.Leases],
            [delivery.MessageId, delivery.LeaseToken, ToMilliseconds(visibilityTimeout)],
            OnLostReply.Resend,
            cancellationToken).ConfigureAwait(false);
        return reply.AsInt64() == 1;
    }

    /// <summary>Waiting counts every message not in flight, including those released with a delay.
    /// A lease that expired but was not yet reclaimed by a receive still counts as in flight.</summary>
    public async Task<QueueCounts> GetCountsAsync(string queue, CancellationToken cancellationToken = default)
    {
        var keys = QueueKeys.For(queue);
        var waiting = redis.ExecuteAsync(["ZCARD", keys.Ready], cancellationToken);
        var inFlight = redis.ExecuteAsync(["ZCARD", keys.InFlight], cancellationToken);
        return new QueueCounts((await waiting.ConfigureAwait(false)).AsInt64(), (await inFlight.ConfigureAwait(false)).AsInt64());
    }

    private static long ToMilliseconds(TimeSpan visibilityTimeout)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(visibilityTimeout, TimeSpan.Zero);
        return (long)Math.Ceiling(visibilityTimeout.TotalMilliseconds);
    }

    private sealed record QueueKeys(string Prefix, string Messages, string Ready, string InFlight, string Leases, string Deliveries, string Consumers, string Sequence)
    {
        /// <summary>The pub/sub channel that announces work on the queue (not a key).</summary>
        public string Wake => Prefix + "wake";

        // The hash tag {q} keeps every key of a queue in one Redis Cluster slot, which multi-key Lua needs.
        public static QueueKeys For(string queue)
        {
            ArgumentException.ThrowIfNullOrEmpty(queue);
            var prefix = string.Create(CultureInfo.InvariantCulture, $"dc:q:{{{queue}}}:");
            return new(prefix, prefix + "msg", prefix + "ready", prefix + "inflight", prefix + "lease", prefix + "deliveries", prefix + "consumer", prefix + "seq");
        }

        public string Deduplication(string key) => Prefix + "dedup:" + key;
    }

    /// <summary>The consumers of one queue waiting in this process: each waits on <see cref="Next"/>, which completes at
    /// the next wake-up (a publish on the queue's channel, or the subscription coming back after messages may have been
    /// missed) and is then replaced. The subscription lives as long as the subscriber, which ends it when disposed.</summary>
    private sealed class QueueWakeup(string channel)
    {
        private readonly SemaphoreSlim _subscribing = new(1, 1);
        private TaskCompletionSource _next = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private IAsyncDisposable? _subscription;

        public Task Next => Volatile.Read(ref _next).Task;

        public async Task SubscribeAsync(IRedisSubscriber subscriber, CancellationToken cancellationToken)
        {
            if (Volatile.Read(ref _subscription) is not null)
            {
                return;
            }

            await _subscribing.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                _subscription ??= await subscriber.SubscribeAsync(
                    channel,
                    (_, _, _) => Signal(),
                    // Messages published while the subscription was down are lost: every waiting consumer looks again.
                    _ => Signal(),
                    cancellationToken: cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                _subscribing.Release();
            }
        }

        private Task Signal()
        {
            Interlocked.Exchange(ref _next, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
            return Task.CompletedTask;
        }
    }

    internal sealed record QueueEnvelope(string Type, JsonElement Payload, string? Traceparent, string? Tracestate, DateTime EnqueuedAt);
}
