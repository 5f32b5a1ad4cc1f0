using DirectorsConsole.Messaging.Durability;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace DirectorsConsole.ServiceDefaults.Durability;

/// <summary>Degraded, naming the cause, while Redis cannot persist writes and this service refuses them.</summary>
public sealed class DurabilityHealthCheck(DurabilityGate gate) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(gate.Fault is { } fault
            ? HealthCheckResult.Degraded($"Writes are refused since {fault.Since.UtcDateTime:yyyy-MM-dd'T'HH:mm:ss'Z'}: {fault.Cause}")
            : HealthCheckResult.Healthy("Redis persists writes."));
}
