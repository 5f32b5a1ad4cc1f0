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
/// delivered, so a lost notification delays events but never loses or reorders them. The subscribers of one stream in
/// a replica share its reads (<see cref="StreamFeed"/>): a notification costs one read of the new events, not one per
/// watching socket.
/// </summary>
public sealed class RedisJobEventStream(
    IRedisConnection redis, IRedisSubscriber subscriber, IOptions<JobEngineOptions> options, ILogger<RedisJobEventStream> logger)
    : IJobEventStream, IAsyncDisposable
{
    private readonly ConcurrentDictionary<StreamSubscription, string> _subscriptions = new();
    private readonly Dictionary<string, StreamFeed> _feeds = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _subscribeLock = new(1, 1);
    private readonly TimeSpan _pollInterval = options.Value.StreamPollInterval;
    private readonly ILogger _logger = logger;
    private IAsyncDisposable? _notifications;

    public async Task<IReadOnlyList<JobStreamEvent>> ReadAsync(JobStreamId stream, long afterSequence, CancellationToken cancellationToken)
    {
        var after = Math.Max(0, afterSequence);
        var items = await ReadStoredAsync(stream, after, cancellationToken);
        return items.Select((item, i) => ToEvent(after + i + 1, item)).ToList();
    }

    /// <summary>The stored form of every event after <paramref name="after"/>, in order.</summary>
    private async Task<IReadOnlyList<string>> ReadStoredAsync(JobStreamId stream, long after, CancellationToken cancellationToken) =>
        await redis.ListRangeAsync(JobKeys.Stream(stream), after, -1, cancellationToken);

    /// <summary>An event from its stored form; every caller gets objects of its own.</summary>
    private static JobStreamEvent ToEvent(long sequence, string item)
    {
        var stored = JsonNode.Parse(item)!.AsObject();
        return new JobStreamEvent(
            sequence,
            (string)stored["type"]!,
            stored["payload"]!.AsObject().DeepClone().AsObject(),
            DateTimeOffset.Parse((string)stored["at"]!, System.Globalization.CultureInfo.InvariantCulture));
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
        var subscription = new StreamSubscription(this, stream, JoinFeed(stream.ToString()), afterSequence, onEvent);
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
                    NotifyFeeds(stream);
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
                    NotifyFeeds(stream: null);
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

    private StreamFeed JoinFeed(string stream)
    {
        lock (_feeds)
        {
            if (!_feeds.TryGetValue(stream, out var feed))
            {
                _feeds[stream] = feed = new StreamFeed();
            }

            feed.Subscribers++;
            return feed;
        }
    }

    private void LeaveFeed(string stream, StreamFeed feed)
    {
        lock (_feeds)
        {
            if (--feed.Subscribers == 0)
            {
                _feeds.Remove(stream);
            }
        }
    }

    /// <summary>Marks the feed of <paramref name="stream"/> (of every stream when null) as having events it has not read.</summary>
    private void NotifyFeeds(string? stream)
    {
        lock (_feeds)
        {
            foreach (var (id, feed) in _feeds)
            {
                if (stream is null || id == stream)
                {
                    Interlocked.Increment(ref feed.Notified);
                }
            }
        }
    }

    /// <summary>The events after <paramref name="after"/> for one subscriber of <paramref name="stream"/>. Redis is read
    /// only when a notification came since the feed's last read (or when <paramref name="poll"/> and no subscriber read
    /// for half a poll interval); otherwise the events come from what the feed already read.</summary>
    private async Task<IReadOnlyList<JobStreamEvent>> ReadSharedAsync(JobStreamId stream, StreamFeed feed, long after, bool poll, CancellationToken cancellationToken)
    {
        // Taken before the read: a notification after this is read by the next caller.
        var notified = Interlocked.Read(ref feed.Notified);
        await feed.Gate.WaitAsync(cancellationToken);
        try
        {
            if (feed.Stored.Count == 0)
            {
                feed.StoredAfter = after;
            }
            else if (after < feed.StoredAfter)
            {
                // Behind what the feed holds (a subscriber that started with ?since=N): a read of its own.
                return await ReadAsync(stream, after, cancellationToken);
            }

            var stale = feed.ReadThrough < notified
                || (poll && Environment.TickCount64 - feed.LastReadAt >= (long)(_pollInterval.TotalMilliseconds / 2))
                || after >= feed.StoredAfter + feed.Stored.Count;
            if (stale)
            {
                feed.Stored.AddRange(await ReadStoredAsync(stream, feed.StoredAfter + feed.Stored.Count, cancellationToken));
                feed.ReadThrough = notified;
                feed.LastReadAt = Environment.TickCount64;
                if (feed.Stored.Count > StreamFeed.Capacity)
                {
                    var dropped = feed.Stored.Count - StreamFeed.Capacity;
                    feed.Stored.RemoveRange(0, dropped);
                    feed.StoredAfter += dropped;
                    if (after < feed.StoredAfter)
                    {
                        return await ReadAsync(stream, after, cancellationToken);
                    }
                }
            }

            var first = (int)(after - feed.StoredAfter);
            if (first >= feed.Stored.Count)
            {
                // Nothing after it (or the stream was removed by the retention cleanup).
                return [];
            }

            var events = new List<JobStreamEvent>(feed.Stored.Count - first);
            for (var i = first; i < feed.Stored.Count; i++)
            {
                events.Add(ToEvent(feed.StoredAfter + i + 1, feed.Stored[i]));
            }

            return events;
        }
        finally
        {
            feed.Gate.Release();
        }
    }

    /// <summary>What the subscribers of one stream in this replica share: the stored events read so far (a window of at
    /// most <see cref="Capacity"/>, contiguous: <c>Stored[i]</c> is event <c>StoredAfter + i + 1</c>), and how many
    /// notifications came (<see cref="Notified"/>) against how many the last read covered (<see cref="ReadThrough"/>).
    /// The events are kept in their stored form, so every subscriber parses objects of its own.</summary>
    private sealed class StreamFeed
    {
        public const int Capacity = 1024;

        public readonly SemaphoreSlim Gate = new(1, 1);
        public readonly List<string> Stored = [];
        public long StoredAfter;
        public long Notified;
        public long ReadThrough = -1;
        public long LastReadAt;

        // Under the owner's lock.
        public int Subscribers;
    }

    private sealed class StreamSubscription(
        RedisJobEventStream owner, JobStreamId stream, StreamFeed feed, long afterSequence, Func<JobStreamEvent, CancellationToken, Task> onEvent)
        : IAsyncDisposable
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

            owner.LeaveFeed(stream.ToString(), feed);

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
                    var polled = false;
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
                            polled = true;
                        }
                    }

                    foreach (var streamEvent in await owner.ReadSharedAsync(stream, feed, _delivered, polled, cancellationToken))
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
