using System.Collections.Concurrent;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace DirectorsConsole.ServiceDefaults.Redis;

/// <summary>
/// Pub/sub on a socket of its own (a subscribed RESP2 connection accepts no other commands). After a
/// reconnect every channel and pattern is subscribed again and each subscriber's <c>onResubscribed</c>
/// runs, because messages published while the socket was down are lost. Each channel has a mailbox
/// drained by one loop, so its handlers run one at a time and in the order messages arrived.
/// </summary>
public sealed class RedisSubscriber : IRedisSubscriber, IAsyncDisposable
{
    private readonly RedisEndpointSettings _settings;
    private readonly ILogger _logger;
    private readonly TimeProvider _timeProvider;
    private readonly ConcurrentDictionary<SubscriptionKey, Subscription> _subscriptions = new();
    // Serialises subscription changes with what is written to the socket, so SUBSCRIBE and UNSUBSCRIBE
    // for one channel reach the server in the order the state changed.
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly CancellationTokenSource _shutdown = new();
    private RespTransport? _transport;
    private readonly RespReconnectLoop _reconnectLoop;
    private int _disposed;

    public RedisSubscriber(IOptions<RedisOptions> options, ILogger<RedisSubscriber> logger, TimeProvider timeProvider)
        : this(options.Value, logger, timeProvider)
    {
    }

    public RedisSubscriber(RedisOptions options, ILogger? logger = null, TimeProvider? timeProvider = null)
    {
        _settings = options.Resolve();
        _logger = logger ?? NullLogger.Instance;
        _timeProvider = timeProvider ?? TimeProvider.System;
        _reconnectLoop = new RespReconnectLoop(_settings, _logger, _timeProvider, "Subscriber", RunSessionAsync, _shutdown.Token);
    }

    public bool IsConnected => Volatile.Read(ref _transport) is not null;

    public async Task<IAsyncDisposable> SubscribeAsync(
        string channel,
        Func<string, ReadOnlyMemory<byte>, CancellationToken, Task> onMessage,
        Func<CancellationToken, Task>? onResubscribed = null,
        bool pattern = false,
        CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(channel);
        ArgumentNullException.ThrowIfNull(onMessage);
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        _reconnectLoop.EnsureStarted();

        var key = new SubscriptionKey(channel, pattern);
        var handler = new Handler(onMessage, onResubscribed);
        Subscription subscription;
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var isNew = !_subscriptions.TryGetValue(key, out subscription!);
            if (isNew)
            {
                subscription = new Subscription(key, this);
                _subscriptions[key] = subscription;
            }

            subscription.Add(handler);
            if (isNew && _transport is { } transport)
            {
                await TrySendAsync(transport, [key.SubscribeVerb, channel], cancellationToken).ConfigureAwait(false);
            }
        }
        finally
        {
            _gate.Release();
        }

        var handle = new SubscriptionHandle(this, subscription, handler);
        try
        {
            await subscription.Active.WaitAsync(_settings.CommandTimeout, _timeProvider, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            await handle.DisposeAsync().ConfigureAwait(false);
            if (ex is TimeoutException)
            {
                throw IsConnected
                    ? new RedisTimeoutException($"Redis at {_settings.Endpoint} did not confirm the subscription to '{channel}' within {_settings.CommandTimeout.TotalMilliseconds:0} ms.")
                    : new RedisConnectionException($"Could not subscribe to '{channel}': not connected to Redis at {_settings.Endpoint}" +
                        (_reconnectLoop.LastError is null ? "." : $" ({_reconnectLoop.LastError})."));
            }

            throw;
        }

        handler.Confirmed = true;
        return handle;
    }

    private async Task RemoveAsync(Subscription subscription, Handler handler)
    {
        await _gate.WaitAsync(CancellationToken.None).ConfigureAwait(false);
        try
        {
            if (!subscription.Remove(handler) || !_subscriptions.TryRemove(new(subscription.Key, subscription)))
            {
                return;
            }

            subscription.Close();
            if (_transport is { } transport && _disposed == 0)
            {
                await TrySendAsync(transport, [subscription.Key.UnsubscribeVerb, subscription.Key.Channel], CancellationToken.None).ConfigureAwait(false);
            }
        }
        finally
        {
            _gate.Release();
        }
    }

