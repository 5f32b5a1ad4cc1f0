using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using DirectorsConsole.BackendService.Comfy;
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

    [Fact]
    public async Task EventsHeldFromABurstOfMessagesAreWrittenWithOneScriptAndPublishedInEachPromptsOrder()
    {
        // Arrange: two prompts tracked on a node's socket
        await using var rig = await PublisherRig.StartAsync(garnet);
        var translator = new ComfyEventTranslator("emu-publisher", rig.Publisher, rig.Store, new NodeMonitorReadings(), new DispatchOptions(), TimeProvider.System);
        var first = translator.Track(new InFlightPrompt(Guid.NewGuid().ToString(), "job-1", DateTimeOffset.UtcNow, new Dictionary<string, string>()));
        var second = translator.Track(new InFlightPrompt(Guid.NewGuid().ToString(), "job-2", DateTimeOffset.UtcNow, new Dictionary<string, string>()));
        JsonObject About(TrackedPrompt prompt) => new() { ["prompt_id"] = prompt.Record.PromptId };
        var scriptsBefore = rig.Scripts.Scripts;

        // Act: a burst (the first starts and fails, the second starts), then a late event of the first after its end
        translator.Hold();
        await translator.OnMessageAsync("execution_start", About(first), Token);
        await translator.OnMessageAsync("execution_start", About(second), Token);
        await translator.OnMessageAsync("execution_error", new JsonObject { ["prompt_id"] = first.Record.PromptId, ["exception_message"] = "out of memory" }, Token);
        await translator.PublishAsync(first, RenderEventKinds.Progress, e => e with { Percent = 50 }, Token);
        var heardWhileHeld = rig.Heard(first.Record.PromptId).Count + rig.Heard(second.Record.PromptId).Count;
        var held = translator.HeldCount;
        await translator.FlushAsync(Token);
        var heardFirst = await Eventually.ReturnsAsync(() => Task.FromResult(rig.Heard(first.Record.PromptId)), events => events.Count >= 2, TimeSpan.FromSeconds(5));
        var heardSecond = await Eventually.ReturnsAsync(() => Task.FromResult(rig.Heard(second.Record.PromptId)), events => events.Count >= 1, TimeSpan.FromSeconds(5));
        await translator.FlushAsync(Token);

        // Assert: nothing heard until the flush; one script wrote the four; each prompt's events heard in their order,
        // and the late one, behind the first's end in the same write, neither written nor heard
        Assert.Equal(0, heardWhileHeld);
        Assert.Equal(4, held);
        Assert.Equal(1, rig.Scripts.Scripts - scriptsBefore);
        Assert.Equal([RenderEventKinds.Started, RenderEventKinds.Failed], heardFirst.Select(e => e.Kind));
        Assert.Equal([RenderEventKinds.Started], heardSecond.Select(e => e.Kind));
        Assert.Equal(RenderEventKinds.Failed, await rig.Redis.HashGetAsync(RenderChannels.PromptStateKey(first.Record.PromptId), "status", Token));
        Assert.Equal(RenderEventKinds.Started, await rig.Redis.HashGetAsync(RenderChannels.PromptStateKey(second.Record.PromptId), "status", Token));
        Assert.Equal(0, translator.HeldCount);
        Assert.Equal(1, rig.Scripts.Scripts - scriptsBefore);
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
            Store = new DispatchStore(Scripts, Options.Create(new DispatchOptions()));
            Publisher = new RenderEventPublisher(Store, Bus, NullLogger<RenderEventPublisher>.Instance);
        }

        public IRedisConnection Redis => _redis;

        public IEventBus Bus { get; }

        public ScriptCounter Scripts { get; }

        public RenderEventPublisher Publisher { get; }

        public DispatchStore Store { get; }

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
