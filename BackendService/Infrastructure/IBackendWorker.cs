using DirectorsConsole.BackendService.Model;
using DirectorsConsole.ServiceDefaults.Backends;

namespace DirectorsConsole.BackendService.Infrastructure;

/// <summary>
/// Work that must be done by exactly one replica per backend (probing it, dispatching to it). The lease manager
/// runs every registered worker for each backend whose Redis lease this replica holds, and cancels
/// <paramref name="leaseLost"/> when the lease is lost, the backend is deleted or its definition changes (the
/// worker is then started again with the new definition). A worker returns only when cancelled.
/// </summary>
public interface IBackendWorker
{
    Task RunAsync(BackendDefinition backend, CancellationToken leaseLost);
}
