namespace DirectorsConsole.Messaging;

/// <summary>
/// Commands to Redis over the one multiplexed connection every caller of a process shares.
/// </summary>
public interface IRedisConnection
{
    /// <summary>Sends one command (name first, then arguments) and returns its reply.
    /// Throws <see cref="RedisServerException"/> for an error reply, <see cref="RedisTimeoutException"/> when
    /// no reply arrives within the configured timeout and <see cref="RedisConnectionException"/> when the
    /// server cannot be reached.</summary>
    Task<RedisReply> ExecuteAsync(IReadOnlyList<RedisArg> command, CancellationToken cancellationToken = default);

    /// <summary>Sends one command as <see cref="ExecuteAsync(IReadOnlyList{RedisArg}, CancellationToken)"/> does;
    /// <paramref name="onLostReply"/> says whether a write whose reply was lost with the connection is sent again.</summary>
    Task<RedisReply> ExecuteAsync(IReadOnlyList<RedisArg> command, OnLostReply onLostReply, CancellationToken cancellationToken = default);

    /// <summary>Runs a Lua script (EVALSHA, or EVAL when the server does not hold it yet): how a check and a write
    /// become one step. Counts as a write: it is refused while writes cannot be persisted and never sent twice.</summary>
    Task<RedisReply> ScriptEvaluateAsync(
        string script, IReadOnlyList<string> keys, IReadOnlyList<RedisArg> args, CancellationToken cancellationToken = default);

    /// <summary>Runs a Lua script as <see cref="ScriptEvaluateAsync(string, IReadOnlyList{string}, IReadOnlyList{RedisArg}, CancellationToken)"/>
    /// does; with <see cref="OnLostReply.Resend"/> it is sent again when its reply was lost with the connection, for a
    /// script written to recognise that it was already carried out.</summary>
    Task<RedisReply> ScriptEvaluateAsync(
        string script, IReadOnlyList<string> keys, IReadOnlyList<RedisArg> args, OnLostReply onLostReply, CancellationToken cancellationToken = default);

    /// <summary>True while the connection to the server is up.</summary>
    bool IsConnected { get; }
}

/// <summary>Pub/sub, re-subscribing every channel after a reconnect.</summary>
public interface IRedisSubscriber
{
    /// <summary>Subscribes to a channel (or a glob pattern when <paramref name="pattern"/> is true).
    /// <paramref name="onMessage"/> receives (channel, payload). <paramref name="onResubscribed"/> runs after
    /// every reconnect, once the subscription is active again, so the caller can re-read state it may have
    /// missed. Disposing the returned handle unsubscribes.</summary>
    Task<IAsyncDisposable> SubscribeAsync(
        string channel,
        Func<string, ReadOnlyMemory<byte>, CancellationToken, Task> onMessage,
        Func<CancellationToken, Task>? onResubscribed = null,
        bool pattern = false,
        CancellationToken cancellationToken = default);

    /// <summary>Raised when the connection that carries this process's subscriptions fails. From then until the
    /// client has re-subscribed (each subscriber's <c>onResubscribed</c>), the server counts none of them
    /// (<see cref="RedisCommands.SubscriberCountsAsync"/>): another process may take this one for dead. The client raises
    /// the failure and the restoration on different threads, so this notice may also come after <c>onResubscribed</c>:
    /// whoever keeps a "subscribed" state asks the server's count rather than trusting the order.</summary>
    event Action? SubscriptionsLost;
}

/// <summary>Typed events over pub/sub. Messages carry the W3C trace context of the publisher.</summary>
public interface IEventBus
{
    Task PublishAsync<TEvent>(string channel, TEvent @event, CancellationToken cancellationToken = default);

    Task<IAsyncDisposable> SubscribeAsync<TEvent>(
        string channel,
        Func<TEvent, CancellationToken, Task> handler,
        Func<CancellationToken, Task>? onResubscribed = null,
        CancellationToken cancellationToken = default);
}

/// <summary>An at-least-once work queue with a visibility timeout: a message taken and not acknowledged
/// within the timeout becomes visible again and is delivered to another consumer. Handlers must be
/// idempotent.</summary>
public interface IDurableQueue
{
    /// <summary>Adds a message; returns its id. Messages carry the W3C trace context of the producer. Not sent again
    /// when the connection breaks before the reply: it may have been added.</summary>
    Task<string> EnqueueAsync<TMessage>(string queue, TMessage message, CancellationToken cancellationToken = default);

    /// <summary>Adds a message unless one was added under the same <paramref name="deduplicationKey"/> in this queue
    /// within the last few minutes, and returns the id of the message under that key. Because of that it is sent again
    /// when its reply was lost with the connection. The key names one logical send (a dispatch attempt, one routing of
    /// one message), never something a later, wanted send could share.</summary>
    Task<string> EnqueueAsync<TMessage>(string queue, TMessage message, string deduplicationKey, CancellationToken cancellationToken = default);

    /// <summary>Adds several messages, to one queue or several, with one script: each as
    /// <see cref="EnqueueAsync{TMessage}(string, TMessage, string, CancellationToken)"/> adds it (unless one was added
    /// under its deduplication key in its queue), then one wake-up per queue. Returns the ids in the order of
    /// <paramref name="messages"/>. Sent again when its reply was lost with the connection: every message recognises its
    /// key. Each message carries the trace context of a span of its own, a child of its
    /// <see cref="QueueMessage{TMessage}.Parent"/>.</summary>
    Task<IReadOnlyList<string>> EnqueueManyAsync<TMessage>(IReadOnlyList<QueueMessage<TMessage>> messages, CancellationToken cancellationToken = default);

