using System.Collections.Concurrent;
using DirectorsConsole.BackendService.Dispatch;
using DirectorsConsole.Contracts;
using DirectorsConsole.Messaging;
using DirectorsConsole.Testing;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace DirectorsConsole.BackendService.Tests.Dispatch;

/// <summary>An event whose write has been sent is published even if its session stops while the reply is on its way:
/// the write makes it the prompt's last event, after which no one else publishes it. A session that has already
/// stopped writes nothing.</summary>
public sealed class RenderEventPublisherTests(GarnetFixture garnet) : IClassFixture<GarnetFixture>
{
    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Fact]
    public async Task AFinalEventWrittenAsItsSessionStopsIsStillPublished()
    {
        // Arrange
        await using var rig = await PublisherRig.StartAsync(garnet);
        var promptId = Guid.NewGuid().ToString();
        using var session = CancellationTokenSource.CreateLinkedTokenSource(Token);
        rig.Scripts.CancelOnReplyOfNext(keys => keys.Contains(RenderChannels.PromptStateKey(promptId)), session);

        // Act
        var failure = await Record.ExceptionAsync(() => rig.Publisher.PublishAsync(Completed(promptId), session.Token));
        var heard = await Eventually.ReturnsAsync(() => Task.FromResult(rig.Heard(promptId)), events => events.Count > 0, TimeSpan.FromSeconds(5));
        var status = await rig.Redis.HashGetAsync(RenderChannels.PromptStateKey(promptId), "status", Token);

        // Assert
        Assert.True(session.IsCancellationRequested);
        Assert.Null(failure);
        Assert.Equal(RenderEventKinds.Completed, status);
        Assert.Equal([RenderEventKinds.Completed], heard.Select(e => e.Kind));
    }

    [Fact]
    public async Task ASessionThatHasStoppedWritesAndPublishesNothing()
    {
        // Arrange
        await using var rig = await PublisherRig.StartAsync(garnet);
        var promptId = Guid.NewGuid().ToString();
        using var session = CancellationTokenSource.CreateLinkedTokenSource(Token);
        await session.CancelAsync();

        // Act
        var failure = await Record.ExceptionAsync(() => rig.Publisher.PublishAsync(Completed(promptId), session.Token));
        await rig.Bus.PublishAsync(RenderChannels.RenderEvents, Completed("marker-" + promptId), Token);
        await Eventually.ReturnsAsync(() => Task.FromResult(rig.Heard("marker-" + promptId)), events => events.Count > 0, TimeSpan.FromSeconds(5));

        // Assert: nothing written, and nothing heard before the marker published after it
        Assert.IsAssignableFrom<OperationCanceledException>(failure);
        Assert.False(await rig.Redis.KeyExistsAsync(RenderChannels.PromptStateKey(promptId), Token));
        Assert.Empty(rig.Heard(promptId));
    }

    private static RenderEvent Completed(string promptId) => new(RenderEventKinds.Completed, promptId, "job", "emu-publisher", DateTimeOffset.UtcNow);

    /// <summary>A publisher on a Garnet through a <see cref="ScriptCounter"/>, and a subscriber of its own that hears
    /// every render event.</summary>
    private sealed class PublisherRig : IAsyncDisposable
    {
        private readonly RedisConnection _redis;
        private readonly RedisSubscriber _subscriber;
        private readonly ConcurrentQueue<RenderEvent> _heard = new();
        private IAsyncDisposable? _subscription;

        private PublisherRig(GarnetFixture garnet)
        {
            var options = new RedisOptions { ConnectionString = garnet.ConnectionString };
            _redis = new RedisConnection(options);
            _subscriber = new RedisSubscriber(options);
            Bus = new RedisEventBus(_redis, _subscriber, NullLogger<RedisEventBus>.Instance, TimeProvider.System);
            Scripts = new ScriptCounter(_redis);
            Publisher = new RenderEventPublisher(
                new DispatchStore(Scripts, Options.Create(new DispatchOptions())), Bus, NullLogger<RenderEventPublisher>.Instance);
        }

        public IRedisConnection Redis => _redis;

        public IEventBus Bus { get; }

        public ScriptCounter Scripts { get; }

        public RenderEventPublisher Publisher { get; }

        public static async Task<PublisherRig> StartAsync(GarnetFixture garnet)
        {
            var rig = new PublisherRig(garnet);
            rig._subscription = await rig.Bus.SubscribeAsync<RenderEvent>(RenderChannels.RenderEvents, (e, _) =>
            {
                rig._heard.Enqueue(e);
                return Task.CompletedTask;
            }, cancellationToken: Token);
            return rig;
        }

        public IReadOnlyList<RenderEvent> Heard(string promptId) => _heard.Where(e => e.PromptId == promptId).ToList();

        public async ValueTask DisposeAsync()
        {
            if (_subscription is not null)
            {
                await _subscription.DisposeAsync();
            }

            await _subscriber.DisposeAsync();
            await _redis.DisposeAsync();
        }
    }
}
