using DirectorsConsole.Messaging;
using Microsoft.Extensions.Logging.Abstractions;

namespace DirectorsConsole.Testing;

/// <summary>
/// A Redis connection that reaches its server through a <see cref="TcpRelay"/>, for tests of a write whose reply is
/// lost: <c>Relay.LoseReplies()</c>, wait until the write shows on the server, then <c>Relay.BreakConnections()</c>.
/// The command timeout outlasts the test's break of the connection, so only the broken connection ends the write, and
/// the outage grace covers a reconnect on a busy machine.
/// </summary>
public sealed class LostReplyConnection : IAsyncDisposable
{
    private LostReplyConnection(TcpRelay relay, RedisConnection redis)
    {
        Relay = relay;
        Redis = redis;
    }

    public TcpRelay Relay { get; }

    public RedisConnection Redis { get; }

    /// <summary>Connects through a new relay to the server on <paramref name="serverPort"/> and waits until the
    /// connection answers, so the first command of the test is not the one that connects.</summary>
    public static async Task<LostReplyConnection> StartAsync(int serverPort, CancellationToken cancellationToken)
    {
        var relay = new TcpRelay(serverPort);
        var redis = new RedisConnection(new RedisOptions
        {
            ConnectionString = relay.ConnectionString,
            CommandTimeout = TimeSpan.FromSeconds(30),
            OutageGrace = TimeSpan.FromMinutes(1),
        });
        await redis.PingAsync(cancellationToken).ConfigureAwait(false);
        return new LostReplyConnection(relay, redis);
    }

    public async ValueTask DisposeAsync()
    {
        await Redis.DisposeAsync().ConfigureAwait(false);
        await Relay.DisposeAsync().ConfigureAwait(false);
    }
}

/// <summary>
/// A store under test that reaches Redis through a <see cref="LostReplyConnection"/>, with an event bus for what it
/// publishes and a connection of the test's own (<see cref="Direct"/>) that reads the server without the relay.
/// </summary>
public sealed class LostReplyRig<TStore> : IAsyncDisposable
{
    private readonly LostReplyConnection _lostReplies;
    private readonly RedisSubscriber _subscriber;

    private LostReplyRig(LostReplyConnection lostReplies, RedisConnection direct, RedisSubscriber subscriber, TStore store)
    {
        _lostReplies = lostReplies;
        _subscriber = subscriber;
        Direct = direct;
        Store = store;
    }

    public TcpRelay Relay => _lostReplies.Relay;

    public RedisConnection Direct { get; }

    public TStore Store { get; }

    /// <summary>Builds the store on the relayed connection and an event bus published through <see cref="Direct"/>.</summary>
    public static async Task<LostReplyRig<TStore>> StartAsync(
        RedisServerProcess server, Func<IRedisConnection, IEventBus, TStore> createStore, CancellationToken cancellationToken)
    {
        var lostReplies = await LostReplyConnection.StartAsync(server.Port, cancellationToken).ConfigureAwait(false);
        var options = new RedisOptions { ConnectionString = server.ConnectionString };
        var direct = new RedisConnection(options);
        var subscriber = new RedisSubscriber(options);
        var bus = new RedisEventBus(direct, subscriber, NullLogger<RedisEventBus>.Instance, TimeProvider.System);
        return new LostReplyRig<TStore>(lostReplies, direct, subscriber, createStore(lostReplies.Redis, bus));
    }

    public async ValueTask DisposeAsync()
    {
        await _lostReplies.DisposeAsync().ConfigureAwait(false);
        await Direct.DisposeAsync().ConfigureAwait(false);
        await _subscriber.DisposeAsync().ConfigureAwait(false);
    }
}
