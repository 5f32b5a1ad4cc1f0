using System.Collections.Concurrent;
using System.Text;
using System.Text.Json.Nodes;
using System.Threading.Channels;
using DirectorsConsole.JobService.Model;
using DirectorsConsole.Messaging;
using Microsoft.Extensions.Options;

namespace DirectorsConsole.JobService.Engine;

/// <summary>
/// The event streams in Redis lists (<see cref="JobKeys.Stream"/>; an event's sequence number is its index + 1, so
/// there are no gaps). A replica holds one pub/sub subscription to <see cref="JobKeys.StreamNotifications"/> for all
/// its subscribers; a notification, a resubscribe after a reconnect or the poll every
/// <see cref="JobEngineOptions.StreamPollInterval"/> makes a subscriber read the list after the last event it
/// delivered, so a lost notification delays events but never loses or reorders them.
/// </summary>
public sealed class RedisJobEventStream(
    IRedisConnection redis, IRedisSubscriber subscriber, IOptions<JobEngineOptions> options, ILogger<RedisJobEventStream> logger)
    : IJobEventStream, IAsyncDisposable
{
    private readonly ConcurrentDictionary<StreamSubscription, string> _subscriptions = new();
    private readonly SemaphoreSlim _subscribeLock = new(1, 1);
    private readonly TimeSpan _pollInterval = options.Value.StreamPollInterval;
    private readonly ILogger _logger = logger;
    private IAsyncDisposable? _notifications;

    public async Task<IReadOnlyList<JobStreamEvent>> ReadAsync(JobStreamId stream, long afterSequence, CancellationToken cancellationToken)
    {
        var after = Math.Max(0, afterSequence);
        var items = await redis.ListRangeAsync(JobKeys.Stream(stream), after, -1, cancellationToken);
        var events = new List<JobStreamEvent>(items.Count);
        for (var i = 0; i < items.Count; i++)
        {
            var stored = JsonNode.Parse(items[i])!.AsObject();
            events.Add(new JobStreamEvent(
                after + i + 1,
                (string)stored["type"]!,
                stored["payload"]!.AsObject().DeepClone().AsObject(),
                DateTimeOffset.Parse((string)stored["at"]!, System.Globalization.CultureInfo.InvariantCulture)));
        }

        return events;
    }

    /// <summary>The sequence number of the stream's last event (0 when it has none).</summary>
    public async Task<long> GetLastSequenceAsync(JobStreamId stream, CancellationToken cancellationToken) =>
        await redis.ListLengthAsync(JobKeys.Stream(stream), cancellationToken);

    public async Task<IAsyncDisposable> SubscribeAsync(
        JobStreamId stream, Func<JobStreamEvent, CancellationToken, Task> onEvent, CancellationToken cancellationToken) =>
        await SubscribeAsync(stream, await GetLastSequenceAsync(stream, cancellationToken), onEvent, cancellationToken);

    /// <summary>Calls <paramref name="onEvent"/> for every event after <paramref name="afterSequence"/>, in order,
    /// including those appended before this call (a client reconnecting with <c>?since=N</c>, or one that read a
    /// snapshot first).</summary>
    public async Task<IAsyncDisposable> SubscribeAsync(
        JobStreamId stream, long afterSequence, Func<JobStreamEvent, CancellationToken, Task> onEvent, CancellationToken cancellationToken)
    {
        await EnsureNotificationsAsync(cancellationToken);
        var subscription = new StreamSubscription(this, stream, afterSequence, onEvent);
        _subscriptions[subscription] = stream.ToString();
        subscription.Start();
        return subscription;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var subscription in _subscriptions.Keys)
        {
            await subscription.DisposeAsync();
        }

        if (_notifications is not null)
        {
            await _notifications.DisposeAsync();
        }

        _subscribeLock.Dispose();
    }

    private async Task EnsureNotificationsAsync(CancellationToken cancellationToken)
    {
        if (_notifications is not null)
        {
            return;
        }

        await _subscribeLock.WaitAsync(cancellationToken);
        try
        {
            _notifications ??= await subscriber.SubscribeAsync(
                JobKeys.StreamNotifications,
                (_, payload, _) =>
                {
                    var stream = Encoding.UTF8.GetString(payload.Span);
                    foreach (var (subscription, id) in _subscriptions)
                    {
                        if (id == stream)
                        {
                            subscription.Signal();
                        }
                    }

                    return Task.CompletedTask;
                },
                _ =>
                {
                    // Notifications sent while the subscription was down are gone: everyone reads again.
                    foreach (var subscription in _subscriptions.Keys)
                    {
                        subscription.Signal();
                    }

                    return Task.CompletedTask;
                },
                cancellationToken: cancellationToken);
        }
        finally
        {
            _subscribeLock.Release();
        }
    }

    private sealed class StreamSubscription(
        RedisJobEventStream owner, JobStreamId stream, long afterSequence, Func<JobStreamEvent, CancellationToken, Task> onEvent) : IAsyncDisposable
    {
        private readonly Channel<bool> _signals = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });
        private readonly CancellationTokenSource _stop = new();
        private long _delivered = afterSequence;
        private Task _pump = Task.CompletedTask;

        public void Start()
        {
            Signal();
            _pump = Task.Run(() => PumpAsync(_stop.Token));
        }

        public void Signal() => _signals.Writer.TryWrite(true);

        public async ValueTask DisposeAsync()
        {
            if (!owner._subscriptions.TryRemove(this, out _))
            {
                return;
            }

            await _stop.CancelAsync();
            try
            {
                await _pump;
            }
            catch (OperationCanceledException)
            {
            }

            _stop.Dispose();
        }

        private async Task PumpAsync(CancellationToken cancellationToken)
        {
            var poll = owner._pollInterval;
            while (!cancellationToken.IsCancellationRequested)
            {
                try
                {
                    using (var wait = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
                    {
                        wait.CancelAfter(poll);
                        try
                        {
                            await _signals.Reader.ReadAsync(wait.Token);
                        }
                        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                        {
                            // The poll: read even without a notification.
                        }
                    }

                    foreach (var streamEvent in await owner.ReadAsync(stream, _delivered, cancellationToken))
                    {
                        try
                        {
                            await onEvent(streamEvent, cancellationToken);
                        }
                        catch (Exception ex) when (ex is not OperationCanceledException)
                        {
                            owner._logger.LogWarning(ex, "A subscriber of stream {Stream} failed on event {Sequence}", stream, streamEvent.Sequence);
                        }

                        _delivered = streamEvent.Sequence;
                    }
                }
                catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
                {
                    return;
                }
                catch (Exception ex)
                {
                    // Redis unavailable: the next signal or poll reads again from the last delivered event.
                    owner._logger.LogWarning(ex, "Reading stream {Stream} failed; retrying", stream);
                }
            }
        }
    }
}
