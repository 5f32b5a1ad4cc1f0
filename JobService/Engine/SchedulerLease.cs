using DirectorsConsole.Messaging;
using Microsoft.Extensions.Options;

namespace DirectorsConsole.JobService.Engine;

/// <summary>
/// The lease that makes one replica at a time run the scheduler and the maintenance loops (<see cref="JobKeys.SchedulerLease"/>).
/// The holder renews it every <see cref="JobEngineOptions.LeaderRenewalInterval"/> and standbys try to take it as often,
/// so a holder that dies is replaced about one <see cref="JobEngineOptions.LeaderLeaseTtl"/> later. Each tenure has a
/// <see cref="Term"/> token that is cancelled when a renewal fails or is refused, and in any case when the TTL counted
/// from the last successful renewal's request runs out: Redis starts the TTL later than that, so a holder cut off from
/// Redis stops acting before another replica can take over. Nothing depends on the lease for correctness (every change
/// is a versioned script), only for not doing the work twice.
/// </summary>
public sealed class SchedulerLease(IRedisConnection redis, IOptions<JobEngineOptions> options, TimeProvider timeProvider) : IDisposable
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

    private volatile CancellationTokenSource? _term;

    /// <summary>This replica's id as a lease holder (several replicas may share a process in tests).</summary>
    public string HolderId { get; } = $"{Environment.MachineName}:{Environment.ProcessId}:{Guid.NewGuid():N}";

    /// <summary>True while this replica may act as the scheduler.</summary>
    public bool IsHeld => _term is { IsCancellationRequested: false };

    /// <summary>Cancelled when the current tenure ends (already cancelled when the lease is not held); work done as the
    /// scheduler runs under it, so it stops when the lease may have passed to another replica.</summary>
    public CancellationToken Term => _term?.Token ?? new CancellationToken(canceled: true);

    /// <summary>Takes or renews the lease; true while this replica holds it. A failure (Redis unavailable, no answer
    /// within the TTL) ends the tenure and is thrown.</summary>
    public async Task<bool> TryHoldAsync(CancellationToken cancellationToken)
    {
        var ttl = options.Value.LeaderLeaseTtl;
        var requestedAt = timeProvider.GetTimestamp();
        bool held;
        try
        {
            using var timeout = new CancellationTokenSource(ttl, timeProvider);
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
            var reply = await redis.ScriptEvaluateAsync(HoldScript, [JobKeys.SchedulerLease], [HolderId, (long)ttl.TotalMilliseconds], linked.Token);
            held = reply.AsInt64() == 1;
        }
        catch
        {
            EndTerm();
            throw;
        }

        var left = ttl - timeProvider.GetElapsedTime(requestedAt);
        if (!held || left <= TimeSpan.Zero)
        {
            EndTerm();
            return false;
        }

        var term = _term;
        if (term is null || term.IsCancellationRequested)
        {
            term = new CancellationTokenSource(Timeout.InfiniteTimeSpan, timeProvider);
            _term = term;
        }

        term.CancelAfter(left);
        return !term.IsCancellationRequested;
    }

    /// <summary>Gives the lease up at shutdown, so another replica takes over at its next try.</summary>
    public async Task ReleaseAsync(CancellationToken cancellationToken)
    {
        if (IsHeld)
        {
            EndTerm();
            await redis.KeyDeleteIfEqualsAsync(JobKeys.SchedulerLease, HolderId, cancellationToken);
        }
    }

    public void Dispose() => EndTerm();

    private void EndTerm()
    {
        // The source is not disposed: the scheduler may still be linking its token; once cancelled it holds no timer.
        _term?.Cancel();
    }
}
