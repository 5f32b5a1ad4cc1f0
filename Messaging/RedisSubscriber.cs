using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using StackExchange.Redis;

namespace DirectorsConsole.Messaging;

/// <summary>
/// Pub/sub over StackExchange.Redis. The multiplexer re-subscribes every channel by itself after a reconnect; this
/// adds what it does not do: after the subscription connection is restored, each subscriber's <c>onResubscribed</c>
/// runs, because messages published while it was down are lost and the subscriber must re-read state. Each
/// subscription has a mailbox drained by one loop, so its handler runs one message at a time, in the order the
/// messages arrived, and the re-subscription notice comes after every message received before it.
/// </summary>
public sealed class RedisSubscriber : IRedisSubscriber, IAsyncDisposable
{
    private readonly IConnectionMultiplexer _multiplexer;
    private readonly bool _ownsMultiplexer;
    private readonly ILogger _logger;
    private readonly ConcurrentDictionary<Subscription, byte> _subscriptions = new();
    // Per channel, the subscriptions asked for and not yet confirmed or failed; under _registering, which also covers
    // the client's registration of their queues and the removal of a failed one's.
    private readonly Dictionary<string, int> _pending = new(StringComparer.Ordinal);
    private readonly Lock _registering = new();

    public RedisSubscriber(IConnectionMultiplexer multiplexer, ILogger<RedisSubscriber> logger)
        : this(multiplexer, ownsMultiplexer: false, logger)
    {
    }

    /// <summary>A subscriber with a multiplexer of its own, closed with it (tools and tests).</summary>
    public RedisSubscriber(RedisOptions options, ILogger? logger = null)
        : this(ConnectionMultiplexer.Connect(options.ToConfigurationOptions()), ownsMultiplexer: true, logger)
    {
    }

    private RedisSubscriber(IConnectionMultiplexer multiplexer, bool ownsMultiplexer, ILogger? logger)
    {
        _multiplexer = multiplexer;
        _ownsMultiplexer = ownsMultiplexer;
        _logger = logger ?? NullLogger.Instance;
        _multiplexer.ConnectionRestored += OnConnectionRestored;
        _multiplexer.ConnectionFailed += OnConnectionFailed;
    }

    public event Action? SubscriptionsLost;

    public async Task<IAsyncDisposable> SubscribeAsync(
        string channel,
        Func<string, ReadOnlyMemory<byte>, CancellationToken, Task> onMessage,
        Func<CancellationToken, Task>? onResubscribed = null,
        bool pattern = false,
        CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(channel);
        ArgumentNullException.ThrowIfNull(onMessage);
        var redisChannel = pattern ? RedisChannel.Pattern(channel) : RedisChannel.Literal(channel);
        Task<ChannelMessageQueue> subscribing;
        lock (_registering)
        {
            // The client registers the queue before this returns.
            subscribing = _multiplexer.GetSubscriber().SubscribeAsync(redisChannel);
            _pending[channel] = _pending.GetValueOrDefault(channel) + 1;
        }

        ChannelMessageQueue queue;
        try
        {
            queue = await subscribing.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            EndPending(channel);
            LeaveNoQueueBehind(subscribing, redisChannel, channel);
            if (ex is StackExchange.Redis.RedisTimeoutException)
            {
                throw new RedisTimeoutException($"Redis did not confirm the subscription to '{channel}' in time: {ex.Message}");
            }

            if (ex is StackExchange.Redis.RedisConnectionException)
            {
                throw new RedisConnectionException($"Could not subscribe to '{channel}': {ex.Message}", ex);
            }

            throw;
        }

        var subscription = new Subscription(this, channel, queue, onMessage, onResubscribed);
        _subscriptions[subscription] = 0;
        EndPending(channel);
        return subscription;
    }

    private void EndPending(string channel)
    {
        lock (_registering)
        {
            if (--CollectionsMarshal.GetValueRefOrNullRef(_pending, channel) == 0)
            {
                _pending.Remove(channel);
            }
        }
    }

    /// <summary>
    /// The client registers a subscription's queue before the server confirms it and keeps it when the confirmation
    /// fails or times out: a queue nobody reads, which would keep every later message of the channel (it is subscribed
    /// again after each reconnect) for as long as the process lives, and one more with each retry. So a failed or
    /// abandoned subscription is removed: the queue itself when the client hands it over after all, else the channel's
    /// registration when no subscription of ours uses it or is being made (with one, the queue cannot be told apart and
    /// stays, logged).
    /// </summary>
    private void LeaveNoQueueBehind(Task<ChannelMessageQueue> subscribing, RedisChannel redisChannel, string channel) =>
        _ = subscribing.ContinueWith(done =>
        {
            try
            {
                if (done.IsCompletedSuccessfully)
                {
                    done.Result.Unsubscribe(CommandFlags.FireAndForget);
                }
                else
                {
                    lock (_registering)
                    {
                        if (_pending.ContainsKey(channel) || _subscriptions.Keys.Any(s => s.ChannelName == channel))
                        {
                            _logger.LogWarning("A failed subscription to {Channel} left a queue in the Redis client beside another one", channel);
                        }
                        else
                        {
                            _multiplexer.GetSubscriber().Unsubscribe(redisChannel, handler: null, CommandFlags.FireAndForget);
                        }
                    }
                }
            }
            catch (Exception ex)
            {
                _logger.LogWarning(ex, "Could not remove the failed subscription to {Channel} from the Redis client", channel);
            }
        }, CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default);

    private void OnConnectionRestored(object? sender, ConnectionFailedEventArgs args)
    {
        if (!CarriesSubscriptions(args) || _subscriptions.IsEmpty)
        {
            return;
        }

        _ = NotifyResubscribedAsync();
    }

