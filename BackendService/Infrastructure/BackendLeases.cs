using DirectorsConsole.Messaging;

namespace DirectorsConsole.BackendService.Infrastructure;

/// <summary>
/// The per-backend leases in Redis (<see cref="BackendKeys.Lease"/>: the holder's replica id, with a TTL), as
/// <see cref="BackendLeaseManager"/> takes, renews, takes over and releases them. Every write is safe to send again
/// after its reply was lost with the connection, and is: renewing and releasing by nature (a second PEXPIRE or
/// compare-and-delete does what the first did), taking and taking over because the script also succeeds when it
/// finds the lease already held by the replica asking. Without that, a take whose reply was lost when Garnet
/// restarted would leave the backend leased to a replica that does not know it, and nobody would run it until the
/// lease expired.
/// </summary>
public sealed class BackendLeases(IRedisConnection redis)
{
    // KEYS: lease. ARGV: replica id, TTL in ms.
    private const string AcquireScript = """
        local holder = redis.call('GET', KEYS[1])
        if not holder or holder == ARGV[1] then
          redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
          return 1
        end
        return 0
        """;

    // KEYS: lease. ARGV: replica id, TTL in ms.
    private const string RenewScript = """
        if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
        return 0
        """;

    // KEYS: lease. ARGV: the dead holder's replica id, this replica's id, TTL in ms.
    private const string TakeOverScript = """
        local holder = redis.call('GET', KEYS[1])
        if holder == ARGV[1] or holder == ARGV[2] then
          redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
          return 1
        end
        return 0
        """;

    /// <summary>The replica holding the backend's lease, or null.</summary>
    public Task<string?> HolderAsync(string backendId, CancellationToken cancellationToken) =>
        redis.StringGetAsync(BackendKeys.Lease(backendId), cancellationToken);

    /// <summary>Takes the lease if nobody holds it; true when <paramref name="replicaId"/> holds it now.</summary>
    public async Task<bool> TryAcquireAsync(string backendId, string replicaId, TimeSpan ttl, CancellationToken cancellationToken) =>
        (await redis.ScriptEvaluateAsync(AcquireScript, [BackendKeys.Lease(backendId)], [replicaId, Milliseconds(ttl)], OnLostReply.Resend, cancellationToken)).AsInt64() == 1;

    /// <summary>Extends the lease while <paramref name="replicaId"/> holds it; false when it expired or another holds it.</summary>
    public async Task<bool> RenewAsync(string backendId, string replicaId, TimeSpan ttl, CancellationToken cancellationToken) =>
        (await redis.ScriptEvaluateAsync(RenewScript, [BackendKeys.Lease(backendId)], [replicaId, Milliseconds(ttl)], OnLostReply.Resend, cancellationToken)).AsInt64() == 1;

    /// <summary>Takes the lease from <paramref name="deadHolder"/>, a replica known to be dead, without waiting for it
    /// to expire; false when someone else holds it by now.</summary>
    public async Task<bool> TakeOverAsync(string backendId, string deadHolder, string replicaId, TimeSpan ttl, CancellationToken cancellationToken) =>
        (await redis.ScriptEvaluateAsync(
            TakeOverScript, [BackendKeys.Lease(backendId)], [deadHolder, replicaId, Milliseconds(ttl)], OnLostReply.Resend, cancellationToken)).AsInt64() == 1;

    /// <summary>Gives the lease up if <paramref name="replicaId"/> still holds it.</summary>
    public Task ReleaseAsync(string backendId, string replicaId, CancellationToken cancellationToken) =>
        redis.KeyDeleteIfEqualsAsync(BackendKeys.Lease(backendId), replicaId, cancellationToken);

    private static long Milliseconds(TimeSpan ttl) => (long)ttl.TotalMilliseconds;
}
