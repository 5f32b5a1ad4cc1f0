using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace DirectorsConsole.Messaging;

/// <summary>Healthy when PING answers within a short timeout; otherwise Unhealthy saying why.</summary>
public sealed class RedisHealthCheck(IRedisConnection redis) : IHealthCheck
{
    // Shorter than the command timeout: a readiness probe must answer quickly even when Redis does not.
    private static readonly TimeSpan PingTimeout = TimeSpan.FromSeconds(2);

    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(PingTimeout);
        try
        {
            var latency = await redis.PingAsync(timeout.Token).ConfigureAwait(false);
            return HealthCheckResult.Healthy($"PING answered in {latency.TotalMilliseconds:0.#} ms.");
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            var reason = redis.IsConnected ? string.Empty : " Not connected.";
            return HealthCheckResult.Unhealthy($"Redis did not answer PING within {PingTimeout.TotalSeconds:0} s.{reason}");
        }
        catch (RedisException ex)
        {
            return HealthCheckResult.Unhealthy($"Redis is unavailable: {ex.Message}", ex);
        }
    }
}