    private void OnConnectionFailed(object? sender, ConnectionFailedEventArgs args)
    {
        if (!CarriesSubscriptions(args))
        {
            return;
        }

        try
        {
            SubscriptionsLost?.Invoke();
        }
        catch (Exception ex)
        {
            _logger.LogError(ex, "A handler of the loss of the Redis subscription connection failed");
        }
    }

    // With RESP2 subscriptions have a connection of their own; with RESP3 they share the interactive one.
    private bool CarriesSubscriptions(ConnectionFailedEventArgs args) =>
        args.ConnectionType == ConnectionType.Subscription
        || (args.ConnectionType == ConnectionType.Interactive && args.EndPoint is { } endpoint
            && _multiplexer.GetServer(endpoint).Protocol == RedisProtocol.Resp3);

    private async Task NotifyResubscribedAsync()
    {
        try
        {
            // The client sends its SUBSCRIBE commands as the connection comes back; a PING behind them on the same
            // connection answers once they are done, so handlers re-read state only once messages flow again.
            await _multiplexer.GetSubscriber().PingAsync().ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is StackExchange.Redis.RedisConnectionException or StackExchange.Redis.RedisTimeoutException)
        {
            _logger.LogWarning(ex, "Redis pub/sub came back but did not answer PING; subscribers re-read their state anyway");
        }

        foreach (var subscription in _subscriptions.Keys)
        {
            subscription.PostResubscribed();
        }
    }

    public async ValueTask DisposeAsync()
    {
        _multiplexer.ConnectionRestored -= OnConnectionRestored;
        _multiplexer.ConnectionFailed -= OnConnectionFailed;
        foreach (var subscription in _subscriptions.Keys)
        {
            await subscription.DisposeAsync().ConfigureAwait(false);
        }

        if (_ownsMultiplexer)
        {
            await _multiplexer.DisposeAsync().ConfigureAwait(false);
        }
    }

    private sealed record Delivery(string Channel, byte[] Payload);

    private sealed class Resubscribed
    {
        public static readonly Resubscribed Instance = new();
    }

    /// <summary>One subscriber's queue of messages from the client, and the loop that runs its handlers.</summary>
    private sealed class Subscription : IAsyncDisposable
    {
        private readonly RedisSubscriber _owner;
        private readonly ChannelMessageQueue _queue;
        private readonly Func<string, ReadOnlyMemory<byte>, CancellationToken, Task> _onMessage;
        private readonly Func<CancellationToken, Task>? _onResubscribed;
        private readonly Channel<object> _mailbox = Channel.CreateUnbounded<object>(new UnboundedChannelOptions { SingleReader = true });
        private readonly CancellationTokenSource _closed = new();
        private int _disposed;

        public Subscription(
            RedisSubscriber owner, string channel, ChannelMessageQueue queue,
            Func<string, ReadOnlyMemory<byte>, CancellationToken, Task> onMessage, Func<CancellationToken, Task>? onResubscribed)
        {
            _owner = owner;
            ChannelName = channel;
            _queue = queue;
            _onMessage = onMessage;
            _onResubscribed = onResubscribed;
            // The client calls this in the order messages arrived, one at a time.
            queue.OnMessage(message => _mailbox.Writer.TryWrite(new Delivery(message.Channel.ToString(), (byte[]?)message.Message ?? [])));
            _ = Task.Run(DrainAsync);
        }

        /// <summary>The channel (or pattern) as the subscriber named it.</summary>
        public string ChannelName { get; }

        public void PostResubscribed()
        {
            if (_onResubscribed is not null)
            {
                _mailbox.Writer.TryWrite(Resubscribed.Instance);
            }
        }

        private async Task DrainAsync()
        {
            var token = _closed.Token;
            await foreach (var item in _mailbox.Reader.ReadAllAsync(CancellationToken.None).ConfigureAwait(false))
            {
                try
                {
                    if (item is Delivery delivery)
                    {
                        await _onMessage(delivery.Channel, delivery.Payload, token).ConfigureAwait(false);
                    }
                    else
                    {
                        await _onResubscribed!(token).ConfigureAwait(false);
                    }
                }
                catch (Exception ex) when (!token.IsCancellationRequested)
                {
                    _owner._logger.LogError(ex, "A handler for Redis channel {Channel} failed", ChannelName);
                }
                catch (Exception) when (token.IsCancellationRequested)
                {
                    // The subscription was closed while a handler ran; nothing more is delivered.
                    return;
                }
            }
        }

        public async ValueTask DisposeAsync()
        {
            if (Interlocked.Exchange(ref _disposed, 1) != 0)
            {
                return;
            }

            _owner._subscriptions.TryRemove(this, out _);
            try
            {
                await _queue.UnsubscribeAsync().ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is StackExchange.Redis.RedisConnectionException or StackExchange.Redis.RedisTimeoutException)
            {
                // The server dropped the connection, and with it the subscription; the client forgets it too.
                _owner._logger.LogDebug(ex, "Unsubscribing from {Channel} reached no server", ChannelName);
            }
            catch (ObjectDisposedException ex)
            {
                // A host shutting down disposed the multiplexer (or its tracing) before this subscriber, which ends the
                // subscriptions still open (such as the durable queue's wake-ups): they end with the connection.
                _owner._logger.LogDebug(ex, "Unsubscribing from {Channel} after the connection was disposed", ChannelName);
            }

            _mailbox.Writer.TryComplete();
            // Not waiting for the loop: a handler may be the one disposing its own subscription.
            await _closed.CancelAsync().ConfigureAwait(false);
        }
    }
}
