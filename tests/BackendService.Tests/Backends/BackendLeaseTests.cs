using System.ComponentModel.DataAnnotations;
using System.Net.Http.Json;
using DirectorsConsole.BackendService.Infrastructure;
using DirectorsConsole.Messaging;
using DirectorsConsole.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace DirectorsConsole.BackendService.Tests.Backends;

/// <summary>Replicas sharing one Redis. Each test has its own Garnet, so the fair share is over its own backends only.</summary>
public sealed class BackendLeaseTests : IAsyncLifetime
{
    private static readonly TimeSpan TakeOverWithin = TimeSpan.FromSeconds(20);
    private readonly GarnetFixture _garnet = new();

    public ValueTask InitializeAsync() => _garnet.InitializeAsync();

    public ValueTask DisposeAsync() => _garnet.DisposeAsync();

    [Fact]
    public async Task AReplicaThatJoinsGetsItsFairShareAndTakesOverWhenTheOtherStops()
    {
        // Arrange: the first replica alone holds every backend.
        var ct = TestContext.Current.CancellationToken;
        await using var first = BackendTestClient.CreateFactory(_garnet);
        using var firstClient = first.CreateClient();
        var ids = Enumerable.Range(1, 4).Select(i => $"shared-{i}").ToArray();
        foreach (var id in ids)
        {
            await firstClient.CreateBackendAsync(new { id, host = "127.0.0.1", port = BackendTestClient.DeadPort() }, ct);
        }

        var firstLeases = first.Services.GetRequiredService<BackendLeaseManager>();
        var alone = await Eventually.ReturnsAsync(() => Task.FromResult(firstLeases.HeldBackends), held => held.Count == ids.Length, TakeOverWithin);

        // Act
        await using var second = BackendTestClient.CreateFactory(_garnet);
        using var secondClient = second.CreateClient();
        var secondLeases = second.Services.GetRequiredService<BackendLeaseManager>();
        var shared = await Eventually.ReturnsAsync(
            () => Task.FromResult((First: firstLeases.HeldBackends, Second: secondLeases.HeldBackends)),
            held => held.First.Count == 2 && held.Second.Count == 2 && !held.First.Intersect(held.Second).Any(),
            TakeOverWithin);
        await first.DisposeAsync();
        var afterStop = await Eventually.ReturnsAsync(
            () => Task.FromResult(secondLeases.HeldBackends), held => held.Count == ids.Length, TakeOverWithin);

        // Assert
        Assert.Equal(ids, alone.Order());
        Assert.Equal(2, shared.First.Count);
        Assert.Equal(2, shared.Second.Count);
        Assert.Empty(shared.First.Intersect(shared.Second));
        Assert.Equal(ids, afterStop.Order());
        Assert.All(ids, id => Assert.True(secondLeases.Holds(id)));
    }

    [Fact]
    public async Task TheLeaseOfAKilledReplicaIsTakenOverOnceItExpires()
    {
        // Arrange: a replica that died without releasing its lease (heartbeat and lease left to expire).
        var ct = TestContext.Current.CancellationToken;
        await using var factory = BackendTestClient.CreateFactory(_garnet);
        using var client = factory.CreateClient();
        var redis = factory.Services.GetRequiredService<IRedisConnection>();
        var leases = factory.Services.GetRequiredService<BackendLeaseManager>();
        var deadReplica = "backend-service-dead-0000";
        await redis.ExecuteAsync(["ZADD", BackendKeys.Replicas, DateTimeOffset.UtcNow.AddSeconds(3).ToUnixTimeMilliseconds(), deadReplica], ct);
        await redis.StringSetAsync(BackendKeys.Lease("orphan"), deadReplica, TimeSpan.FromSeconds(3), cancellationToken: ct);

        // Act
        await client.CreateBackendAsync(new { id = "orphan", host = "127.0.0.1", port = BackendTestClient.DeadPort() }, ct);
        var heldByDead = leases.Holds("orphan");
        var takenOver = await Eventually.ReturnsAsync(() => Task.FromResult(leases.Holds("orphan")), held => held, TakeOverWithin);
        var holder = await redis.StringGetAsync(BackendKeys.Lease("orphan"), ct);

        // Assert
        Assert.False(heldByDead);
        Assert.True(takenOver);
        Assert.Equal(leases.ReplicaId, holder);
    }

