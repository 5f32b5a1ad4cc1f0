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
    private readonly ConcurrentDictionary<string, byte> _held = new(StringComparer.Ordinal);

    /// <summary>The value this replica writes into the leases it holds.</summary>
    public string Id { get; } = $"{identity.InstanceId}-{Guid.NewGuid().ToString("N")[..8]}";

    public bool Holds(string backendId) => _held.ContainsKey(backendId);

    public IReadOnlyCollection<string> HeldBackends => _held.Keys.Order(StringComparer.Ordinal).ToArray();

    internal void MarkHeld(string backendId) => _held[backendId] = 0;

    internal void MarkReleased(string backendId) => _held.TryRemove(backendId, out _);
}