    private async Task TrySendAsync(RespTransport transport, IReadOnlyList<RedisArg> command, CancellationToken cancellationToken)
    {
        try
        {
            await transport.SendAsync(command, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // The read loop notices the broken socket and reconnects; the new socket subscribes to
            // everything in _subscriptions, which already reflects this change.
            _logger.LogDebug(ex, "Sending {Command} to Redis failed", command[0]);
            transport.Abort();
        }
    }

    /// <summary>Subscribes the new socket to every channel held, reads messages until the socket breaks,
    /// then marks every subscription inactive until the next socket. Returns why the session ended.</summary>
    private async Task<Exception?> RunSessionAsync(RespTransport transport, CancellationToken token)
    {
        Exception? reason = null;
        try
        {
            await _gate.WaitAsync(token).ConfigureAwait(false);
            try
            {
                Volatile.Write(ref _transport, transport);
                foreach (var key in _subscriptions.Keys)
                {
                    await transport.SendAsync([key.SubscribeVerb, key.Channel], token).ConfigureAwait(false);
                }
            }
            finally
            {
                _gate.Release();
            }

            await ReadLoopAsync(transport, token).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            reason = ex;
        }

        await _gate.WaitAsync(CancellationToken.None).ConfigureAwait(false);
        try
        {
            Volatile.Write(ref _transport, null);
            foreach (var subscription in _subscriptions.Values)
            {
                subscription.Deactivate();
            }
        }
        finally
        {
            _gate.Release();
        }

        await transport.DisposeAsync().ConfigureAwait(false);
        return reason;
    }

    /// <summary>Reads RESP2 arrays or RESP3 push frames: subscribe confirmations and messages.</summary>
    private async Task ReadLoopAsync(RespTransport transport, CancellationToken cancellationToken)
    {
        while (true)
        {
            var frame = await transport.ReadReplyAsync(cancellationToken).ConfigureAwait(false);
            if (frame.Kind is not (RedisReplyKind.Array or RedisReplyKind.Push) || frame.Items.Count < 3)
            {
                // PING replies and the like carry nothing for subscribers.
                continue;
            }

            var items = frame.Items;
            switch (items[0].AsString())
            {
                case "message":
                    Dispatch(new SubscriptionKey(items[1].AsString()!, Pattern: false), items[1], items[2]);
                    break;
                case "pmessage" when items.Count >= 4:
                    Dispatch(new SubscriptionKey(items[1].AsString()!, Pattern: true), items[2], items[3]);
                    break;
                case "subscribe":
                    Confirm(new SubscriptionKey(items[1].AsString()!, Pattern: false));
                    break;
                case "psubscribe":
                    Confirm(new SubscriptionKey(items[1].AsString()!, Pattern: true));
                    break;
            }
        }
    }

    private void Dispatch(SubscriptionKey key, RedisReply channel, RedisReply payload)
    {
        if (_subscriptions.TryGetValue(key, out var subscription))
        {
            subscription.Post(new Delivery(channel.AsString()!, payload.AsBytes() ?? []));
        }
    }

    private void Confirm(SubscriptionKey key)
    {
        if (_subscriptions.TryGetValue(key, out var subscription))
        {
            subscription.Activate();
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _shutdown.CancelAsync().ConfigureAwait(false);
        Volatile.Read(ref _transport)?.Abort();
        await _reconnectLoop.Completion.ConfigureAwait(false);

        foreach (var subscription in _subscriptions.Values)
        {
            subscription.Close();
        }

        _subscriptions.Clear();
    }

    private readonly record struct SubscriptionKey(string Channel, bool Pattern)
    {
        public string SubscribeVerb => Pattern ? "PSUBSCRIBE" : "SUBSCRIBE";

        public string UnsubscribeVerb => Pattern ? "PUNSUBSCRIBE" : "UNSUBSCRIBE";
    }

    private sealed record Delivery(string Channel, byte[] Payload);

    private sealed class Handler(Func<string, ReadOnlyMemory<byte>, CancellationToken, Task> onMessage, Func<CancellationToken, Task>? onResubscribed)
    {
        public Func<string, ReadOnlyMemory<byte>, CancellationToken, Task> OnMessage { get; } = onMessage;

        public Func<CancellationToken, Task>? OnResubscribed { get; } = onResubscribed;

        /// <summary>Set once SubscribeAsync has returned: only then is a later activation a re-subscription.</summary>
        public volatile bool Confirmed;
    }

    /// <summary>One channel or pattern: its handlers, whether the server confirmed it on the current socket,
    /// and the mailbox its handlers are run from.</summary>
    private sealed class Subscription
    {
        private readonly RedisSubscriber _owner;
        private readonly Lock _lock = new();
        private readonly Channel<object> _mailbox = Channel.CreateUnbounded<object>(new UnboundedChannelOptions { SingleReader = true });
        private readonly CancellationTokenSource _closed = new();
        private Handler[] _handlers = [];
        private TaskCompletionSource _active = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private bool _wasDeactivated;

        public Subscription(SubscriptionKey key, RedisSubscriber owner)
        {
            Key = key;
            _owner = owner;
            _ = Task.Run(DrainAsync);
        }

        public SubscriptionKey Key { get; }

        public Task Active
        {
            get
            {
                lock (_lock)
                {
                    return _active.Task;
                }
            }
        }

        public void Add(Handler handler)
        {
            lock (_lock)
            {
                _handlers = [.. _handlers, handler];
            }
        }

        /// <summary>Removes a handler; true when it was the last one.</summary>
        public bool Remove(Handler handler)
        {
            lock (_lock)
            {
                _handlers = _handlers.Where(h => h != handler).ToArray();
                return _handlers.Length == 0;
            }
        }

        public void Post(Delivery delivery) => _mailbox.Writer.TryWrite(delivery);

        public void Activate()
        {
            lock (_lock)
            {
                if (_active.Task.IsCompleted)
                {
                    return;
                }

                _active.TrySetResult();
                if (_wasDeactivated)
                {
                    // Queued behind any message already received, so handlers see the order the server saw.
                    _mailbox.Writer.TryWrite(Resubscribed.Instance);
                }
            }
        }

        public void Deactivate()
        {
            lock (_lock)
            {
                if (_active.Task.IsCompleted)
                {
                    _active = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                    _wasDeactivated = true;
                }
            }
        }

        public void Close()
        {
            _mailbox.Writer.TryComplete();
            _closed.Cancel();
        }

        private async Task DrainAsync()
        {
            var token = _closed.Token;
            await foreach (var item in _mailbox.Reader.ReadAllAsync(CancellationToken.None).ConfigureAwait(false))
            {
                Handler[] handlers;
                lock (_lock)
                {
                    handlers = _handlers;
                }

                foreach (var handler in handlers)
                {
                    try
                    {
                        if (item is Delivery delivery)
                        {
                            await handler.OnMessage(delivery.Channel, delivery.Payload, token).ConfigureAwait(false);
                        }
                        else if (handler is { Confirmed: true, OnResubscribed: { } onResubscribed })
                        {
                            await onResubscribed(token).ConfigureAwait(false);
                        }
                    }
                    catch (Exception ex) when (!token.IsCancellationRequested)
                    {
                        _owner._logger.LogError(ex, "A handler for Redis channel {Channel} failed", Key.Channel);
                    }
                    catch (Exception) when (token.IsCancellationRequested)
                    {
                        // The subscription was closed while a handler ran; nothing more is delivered.
                        return;
                    }
                }
            }
        }
    }

    private sealed class Resubscribed
    {
        public static readonly Resubscribed Instance = new();
    }

    private sealed class SubscriptionHandle(RedisSubscriber owner, Subscription subscription, Handler handler) : IAsyncDisposable
    {
        private int _disposed;

        public ValueTask DisposeAsync() =>
            Interlocked.Exchange(ref _disposed, 1) == 0 ? new ValueTask(owner.RemoveAsync(subscription, handler)) : ValueTask.CompletedTask;
    }
}