    [Fact]
    public async Task WorkersRestartWithTheNewDefinitionAndStopWhenTheBackendIsDeleted()
    {
        // Arrange
        var ct = TestContext.Current.CancellationToken;
        await using var factory = BackendTestClient.CreateFactory(_garnet);
        using var client = factory.CreateClient();
        var leases = factory.Services.GetRequiredService<BackendLeaseManager>();
        var redis = factory.Services.GetRequiredService<IRedisConnection>();
        var port = BackendTestClient.DeadPort();
        await client.CreateBackendAsync(new { id = "moving", host = "127.0.0.1", port }, ct);
        await Eventually.ReturnsAsync(() => client.GetBackendAsync("moving", ct), b => ((string?)b!["last_error"])?.Contains($":{port}") == true);

        // Act
        var newPort = BackendTestClient.DeadPort();
        using var moved = await client.PutAsJsonAsync("/api/backends/moving", new { host = "127.0.0.1", port = newPort }, ct);
        var probedAtNewPort = await Eventually.ReturnsAsync(
            () => client.GetBackendAsync("moving", ct), b => ((string?)b!["last_error"])?.Contains($":{newPort}") == true);
        using var deleted = await client.DeleteAsync("/api/backends/moving", ct);
        var released = await Eventually.ReturnsAsync(() => Task.FromResult(leases.Holds("moving")), held => !held);
        var leaseKeyGone = await Eventually.ReturnsAsync(() => redis.KeyExistsAsync(BackendKeys.Lease("moving"), ct), exists => !exists);
        var state = await redis.HashGetAsync(BackendKeys.States, "moving", ct);

        // Assert
        Assert.Contains($":{newPort}", (string?)probedAtNewPort!["last_error"]);
        Assert.False(released);
        Assert.False(leaseKeyGone);
        Assert.Null(state);
    }

    [Fact]
    public async Task AFailureNoticeThatComesAfterTheResubscriptionStopsTheWorkersOnlyUntilTheNextRound()
    {
        // Arrange: the client raises a connection's failure and its restoration on different threads, so the notice of a
        // failure can come after the channels were subscribed again, and no notice of the restoration follows it
        var ct = TestContext.Current.CancellationToken;
        await using var factory = BackendTestClient.CreateFactory(_garnet, configureServices: services =>
        {
            services.AddSingleton(sp => new LateNoticeSubscriber(sp.GetRequiredService<RedisSubscriber>()));
            services.AddSingleton<IRedisSubscriber>(sp => sp.GetRequiredService<LateNoticeSubscriber>());
        });
        using var client = factory.CreateClient();
        var leases = factory.Services.GetRequiredService<BackendLeaseManager>();
        await client.CreateBackendAsync(new { id = "blipped", host = "127.0.0.1", port = BackendTestClient.DeadPort() }, ct);
        var heldBefore = await Eventually.ReturnsAsync(() => Task.FromResult(leases.Holds("blipped")), held => held, TakeOverWithin);

        // Act
        factory.Services.GetRequiredService<LateNoticeSubscriber>().RaiseFailureNotice();
        var stopped = !leases.Holds("blipped");
        var heldAgain = await Eventually.ReturnsAsync(() => Task.FromResult(leases.Holds("blipped")), held => held, TimeSpan.FromSeconds(10));

        // Assert: the workers stopped at the notice, and the next round, counting the presence channel's subscriber,
        // started them again
        Assert.True(heldBefore);
        Assert.True(stopped);
        Assert.True(heldAgain);
    }

    [Theory]
    [InlineData("00:00:00.25", true)]
    [InlineData("00:00:01.999", true)]
    [InlineData("00:00:02", false)]
    [InlineData("00:00:00.01", false)]
    public void ThePresenceConfirmationMustBeShorterThanTheLease(string confirmation, bool valid)
    {
        // Arrange
        var options = new BackendLeaseOptions { Ttl = TimeSpan.FromSeconds(2), PresenceConfirmation = TimeSpan.Parse(confirmation, System.Globalization.CultureInfo.InvariantCulture) };
        var results = new List<ValidationResult>();

        // Act
        var accepted = Validator.TryValidateObject(options, new ValidationContext(options), results, validateAllProperties: true)
            && !options.Validate(new ValidationContext(options)).Any();

        // Assert
        Assert.Equal(valid, accepted);
    }

    /// <summary>The real subscriber, whose failure notice a test can raise while the subscriptions are in fact active:
    /// a notice that came after the re-subscription.</summary>
    private sealed class LateNoticeSubscriber(RedisSubscriber inner) : IRedisSubscriber
    {
        private Action? _lost;

        public event Action? SubscriptionsLost
        {
            add
            {
                _lost += value;
                inner.SubscriptionsLost += value;
            }
            remove
            {
                _lost -= value;
                inner.SubscriptionsLost -= value;
            }
        }

        public void RaiseFailureNotice() => _lost?.Invoke();

        public Task<IAsyncDisposable> SubscribeAsync(
            string channel,
            Func<string, ReadOnlyMemory<byte>, CancellationToken, Task> onMessage,
            Func<CancellationToken, Task>? onResubscribed = null,
            bool pattern = false,
            CancellationToken cancellationToken = default) =>
            inner.SubscribeAsync(channel, onMessage, onResubscribed, pattern, cancellationToken);
    }
}