    /// <summary>Takes the next visible message, or null when none is visible.</summary>
    Task<QueueDelivery<TMessage>?> TryReceiveAsync<TMessage>(
        string queue, TimeSpan visibilityTimeout, CancellationToken cancellationToken = default);

    /// <summary>Takes the next visible message for <paramref name="consumer"/>, which the delivery is recorded with
    /// (see <see cref="ReclaimAsync"/>), or null when none is visible.</summary>
    Task<QueueDelivery<TMessage>?> TryReceiveAsync<TMessage>(
        string queue, TimeSpan visibilityTimeout, string consumer, CancellationToken cancellationToken = default);

    /// <summary>Takes up to <paramref name="max"/> visible messages for <paramref name="consumer"/> with one script, in the
    /// order single receives would take them, each a delivery of its own under one lease token (an empty list when none
    /// is visible). Sent again when its reply was lost, it returns the deliveries it made. A message whose body cannot be
    /// read is logged and left out (it stays in flight until its visibility timeout, as a single receive leaves it).</summary>
    Task<IReadOnlyList<QueueDelivery<TMessage>>> TryReceiveManyAsync<TMessage>(
        string queue, TimeSpan visibilityTimeout, string consumer, int max, CancellationToken cancellationToken = default);

    /// <summary>Waits as <see cref="ReceiveAsync{TMessage}(string, TimeSpan, TimeSpan, string, CancellationToken)"/> does
    /// for at least one message, and takes up to <paramref name="max"/> as
    /// <see cref="TryReceiveManyAsync{TMessage}"/> does; an empty list when none came within <paramref name="wait"/>.</summary>
    Task<IReadOnlyList<QueueDelivery<TMessage>>> ReceiveManyAsync<TMessage>(
        string queue, TimeSpan visibilityTimeout, TimeSpan wait, string consumer, int max, CancellationToken cancellationToken = default);

    /// <summary>Waits (polling with back-off, at most <paramref name="wait"/>) for the next visible message.</summary>
    Task<QueueDelivery<TMessage>?> ReceiveAsync<TMessage>(
        string queue, TimeSpan visibilityTimeout, TimeSpan wait, CancellationToken cancellationToken = default);

    /// <summary>Waits as <see cref="ReceiveAsync{TMessage}(string, TimeSpan, TimeSpan, CancellationToken)"/> does, for
    /// <paramref name="consumer"/>.</summary>
    Task<QueueDelivery<TMessage>?> ReceiveAsync<TMessage>(
        string queue, TimeSpan visibilityTimeout, TimeSpan wait, string consumer, CancellationToken cancellationToken = default);

    /// <summary>Makes every message in flight to a consumer other than <paramref name="consumer"/> visible again at
    /// once, ahead of the waiting ones; returns how many. For a queue with one consumer at a time (a worker holding a
    /// lease): when a new consumer starts, every delivery of another belongs to a predecessor that is gone, and waiting
    /// for its visibility timeout would only hold the work back.</summary>
    Task<int> ReclaimAsync(string queue, string consumer, CancellationToken cancellationToken = default);

    /// <summary>Removes a delivered message for good. False when the delivery's lease was lost
    /// (it timed out and was taken by another consumer).</summary>
    Task<bool> AckAsync(QueueDeliveryInfo delivery, CancellationToken cancellationToken = default);

    /// <summary>Makes a delivered message visible again after <paramref name="delay"/>.</summary>
    Task<bool> ReleaseAsync(QueueDeliveryInfo delivery, TimeSpan delay, CancellationToken cancellationToken = default);

    /// <summary>Extends the lease of a message that is still being worked on.</summary>
    Task<bool> ExtendAsync(QueueDeliveryInfo delivery, TimeSpan visibilityTimeout, CancellationToken cancellationToken = default);

    /// <summary>Counts of messages waiting and in flight.</summary>
    Task<QueueCounts> GetCountsAsync(string queue, CancellationToken cancellationToken = default);
}

/// <summary>Identifies one delivery of a message: the lease token changes on every delivery, so a consumer
/// whose lease expired cannot acknowledge a message that another consumer now holds.</summary>
public record QueueDeliveryInfo(string Queue, string MessageId, string LeaseToken, int DeliveryCount);

public sealed record QueueDelivery<TMessage>(
    string Queue, string MessageId, string LeaseToken, int DeliveryCount, TMessage Message, DateTimeOffset EnqueuedAt)
    : QueueDeliveryInfo(Queue, MessageId, LeaseToken, DeliveryCount)
{
    /// <summary>The producer's trace context, carried with the message.</summary>
    public System.Diagnostics.ActivityContext ProducerContext { get; init; }

    /// <summary>Starts the activity for handling this message, parented by the producer's trace context so the
    /// trace continues across the queue. Dispose it when the handling ends.</summary>
    public System.Diagnostics.Activity? StartProcessingActivity()
    {
        var activity = RedisTelemetry.Source.StartActivity($"process {Queue}", System.Diagnostics.ActivityKind.Consumer, ProducerContext);
        activity?.SetTag("messaging.system", "redis");
        activity?.SetTag("messaging.destination.name", Queue);
        activity?.SetTag("messaging.message.id", MessageId);
        return activity;
    }
}

public sealed record QueueCounts(long Waiting, long InFlight);

/// <summary>A message for <see cref="IDurableQueue.EnqueueManyAsync{TMessage}"/>: its queue, itself and the key of
/// its one logical send (see <see cref="IDurableQueue.EnqueueAsync{TMessage}(string, TMessage, string, CancellationToken)"/>).</summary>
public sealed record QueueMessage<TMessage>(string Queue, TMessage Message, string DeduplicationKey)
{
    /// <summary>The span its send continues (a batch serves many traces); default: the current activity.</summary>
    public System.Diagnostics.ActivityContext Parent { get; init; }
}
