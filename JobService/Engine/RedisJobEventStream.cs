using System.Buffers;
using System.Collections.Concurrent;
using System.Text;
using System.Text.Json;
using System.Threading.Channels;
using DirectorsConsole.Contracts;
using DirectorsConsole.JobService.Model;
using DirectorsConsole.Messaging;
using Microsoft.Extensions.Options;

namespace DirectorsConsole.JobService.Engine;

/// <summary>
/// The event streams in Redis lists (<see cref="JobKeys.Stream"/>; an event's sequence number is its index + 1, so
/// there are no gaps). A replica holds one pub/sub subscription to <see cref="JobKeys.StreamNotifications"/> for all
/// its subscribers; a notification, a resubscribe after a reconnect or the poll every
/// <see cref="JobEngineOptions.StreamPollInterval"/> makes the stream's <see cref="StreamFeed"/> read the list after
/// the last event it holds, so a lost notification delays events but never loses or reorders them. The subscribers of
/// one stream in a replica share that read and the events it made: each event is parsed and turned into the client's
/// message (<see cref="JobStreamEvent.Message"/>) once per replica, not once per watching socket, and a notification
/// costs one read of the new events.
/// <para>The same registration carries previews (<see cref="ForwardPreviewAsync"/>): a render event of kind <c>preview</c> is
/// turned into <c>job_preview</c> for the job's stream and <c>child_preview</c> for its group's, once per replica, and
/// handed to the subscribers of those streams in this replica. Previews are not stored and have no sequence.</para>
/// </summary>
public sealed class RedisJobEventStream(
    IRedisConnection redis, IRedisSubscriber subscriber, JobStore store, IOptions<JobEngineOptions> options, ILogger<RedisJobEventStream> logger)
    : IJobEventStream, IAsyncDisposable
{
    /// <summary>Jobs whose group this replica remembers for previews; past that many it forgets them all and reads again.</summary>
    public const int GroupLookupCapacity = 4096;

    private readonly ConcurrentDictionary<StreamSubscription, string> _subscriptions = new();
    private readonly Dictionary<string, StreamFeed> _feeds = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _subscribeLock = new(1, 1);
    private readonly TimeSpan _pollInterval = options.Value.StreamPollInterval;
    private readonly ILogger _logger = logger;
    private readonly ConcurrentDictionary<string, Task<string?>> _groupOfJob = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _stopping = new();
    private IAsyncDisposable? _notifications;

    // How many of the feeds are groups' (changed under the lock of _feeds).
    private int _groupFeeds;

    public async Task<IReadOnlyList<JobStreamEvent>> ReadAsync(JobStreamId stream, long afterSequence, CancellationToken cancellationToken)
    {
        var after = Math.Max(0, afterSequence);
        var items = await ReadStoredAsync(stream, after, cancellationToken);
        return items.Select((item, i) => ToEvent(after + i + 1, item)).ToList();
    }

    /// <summary>The stored form of every event after <paramref name="after"/>, in order.</summary>
    private async Task<IReadOnlyList<string>> ReadStoredAsync(JobStreamId stream, long after, CancellationToken cancellationToken) =>
        await redis.ListRangeAsync(JobKeys.Stream(stream), after, -1, cancellationToken);

    /// <summary>An event from its stored form (<c>{"type", "at", "payload"}</c>, see <see cref="JobCommit.Append"/>), with
    /// the message a client gets: <c>type</c> and <c>sequence</c> first, then the payload's other fields.</summary>
    private static JobStreamEvent ToEvent(long sequence, string item)
    {
        using var stored = JsonDocument.Parse(item);
        var root = stored.RootElement;
        var type = root.GetProperty("type").GetString()!;
        var message = new ArrayBufferWriter<byte>(item.Length + 64);
        using (var writer = new Utf8JsonWriter(message))
        {
            writer.WriteStartObject();
            writer.WriteString("type", type);
            writer.WriteNumber("sequence", sequence);
            foreach (var field in root.GetProperty("payload").EnumerateObject())
            {
                if (!field.NameEquals("type") && !field.NameEquals("sequence"))
                {
                    field.WriteTo(writer);
                }
            }

            writer.WriteEndObject();
        }

        var at = DateTimeOffset.Parse(root.GetProperty("at").GetString()!, System.Globalization.CultureInfo.InvariantCulture);
        return new JobStreamEvent(sequence, type, at, message.WrittenSpan.ToArray());
    }

    /// <summary>The sequence number of the stream's last event (0 when it has none).</summary>
    public async Task<long> GetLastSequenceAsync(JobStreamId stream, CancellationToken cancellationToken) =>
        await redis.ListLengthAsync(JobKeys.Stream(stream), cancellationToken);

    public async Task<IAsyncDisposable> SubscribeAsync(
        JobStreamId stream, Func<JobStreamEvent, CancellationToken, Task> onEvent, Action<string, ReadOnlyMemory<byte>>? onPreview, CancellationToken cancellationToken) =>
        await SubscribeAsync(stream, await GetLastSequenceAsync(stream, cancellationToken), onEvent, onPreview, cancellationToken);

    public Task<IAsyncDisposable> SubscribeAsync(
        JobStreamId stream, long afterSequence, Func<JobStreamEvent, CancellationToken, Task> onEvent, CancellationToken cancellationToken) =>
        SubscribeAsync(stream, afterSequence, onEvent, onPreview: null, cancellationToken);

    /// <summary>Calls <paramref name="onEvent"/> for every event after <paramref name="afterSequence"/>, in order,
    /// including those appended before this call (a client reconnecting with <c>?since=N</c>, or one that read a
    /// snapshot first). Every subscriber of a stream gets the same <see cref="JobStreamEvent"/> objects.</summary>
    public async Task<IAsyncDisposable> SubscribeAsync(
        JobStreamId stream, long afterSequence, Func<JobStreamEvent, CancellationToken, Task> onEvent, Action<string, ReadOnlyMemory<byte>>? onPreview,
        CancellationToken cancellationToken)
    {
        await EnsureNotificationsAsync(cancellationToken);
        var feed = JoinFeed(stream, afterSequence);
        var subscription = new StreamSubscription(this, stream, feed, afterSequence, onEvent, onPreview);
        _subscriptions[subscription] = stream.ToString();
        feed.Add(subscription);
        subscription.Start();
        // What was appended between the caller's snapshot and this subscription.
        feed.RequestRead(poll: false);
        return subscription;
    }

    /// <summary>Hands a <c>preview</c> render event to this replica's watchers of its job's stream (<c>job_preview</c>)
    /// and of its group's (<c>child_preview</c>) when that needs no Redis read: no one here watches a group, or the job's
    /// group is known (<see cref="RememberGroupOf"/>, or an earlier lookup). False, having handed it to no one, when its
    /// group must be looked up first (<see cref="ForwardPreviewAsync"/>).</summary>
    public bool TryForwardPreviewNow(RenderEvent preview)
    {
        if (preview.JobId is not { } jobId || preview.Preview is null)
        {
            return true;
        }

        string? groupId = null;
        if (Volatile.Read(ref _groupFeeds) > 0)
        {
            if (!_groupOfJob.TryGetValue(jobId, out var known) || !known.IsCompletedSuccessfully)
            {
                return false;
            }

            groupId = known.Result;
        }

        HandOnPreview(jobId, preview, groupId);
        return true;
    }

    /// <summary>Hands a <c>preview</c> render event to this replica's watchers of its job's stream and of its group's,
    /// looking the group up first when it is not known; completes once every watcher here has it. Never fails: a lookup
    /// that fails or takes longer than the poll interval loses this preview for the group's watchers (previews are
    /// best-effort), with a warning. The group is looked up only while someone here watches a group, once per job
    /// (remembered, up to <see cref="GroupLookupCapacity"/> jobs).</summary>
    public async Task ForwardPreviewAsync(RenderEvent preview)
    {
        if (preview.JobId is not { } jobId || preview.Preview is null)
        {
            return;
        }

        if (Volatile.Read(ref _groupFeeds) == 0)
        {
            HandOnPreview(jobId, preview, groupId: null);
            return;
        }

        var lookup = GroupOfJob(jobId);
        string? groupId;
        try
        {
            groupId = await lookup;
        }
        catch (Exception ex)
        {
            // Redis unavailable or slow: the next preview of this job looks again.
            _groupOfJob.TryRemove(new KeyValuePair<string, Task<string?>>(jobId, lookup));
            if (!_stopping.IsCancellationRequested)
            {
                _logger.LogWarning(ex, "Looking up the group of job {JobId} for its preview failed; its group's watchers miss it", jobId);
            }

            groupId = null;
        }

        HandOnPreview(jobId, preview, groupId);
    }

    private void HandOnPreview(string jobId, RenderEvent preview, string? groupId)
    {
        FindFeed(JobStreamId.Job(jobId))?.Preview(jobId, PreviewMessage(preview, groupId: null));
        if (groupId is not null)
        {
            FindFeed(JobStreamId.Group(groupId))?.Preview(jobId, PreviewMessage(preview, groupId));
        }
    }

    /// <summary>Remembers the group of a job (null: none) as its render events found it, while someone here watches a
    /// group, so the job's previews need no lookup.</summary>
    public void RememberGroupOf(string jobId, string? groupId)
    {
        if (Volatile.Read(ref _groupFeeds) == 0 || _groupOfJob.ContainsKey(jobId))
        {
            return;
        }

        if (_groupOfJob.Count >= GroupLookupCapacity)
        {
            _groupOfJob.Clear();
        }

        _groupOfJob.TryAdd(jobId, Task.FromResult(groupId));
    }

    private Task<string?> GroupOfJob(string jobId)
    {
        if (_groupOfJob.TryGetValue(jobId, out var known))
        {
            return known;
        }

        if (_groupOfJob.Count >= GroupLookupCapacity)
        {
            _groupOfJob.Clear();
        }

        return _groupOfJob.GetOrAdd(jobId, async id =>
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token);
            timeout.CancelAfter(_pollInterval);
            return await store.GetGroupIdOfJobAsync(id, timeout.Token);
        });
    }

    private StreamFeed? FindFeed(JobStreamId stream)
    {
        lock (_feeds)
        {
            return _feeds.GetValueOrDefault(stream.ToString());
        }
    }

    /// <summary><c>job_preview</c> (<paramref name="groupId"/> null) or <c>child_preview</c> with the group's id: the job,
    /// prompt and backend, the image as the render event has it (a data URL) and when it was rendered.</summary>
    private static byte[] PreviewMessage(RenderEvent preview, string? groupId)
    {
        var message = new ArrayBufferWriter<byte>(preview.Preview!.Length + 256);
        using (var writer = new Utf8JsonWriter(message))
        {
            writer.WriteStartObject();
            writer.WriteString("type", groupId is null ? "job_preview" : "child_preview");
            if (groupId is not null)
            {
                writer.WriteString("job_group_id", groupId);
            }

            writer.WriteString("job_id", preview.JobId);
            writer.WriteString("prompt_id", preview.PromptId);
            writer.WriteString("backend_id", preview.BackendId);
            writer.WriteString("image", preview.Preview);
            writer.WriteString("at", preview.At);
            writer.WriteEndObject();
        }

        return message.WrittenSpan.ToArray();
    }

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync();
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
                    NotifyFeeds(Encoding.UTF8.GetString(payload.Span));
                    return Task.CompletedTask;
                },
                _ =>
                {
                    // Notifications sent while the subscription was down are gone: every feed reads again.
                    NotifyFeeds(stream: null);
                    return Task.CompletedTask;
                },
                cancellationToken: cancellationToken);
        }
        finally
        {
            _subscribeLock.Release();
        }
    }

    private StreamFeed JoinFeed(JobStreamId stream, long after)
    {
        lock (_feeds)
        {
            if (!_feeds.TryGetValue(stream.ToString(), out var feed))
            {
                _feeds[stream.ToString()] = feed = new StreamFeed(this, stream, after);
                _groupFeeds += stream.IsGroup ? 1 : 0;
            }

            feed.Subscribers++;
            return feed;
        }
    }

    private void LeaveFeed(StreamFeed feed, StreamSubscription subscription)
    {
        feed.Remove(subscription);
        lock (_feeds)
        {
            if (--feed.Subscribers == 0)
            {
                _feeds.Remove(feed.Stream.ToString());
                _groupFeeds -= feed.Stream.IsGroup ? 1 : 0;
                feed.Stop();
            }
        }
    }

    /// <summary>Makes the feed of <paramref name="stream"/> (of every stream when null) read its new events.</summary>
    private void NotifyFeeds(string? stream)
    {
        lock (_feeds)
        {
            if (stream is not null)
            {
                if (_feeds.TryGetValue(stream, out var feed))
                {
                    feed.RequestRead(poll: false);
                }

                return;
            }

            foreach (var feed in _feeds.Values)
            {
                feed.RequestRead(poll: false);
            }
        }
    }

    /// <summary>The events a stream's subscribers in this replica have in common: a window of its latest events (at
    /// most <see cref="Capacity"/>, contiguous, replaced whole by each read so subscribers take from it without a lock),
    /// and the one read at a time that extends it. A read is asked for by a notification, a subscriber that starts or
    /// polls; asked for while one runs, it runs once more after it. After a read every subscriber is signalled and takes
    /// what it has not delivered; a subscriber behind the window (one that started with <c>?since=N</c>, or fell more than
    /// <see cref="Capacity"/> events behind) reads for itself.</summary>
    private sealed class StreamFeed(RedisJobEventStream owner, JobStreamId stream, long after)
    {
        public const int Capacity = 1024;

        private readonly CancellationTokenSource _stop = new();
        private readonly object _subscribersLock = new();
        private StreamSubscription[] _subscribers = [];
        private Window _window = new(after, []);
        private int _requested;
        private int _pollsOnly = 1;
        private int _reading;
        private long _lastReadAt;

        public JobStreamId Stream => stream;

        // Under the owner's lock.
        public int Subscribers;

        /// <summary>The events held: <c>Events[i]</c> is event <c>After + i + 1</c>.</summary>
        public Window Current => Volatile.Read(ref _window);

        public void Add(StreamSubscription subscription)
        {
            lock (_subscribersLock)
            {
                _subscribers = [.. _subscribers, subscription];
            }
        }

        public void Remove(StreamSubscription subscription)
        {
            lock (_subscribersLock)
            {
                _subscribers = Array.FindAll(_subscribers, s => s != subscription);
            }
        }

        public void Stop() => _stop.Cancel();

        /// <summary>Hands a preview to every subscriber (each keeps or drops it without blocking).</summary>
        public void Preview(string jobId, byte[] message)
        {
            foreach (var subscription in Volatile.Read(ref _subscribers))
            {
                subscription.Preview(jobId, message);
            }
        }

        /// <summary>Asks for a read; a poll's request is dropped when the feed read less than half a poll interval ago.</summary>
        public void RequestRead(bool poll)
        {
            if (!poll)
            {
                Volatile.Write(ref _pollsOnly, 0);
            }

            Volatile.Write(ref _requested, 1);
            if (Interlocked.CompareExchange(ref _reading, 1, 0) == 0)
            {
                _ = Task.Run(ReadLoopAsync);
            }
        }

        private async Task ReadLoopAsync()
        {
            while (true)
            {
                while (Interlocked.Exchange(ref _requested, 0) == 1)
                {
                    var pollsOnly = Interlocked.Exchange(ref _pollsOnly, 1) == 1;
                    if (pollsOnly && Environment.TickCount64 - Volatile.Read(ref _lastReadAt) < (long)(owner._pollInterval.TotalMilliseconds / 2))
                    {
                        continue;
                    }

                    if (!await ReadOnceAsync())
                    {
                        break;
                    }
                }

                Volatile.Write(ref _reading, 0);
                // A request that came after the loop's last look but before it let go runs here, not lost.
                if (Volatile.Read(ref _requested) == 0 || Interlocked.CompareExchange(ref _reading, 1, 0) != 0)
                {
                    return;
                }
            }
        }

        /// <summary>Reads the events after the window, makes them the new window and signals every subscriber; false when
        /// the read failed (the next notification or poll reads again).</summary>
        private async Task<bool> ReadOnceAsync()
        {
            Volatile.Write(ref _lastReadAt, Environment.TickCount64);
            try
            {
                var window = Current;
                var next = window.After + window.Events.Length;
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
                timeout.CancelAfter(owner._pollInterval);
                var items = await owner.ReadStoredAsync(stream, next, timeout.Token);
                if (items.Count > 0)
                {
                    var added = new JobStreamEvent[items.Count];
                    for (var i = 0; i < added.Length; i++)
                    {
                        added[i] = ToEvent(next + i + 1, items[i]);
                    }

                    var events = window.Events.Length + added.Length <= Capacity
                        ? [.. window.Events, .. added]
                        : window.Events.Concat(added).TakeLast(Capacity).ToArray();
                    Volatile.Write(ref _window, new Window(next + added.Length - events.Length, events));
                }
            }
            catch (Exception ex)
            {
                if (!_stop.IsCancellationRequested)
                {
                    // Redis unavailable or slow: the subscribers' next poll asks again.
                    owner._logger.LogWarning(ex, "Reading stream {Stream} failed; retrying", stream);
                }

                return false;
            }

            foreach (var subscription in Volatile.Read(ref _subscribers))
            {
                subscription.Signal();
            }

            return true;
        }
    }

    /// <summary>A feed's events: <c>Events[i]</c> is event <c>After + i + 1</c>.</summary>
    private sealed record Window(long After, JobStreamEvent[] Events);

    private sealed class StreamSubscription(
        RedisJobEventStream owner, JobStreamId stream, StreamFeed feed, long afterSequence, Func<JobStreamEvent, CancellationToken, Task> onEvent,
        Action<string, ReadOnlyMemory<byte>>? onPreview)
        : IAsyncDisposable
    {
        private readonly Channel<bool> _signals = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });
        private readonly CancellationTokenSource _stop = new();
        private long _delivered = afterSequence;
        private Task _pump = Task.CompletedTask;

        public void Start() => _pump = Task.Run(() => PumpAsync(_stop.Token));

        public void Signal() => _signals.Writer.TryWrite(true);

        public void Preview(string jobId, byte[] message)
        {
            try
            {
                onPreview?.Invoke(jobId, message);
            }
            catch (Exception ex)
            {
                owner._logger.LogWarning(ex, "A subscriber of stream {Stream} failed on a preview", stream);
            }
        }

        public async ValueTask DisposeAsync()
        {
            if (!owner._subscriptions.TryRemove(this, out _))
            {
                return;
            }

            owner.LeaveFeed(feed, this);

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
                            // The poll: the feed reads even without a notification, then signals.
                            feed.RequestRead(poll: true);
                            continue;
                        }
                    }

                    foreach (var streamEvent in await TakeAsync(cancellationToken))
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

        /// <summary>The events after the last delivered one: from the feed's window, or read for itself when it is behind
        /// the window.</summary>
        private async Task<IReadOnlyList<JobStreamEvent>> TakeAsync(CancellationToken cancellationToken)
        {
            var window = feed.Current;
            if (_delivered < window.After)
            {
                return await owner.ReadAsync(stream, _delivered, cancellationToken);
            }

            var first = _delivered - window.After;
            if (first >= window.Events.Length)
            {
                // Typed apart from the segment below: as one conditional, [] would be a default ArraySegment, whose
                // enumeration throws.
                return [];
            }

            return new ArraySegment<JobStreamEvent>(window.Events, (int)first, window.Events.Length - (int)first);
        }
    }
}
