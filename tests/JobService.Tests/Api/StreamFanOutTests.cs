using System.Collections.Concurrent;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Text.Json.Nodes;
using DirectorsConsole.Contracts;
using DirectorsConsole.JobService.Apis;
using DirectorsConsole.JobService.Engine;
using DirectorsConsole.JobService.Model;
using DirectorsConsole.JobService.Tests.Engine;
using DirectorsConsole.Messaging;
using DirectorsConsole.Testing;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace DirectorsConsole.JobService.Tests.Api;

/// <summary>Many WebSocket sessions of one stream in a replica: each gets <c>initial_state</c> and then every event once,
/// in order, as the same bytes as every other watcher; one whose client stops reading holds up nobody and, once it is
/// more than <see cref="JobStreamOptions.ClientBufferSize"/> events behind, is closed with 1008 and the sequence to
/// resume from. The sockets are in memory; the poll is ten minutes, so only the notifications deliver.</summary>
public sealed class StreamFanOutTests(GarnetFixture garnet) : IClassFixture<GarnetFixture>
{
    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Fact]
    public async Task TwoHundredWatchersEachGetEveryEventOnceInOrderAsTheSameBytes()
    {
        // Arrange
        const int watchers = 200;
        const int events = 30;
        await using var rig = await Rig.StartAsync(garnet, new JobStreamOptions());
        var sockets = Enumerable.Range(0, watchers).Select(_ => new MemorySocket()).ToArray();
        foreach (var socket in sockets)
        {
            rig.Watch(socket);
        }

        await Eventually.ReturnsAsync(() => Task.FromResult(sockets.Min(s => s.Sent.Count)), count => count == 1);

        // Act
        for (var n = 1; n <= events; n++)
        {
            await SharedStreamReadTests.AppendAsync(rig.Redis, rig.Stream, n, notify: true);
        }

        await Eventually.ReturnsAsync(() => Task.FromResult(sockets.Min(s => s.Sent.Count)), count => count >= 1 + events);

        // Assert
        foreach (var socket in sockets)
        {
            var messages = socket.Sent.Select(m => JsonNode.Parse(m)!.AsObject()).ToList();
            Assert.Equal(1 + events, messages.Count);
            Assert.Equal("initial_state", (string?)messages[0]["type"]);
            Assert.Equal(0, (long?)messages[0]["sequence"]);
            Assert.Equal(Enumerable.Range(1, events).Select(i => (long)i), messages.Skip(1).Select(m => (long)m["sequence"]!));
            Assert.Equal(Enumerable.Range(1, events), messages.Skip(1).Select(m => (int)m["n"]!));
            Assert.All(messages.Skip(1), m => Assert.Equal("child_progress", (string?)m["type"]));
            Assert.Equal(sockets[0].Sent.Skip(1).Select(Convert.ToBase64String), socket.Sent.Skip(1).Select(Convert.ToBase64String));
        }
    }

    [Fact]
    public async Task AWatcherThatStopsReadingDelaysNoOneAndIsClosedWithTheSequenceToResumeFrom()
    {
        // Arrange
        const int buffer = 16;
        const int events = 40;
        await using var rig = await Rig.StartAsync(garnet, new JobStreamOptions { ClientBufferSize = buffer, SendTimeout = TimeSpan.FromMinutes(10) });
        var others = Enumerable.Range(0, 20).Select(_ => new MemorySocket()).ToArray();
        var stuck = new MemorySocket();
        foreach (var socket in others.Append(stuck))
        {
            rig.Watch(socket);
        }

        await Eventually.ReturnsAsync(() => Task.FromResult(others.Append(stuck).Min(s => s.Sent.Count)), count => count == 1);
        stuck.Hold();

        // Act
        for (var n = 1; n <= events; n++)
        {
            await SharedStreamReadTests.AppendAsync(rig.Redis, rig.Stream, n, notify: true);
        }

        // Every other watcher has every event while the stuck one's first send is still held.
        await Eventually.ReturnsAsync(() => Task.FromResult(others.Min(s => s.Sent.Count)), count => count == 1 + events);
        var stuckWhileHeld = stuck.Sent.Count;
        stuck.Release();
        await stuck.Closed.WaitAsync(TimeSpan.FromSeconds(30), Token);

        // Assert
        Assert.Equal(1, stuckWhileHeld);
        Assert.All(others, s => Assert.Equal(Enumerable.Range(1, events).Select(i => (long)i), s.Sent.Skip(1).Select(m => (long)JsonNode.Parse(m)!["sequence"]!)));
        var got = stuck.Sent.Skip(1).Select(m => (long)JsonNode.Parse(m)!["sequence"]!).ToList();
        Assert.InRange(got.Count, buffer, buffer + 1);
        Assert.Equal(Enumerable.Range(1, got.Count).Select(i => (long)i), got);
        Assert.Equal(WebSocketCloseStatus.PolicyViolation, stuck.ServerCloseStatus);
        Assert.Equal($"Client too slow: more than {buffer} events behind; reconnect with ?since={got[^1]}", stuck.ServerCloseReason);
    }

    [Fact]
    public async Task AWatcherBehindByThirtyEventsGetsThemWithOneWriteToItsConnection()
    {
        // Arrange: a session on a real WebSocket over loopback TCP, its connection's first write (initial_state) held,
        // and a watcher in memory beside it
        const int events = 30;
        await using var rig = await Rig.StartAsync(garnet, new JobStreamOptions());
        var (serverEnd, clientEnd) = await HeldWebSocketStreamTests.ConnectedPairAsync();
        var connection = new CountedStream(new NetworkStream(serverEnd, ownsSocket: true));
        connection.HoldWrites();
        var held = new HeldWebSocketStream(connection);
        using var server = WebSocket.CreateFromStream(held, new WebSocketCreationOptions { IsServer = true, KeepAliveInterval = Timeout.InfiniteTimeSpan });
        using var client = WebSocket.CreateFromStream(new NetworkStream(clientEnd, ownsSocket: true), new WebSocketCreationOptions { IsServer = false, KeepAliveInterval = Timeout.InfiniteTimeSpan });
        var beside = new MemorySocket();
        rig.Watch(server, held);
        rig.Watch(beside);
        await Eventually.ReturnsAsync(() => Task.FromResult((connection.WritesStarted, beside.Sent.Count)), started => started == (1, 1));

        // Act: thirty events reach the other watcher while this one's connection is held, then it is let go
        for (var n = 1; n <= events; n++)
        {
            await SharedStreamReadTests.AppendAsync(rig.Redis, rig.Stream, n, notify: true);
        }

        await Eventually.ReturnsAsync(() => Task.FromResult(beside.Sent.Count), count => count == 1 + events);
        // The other watcher's pump is not this one's: a moment for this one's to have queued them too.
        await Task.Delay(200, Token);
        connection.ReleaseWrites();
        var received = new List<JsonObject>();
        var buffer = new byte[64 * 1024];
        while (received.Count < 1 + events)
        {
            var result = await client.ReceiveAsync(buffer.AsMemory(), Token);
            Assert.True(result.EndOfMessage);
            received.Add(JsonNode.Parse(buffer.AsSpan(0, result.Count))!.AsObject());
        }

        // Assert: every event once and in order, with one write for initial_state and one (at most two, had the pump
        // been late) for the thirty; sent one by one they took thirty
        Assert.Equal("initial_state", (string?)received[0]["type"]);
        Assert.Equal(Enumerable.Range(1, events).Select(i => (long)i), received.Skip(1).Select(m => (long)m["sequence"]!));
        Assert.InRange(connection.Writes, 2, 3);
    }

    [Fact]
    public async Task PreviewsForAWatcherThatIsBehindAreReplacedNotQueuedAndNeverCloseItOrReorderItsEvents()
    {
        // Arrange: a job's stream watched by a client that reads and one that stops reading after initial_state
        const int buffer = 16;
        const int previews = 100;
        const int events = 3;
        var jobId = Guid.NewGuid().ToString();
        await using var rig = await Rig.StartAsync(garnet, new JobStreamOptions { ClientBufferSize = buffer, SendTimeout = TimeSpan.FromMinutes(10) }, JobStreamId.Job(jobId));
        var reading = new MemorySocket();
        var stuck = new MemorySocket();
        rig.Watch(reading);
        rig.Watch(stuck);
        await Eventually.ReturnsAsync(() => Task.FromResult(Math.Min(reading.Sent.Count, stuck.Sent.Count)), count => count == 1);
        stuck.Hold();

        // Act: many times the buffer in previews, then a few events
        for (var i = 1; i <= previews; i++)
        {
            await ForwardPreviewsAsync(rig, [jobId], i);
        }

        for (var n = 1; n <= events; n++)
        {
            await SharedStreamReadTests.AppendAsync(rig.Redis, rig.Stream, n, notify: true);
        }

        await Eventually.ReturnsAsync(() => Task.FromResult(reading.Sent.Count(m => JsonNode.Parse(m)!["sequence"] is not null)), count => count == 1 + events);
        stuck.Release();
        await Eventually.ReturnsAsync(() => Task.FromResult(stuck.Sent.Count(m => JsonNode.Parse(m)!["sequence"] is not null)), count => count == 1 + events);
        await Eventually.ReturnsAsync(() => Task.FromResult(new[] { reading, stuck }.All(s => s.Sent.Any(m => (string?)JsonNode.Parse(m)!["image"] == $"data:image/png;base64,{previews}"))), all => all);

        // Assert: the stuck client's events came in order, it got at most the preview it was held on and the newest, and
        // it is still open; the reading client's previews came in the order they were rendered
        foreach (var socket in new[] { reading, stuck })
        {
            var messages = socket.Sent.Select(m => JsonNode.Parse(m)!.AsObject()).ToList();
            Assert.Equal(Enumerable.Range(1, events).Select(i => (long)i), messages.Skip(1).Where(m => m["sequence"] is not null).Select(m => (long)m["sequence"]!));
            var sentPreviews = messages.Where(m => (string?)m["type"] == "job_preview").ToList();
            Assert.All(sentPreviews, p => Assert.Equal(jobId, (string?)p["job_id"]));
            var numbers = sentPreviews.Select(p => int.Parse(((string)p["image"]!)["data:image/png;base64,".Length..], System.Globalization.CultureInfo.InvariantCulture)).ToList();
            Assert.Equal(numbers.Order(), numbers);
            Assert.Equal(previews, numbers[^1]);
            Assert.Null(socket.ServerCloseStatus);
        }

        Assert.InRange(stuck.Sent.Count(m => (string?)JsonNode.Parse(m)!["type"] == "job_preview"), 1, 2);
    }

    [Fact]
    public async Task AWatcherThatIsBehindGetsEachPreviewBetweenTheEventsItCameBetween()
    {
        // Arrange: a job's stream watched by a client that is stuck on the first event
        var jobId = Guid.NewGuid().ToString();
        await using var rig = await Rig.StartAsync(garnet, new JobStreamOptions { SendTimeout = TimeSpan.FromMinutes(10) }, JobStreamId.Job(jobId));
        var stuck = new MemorySocket();
        rig.Watch(stuck);
        await Eventually.ReturnsAsync(() => Task.FromResult(stuck.Sent.Count), count => count == 1);
        stuck.Hold();
        await SharedStreamReadTests.AppendAsync(rig.Redis, rig.Stream, 1, notify: true);
        await Eventually.ReturnsAsync(() => Task.FromResult(stuck.Attempts), count => count == 2);

        // Act: while it is stuck, a preview (the node's last, say), then the events that followed it (its completion)
        await ForwardPreviewsAsync(rig, [jobId], 1);
        await SharedStreamReadTests.AppendAsync(rig.Redis, rig.Stream, 2, notify: true);
        await SharedStreamReadTests.AppendAsync(rig.Redis, rig.Stream, 3, notify: true);
        stuck.Release();
        await Eventually.ReturnsAsync(() => Task.FromResult(stuck.Sent.Count), count => count == 5);

        // Assert: the preview came where it came among the events, not after the events that came later
        var sent = stuck.Sent.Select(m => JsonNode.Parse(m)!.AsObject()).Select(m => m["sequence"]?.ToString() ?? (string?)m["type"]);
        Assert.Equal(["0", "1", "job_preview", "2", "3"], sent);
    }

    [Fact]
    public async Task APreviewOfAChildWhoseGroupItsEventsShowedGoesToTheGroupAtOnceAndOneThatNeedsALookupIsLeftToTheLane()
    {
        // Arrange: a group watched in the replica; the children's records are not in Redis, so a lookup finds no group
        var groupId = Guid.NewGuid().ToString();
        string[] children = [Guid.NewGuid().ToString(), Guid.NewGuid().ToString()];
        await using var rig = await Rig.StartAsync(garnet, new JobStreamOptions(), JobStreamId.Group(groupId));
        var watcher = new MemorySocket();
        rig.Watch(watcher);
        await Eventually.ReturnsAsync(() => Task.FromResult(watcher.Sent.Count), count => count == 1);

        // Act: the first child's render events showed its group (as applying them does); the second's did not
        rig.Streams.RememberGroupOf(children[0], groupId);
        var handedOnNow = children.Select(child => rig.Streams.TryForwardPreviewNow(Preview(child, 1))).ToArray();
        await Eventually.ReturnsAsync(() => Task.FromResult(watcher.Sent.Count), count => count == 2);

        // Assert: the first went to the group's watcher at once; the second needs a lookup, so it is left to the caller
        Assert.Equal([true, false], handedOnNow);
        var preview = JsonNode.Parse(watcher.Sent.Last())!;
        Assert.Equal(("child_preview", children[0], groupId), ((string?)preview["type"], (string?)preview["job_id"], (string?)preview["job_group_id"]));
    }

    [Fact]
    public async Task AGroupWatcherThatIsBehindGetsTheNewestPreviewOfEachChild()
    {
        // Arrange: a group of two children, watched by a client that stops reading after initial_state
        var groupId = Guid.NewGuid().ToString();
        string[] children = [Guid.NewGuid().ToString(), Guid.NewGuid().ToString()];
        await using var rig = await Rig.StartAsync(garnet, new JobStreamOptions { SendTimeout = TimeSpan.FromMinutes(10) }, JobStreamId.Group(groupId));
        foreach (var child in children)
        {
            var record = new JobRecord(child, "running", DateTimeOffset.UtcNow) { GroupId = groupId };
            await rig.Redis.HashSetAsync(JobKeys.Job(child), "record", System.Text.Json.JsonSerializer.Serialize(record, JobJson.Options), Token);
        }

        var stuck = new MemorySocket();
        rig.Watch(stuck);
        await Eventually.ReturnsAsync(() => Task.FromResult(stuck.Sent.Count), count => count == 1);
        // A first preview of each child while it reads (the replica looks up and remembers each child's group).
        await ForwardPreviewsAsync(rig, children, 0);
        await Eventually.ReturnsAsync(() => Task.FromResult(stuck.Sent.Count), count => count == 3);
        stuck.Hold();

        // Act: ten previews of each child in turn while the client is stuck on the first of them
        for (var i = 1; i <= 10; i++)
        {
            await ForwardPreviewsAsync(rig, children, i);
        }

        stuck.Release();
        await Eventually.ReturnsAsync(
            () => Task.FromResult(children.All(child => stuck.Sent.Select(m => JsonNode.Parse(m)!).Any(m => (string?)m["job_id"] == child && (string?)m["image"] == "data:image/png;base64,10"))),
            all => all);

        // Assert: after the one it was stuck on, only the newest of each child, as child_preview of the group; still open
        var sent = stuck.Sent.Skip(3).Select(m => JsonNode.Parse(m)!.AsObject()).ToList();
        Assert.InRange(sent.Count, 2, 3);
        Assert.All(sent, m => Assert.Equal(("child_preview", groupId), ((string?)m["type"], (string?)m["job_group_id"])));
        Assert.Null(stuck.ServerCloseStatus);
    }

    private static async Task ForwardPreviewsAsync(Rig rig, string[] jobIds, int n)
    {
        foreach (var jobId in jobIds)
        {
            await rig.Streams.ForwardPreviewAsync(Preview(jobId, n));
        }
    }

    private static RenderEvent Preview(string jobId, int n) =>
        new(RenderEventKinds.Preview, "prompt-" + jobId, jobId, "node-a", DateTimeOffset.UtcNow) { Preview = $"data:image/png;base64,{n}" };

    /// <summary>A replica's event stream over the test's Garnet and the sessions of one group stream on it.</summary>
    private sealed class Rig : IAsyncDisposable
    {
        private readonly RedisConnection _streamConnection;
        private readonly RedisSubscriber _subscriber;
        private readonly RedisJobEventStream _streams;
        private readonly JobStreamOptions _options;
        private readonly CancellationTokenSource _stop = new();
        private readonly List<Task> _sessions = [];

        private Rig(RedisOptions redis, JobStreamOptions options, JobStreamId? stream)
        {
            Stream = stream ?? JobStreamId.Group(Guid.NewGuid().ToString());
            Redis = new RedisConnection(redis);
            _streamConnection = new RedisConnection(redis);
            _subscriber = new RedisSubscriber(redis);
            _streams = new RedisJobEventStream(
                _streamConnection, _subscriber, new JobStore(_streamConnection, NullLogger<JobStore>.Instance), Options.Create(new JobEngineOptions { StreamPollInterval = TimeSpan.FromMinutes(10) }),
                NullLogger<RedisJobEventStream>.Instance);
            _options = options;
        }

        public RedisConnection Redis { get; }

        public JobStreamId Stream { get; }

        public RedisJobEventStream Streams => _streams;

        public static Task<Rig> StartAsync(GarnetFixture garnet, JobStreamOptions options, JobStreamId? stream = null) =>
            Task.FromResult(new Rig(new RedisOptions { ConnectionString = garnet.ConnectionString }, options, stream));

        /// <summary>Runs a session of the stream on <paramref name="socket"/>, as the endpoint does, until the rig stops.</summary>
        public void Watch(WebSocket socket, HeldWebSocketStream? held = null) => _sessions.Add(Task.Run(async () =>
        {
            // As the server does when the request ends: the socket is aborted.
            await using var abort = _stop.Token.Register(socket.Abort);
            await using var session = new JobStreamSession(socket, Stream, _streams, _options, NullLogger.Instance, held);
            await session.RunAsync(null, _ => Task.FromResult<JsonObject?>(new JsonObject { ["status"] = "running" }), "not found", _stop.Token);
        }));

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            await Task.WhenAll(_sessions).WaitAsync(TimeSpan.FromSeconds(30));
            await _streams.DisposeAsync();
            await _subscriber.DisposeAsync();
            await _streamConnection.DisposeAsync();
            await Redis.DisposeAsync();
            _stop.Dispose();
        }
    }

    /// <summary>The server's side of a WebSocket in memory: records each message the server sends; <see cref="Hold"/>
    /// makes sends wait (a client that stops reading) until <see cref="Release"/>; the client answers the server's close
    /// at once, and closes when the server stops.</summary>
    private sealed class MemorySocket : WebSocket
    {
        private readonly TaskCompletionSource _closing = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly TaskCompletionSource _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private TaskCompletionSource? _hold;
        private WebSocketState _state = WebSocketState.Open;

        public ConcurrentQueue<byte[]> Sent { get; } = new();

        public WebSocketCloseStatus? ServerCloseStatus { get; private set; }

        public string? ServerCloseReason { get; private set; }

        /// <summary>Completes when the server has sent its close frame.</summary>
        public Task Closed => _closed.Task;

        public override WebSocketCloseStatus? CloseStatus => ServerCloseStatus;

        public override string? CloseStatusDescription => ServerCloseReason;

        public override WebSocketState State => _state;

        public override string? SubProtocol => null;

        public void Hold() => _hold = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        public void Release() => _hold?.TrySetResult();

        private int _attempts;

        /// <summary>Messages the session has begun to send, including one held.</summary>
        public int Attempts => Volatile.Read(ref _attempts);

        public override async Task SendAsync(ArraySegment<byte> buffer, WebSocketMessageType messageType, bool endOfMessage, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _attempts);
            if (_hold is { } hold)
            {
                await hold.Task.WaitAsync(cancellationToken);
            }

            Sent.Enqueue(buffer.ToArray());
        }

        public override async Task<WebSocketReceiveResult> ReceiveAsync(ArraySegment<byte> buffer, CancellationToken cancellationToken)
        {
            await _closing.Task.WaitAsync(cancellationToken);
            _state = ServerCloseStatus is null ? WebSocketState.CloseReceived : WebSocketState.Closed;
            return new WebSocketReceiveResult(0, WebSocketMessageType.Close, true, WebSocketCloseStatus.NormalClosure, "");
        }

        public override Task CloseOutputAsync(WebSocketCloseStatus closeStatus, string? statusDescription, CancellationToken cancellationToken)
        {
            ServerCloseStatus = closeStatus;
            ServerCloseReason = statusDescription;
            _state = _state == WebSocketState.CloseReceived ? WebSocketState.Closed : WebSocketState.CloseSent;
            _closed.TrySetResult();
            _closing.TrySetResult();
            return Task.CompletedTask;
        }

        public override Task CloseAsync(WebSocketCloseStatus closeStatus, string? statusDescription, CancellationToken cancellationToken) =>
            CloseOutputAsync(closeStatus, statusDescription, cancellationToken);

        public override void Abort()
        {
            _state = WebSocketState.Aborted;
            _closing.TrySetResult();
        }

        public override void Dispose()
        {
        }
    }
}
