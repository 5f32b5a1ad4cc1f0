using System.Collections.Concurrent;
using DirectorsConsole.ServiceDefaults.Hosting;

namespace DirectorsConsole.BackendService.Infrastructure;

/// <summary>
/// This replica as the lease manager knows it: its id (the service instance id plus a random suffix, so two
/// replicas in one process differ) and the backends whose leases it holds now. Workers and the dispatcher
/// depend on this rather than on <see cref="BackendLeaseManager"/>, which depends on the workers.
/// </summary>
public sealed class BackendReplica(ServiceIdentity identity)
{
    private const int SuffixLength = 8;
    private readonly ConcurrentDictionary<string, byte> _held = new(StringComparer.Ordinal);

    // An instance id given from outside (OTEL_SERVICE_INSTANCE_ID: the AppHost's "backend-service-0") belongs to one
    // live process at a time, so another replica id under it is a predecessor that died. Without one, the id is made
    // from the process id: unique to the process, and shared by replicas a test runs side by side in one process.
    private readonly string? _assignedInstancePrefix =
        identity.InstanceId == $"{identity.Name}-{Environment.ProcessId}" ? null : identity.InstanceId + "-";

    /// <summary>The value this replica writes into the leases it holds.</summary>
    public string Id { get; } = $"{identity.InstanceId}-{Guid.NewGuid().ToString("N")[..SuffixLength]}";

    /// <summary>True when <paramref name="replicaId"/> is an earlier process of this replica's service instance,
    /// which can only be dead now that this one runs.</summary>
    public bool IsPredecessor(string replicaId) =>
        _assignedInstancePrefix is not null
        && replicaId != Id
        && replicaId.Length == _assignedInstancePrefix.Length + SuffixLength
        && replicaId.StartsWith(_assignedInstancePrefix, StringComparison.Ordinal);

    public bool Holds(string backendId) => _held.ContainsKey(backendId);

    public IReadOnlyCollection<string> HeldBackends => _held.Keys.Order(StringComparer.Ordinal).ToArray();

    internal void MarkHeld(string backendId) => _held[backendId] = 0;

    internal void MarkReleased(string backendId) => _held.TryRemove(backendId, out _);
}
