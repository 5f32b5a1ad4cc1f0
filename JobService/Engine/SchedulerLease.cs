using DirectorsConsole.ServiceDefaults.Redis;
using Microsoft.Extensions.Options;

namespace DirectorsConsole.JobService.Engine;

/// <summary>
/// The lease that makes one replica at a time run the scheduler and the maintenance loops (<see cref="JobKeys.SchedulerLease"/>).
/// It is renewed on every round; a replica that dies stops renewing and another takes over after the TTL. Nothing
/// depends on the lease for correctness (every change is a versioned script), only for not doing the work twice.
/// </summary>
public sealed class SchedulerLease(IRedisConnection redis, IOptions<JobEngineOptions> options)
{
    // KEYS: lease. ARGV: holder, ttl ms.
    private const string HoldScript = """
        local holder = redis.call('GET', KEYS[1])
        if holder == ARGV[1] then
          redis.call('PEXPIRE', KEYS[1], ARGV[2])
          return 1
        end
        if not holder then
          redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
          return 1
        end
        return 0
        """;

    // KEYS: lease. ARGV: holder.
    private const string ReleaseScript = """
        if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
        return 0
        """;

    /// <summary>This replica's id as a lease holder (several replicas may share a process in tests).</summary>
    public string HolderId { get; } = $"{Environment.MachineName}:{Environment.ProcessId}:{Guid.NewGuid():N}";

    public bool IsHeld { get; private set; }

    /// <summary>Takes or renews the lease; true while this replica holds it.</summary>
    public async Task<bool> TryHoldAsync(CancellationToken cancellationToken)
    {
        var ttl = (long)options.Value.LeaderLeaseTtl.TotalMilliseconds;
        IsHeld = (await redis.ScriptEvaluateAsync(HoldScript, [JobKeys.SchedulerLease], [HolderId, ttl], cancellationToken)).AsInt64() == 1;
        return IsHeld;
    }

    /// <summary>Gives the lease up at shutdown, so another replica takes over at once.</summary>
    public async Task ReleaseAsync(CancellationToken cancellationToken)
    {
        if (IsHeld)
        {
            IsHeld = false;
            await redis.ScriptEvaluateAsync(ReleaseScript, [JobKeys.SchedulerLease], [HolderId], cancellationToken);
        }
    }
}
