using DirectorsConsole.Messaging;

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
