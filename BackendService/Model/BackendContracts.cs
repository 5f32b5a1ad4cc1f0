using DirectorsConsole.ServiceDefaults.Backends;
namespace DirectorsConsole.BackendService.Model;

/// <summary>The body of POST and PUT /api/backends. Every field is optional in JSON so that a missing host is
/// reported as a 422 <c>missing</c> error like FastAPI does; the others take config.yaml's defaults (port 8188,
/// enabled, no capabilities or tags, one job at a time, the id as name, and <c>host_port</c> as id on POST).</summary>
public sealed record BackendRequest(
    string? Id,
    string? Name,
    string? Host,
    int? Port,
    bool? Enabled,
    IReadOnlyList<string?>? Capabilities,
    int? MaxConcurrentJobs,
    IReadOnlyList<string?>? Tags)
{
    /// <summary>Prompts posted ahead to wait in the node's own queue (0–16); absent: JobService's default.</summary>
    public int? Prefetch { get; init; }
}

/// <summary>A backend as the API shows it: the definition, what the last probe learned, and the dispatcher's
/// in-flight count. <c>queue_depth</c> is ComfyUI's running plus pending prompts. Memory is in bytes, as the
/// original sent it; <c>gpu_utilization</c>, <c>gpu_temperature</c> and <c>cpu_utilization</c> come from a
/// resource-monitor extension on the node (Crystools or KayTool) and are null while none reports.</summary>
public sealed record BackendInfo(
    string Id,
    string Name,
    string Host,
    int Port,
    bool Enabled,
    bool Online,
    string Status,
    IReadOnlyList<string> Capabilities,
    IReadOnlyList<string> Tags,
    int MaxConcurrentJobs,
    string? GpuName,
    long? GpuMemoryTotal,
    long? GpuMemoryUsed,
    long? GpuMemoryFree,
    double? GpuMemoryPercent,
    long? RamTotal,
    long? RamUsed,
    long? RamFree,
    double? GpuUtilization,
    double? GpuTemperature,
    double? CpuUtilization,
    string? Os,
    string? ComfyuiVersion,
    int QueueDepth,
    int QueueRunning,
    int QueuePending,
    int InFlightJobs,
    DateTimeOffset? LastSeen,
    string? LastError,
    DiscoveredCapabilities Discovered,
    BackendSource Source)
{
    /// <summary>The backend's own <see cref="BackendDefinition.Prefetch"/>; null: JobService's <c>Jobs:DefaultPrefetch</c>.</summary>
    public int? Prefetch { get; init; }

    /// <summary><c>comfyui</c>, a node the suite connects to, or <c>agent</c>, a render agent that pulls its work (no host or port).</summary>
    public string Kind { get; init; } = BackendKinds.ComfyUi;

    /// <summary>Joins a definition with its runtime state. A disabled backend is <c>disabled</c> whatever the
    /// state says; one never probed (no state yet, or only the state from before it was enabled) is <c>offline</c>.</summary>
    public static BackendInfo From(BackendDefinition backend, BackendRuntimeState? state)
    {
        var status = StatusOf(backend, state);
        var s = state ?? new BackendRuntimeState(backend.Id, status, DateTimeOffset.MinValue);
        return new BackendInfo(
            backend.Id, backend.Name, backend.Host, backend.Port, backend.Enabled,
            status is BackendStatuses.Idle or BackendStatuses.Busy, status,
            backend.Capabilities, backend.Tags, backend.MaxConcurrentJobs,
            s.GpuName, s.GpuMemoryTotal, s.GpuMemoryUsed, s.GpuMemoryFree, s.GpuMemoryPercent,
            s.RamTotal, s.RamUsed, s.RamFree, s.GpuUtilization, s.GpuTemperature, s.CpuUtilization, s.Os, s.ComfyuiVersion,
            s.QueueRunning + s.QueuePending, s.QueueRunning, s.QueuePending, s.InFlightJobs,
            s.LastSeen, s.LastError, s.Discovered, backend.Source)
        {
            Prefetch = backend.Prefetch,
            Kind = backend.Kind,
        };
    }

    public static string StatusOf(BackendDefinition backend, BackendRuntimeState? state) =>
        !backend.Enabled ? BackendStatuses.Disabled
        : state is null || state.Status == BackendStatuses.Disabled ? BackendStatuses.Offline
        : state.Status;
}

/// <summary><c>online</c> counts enabled backends that answer; <c>offline</c> is the rest, disabled ones included.</summary>
public sealed record BackendListResponse(IReadOnlyList<BackendInfo> Backends, int Total, int Online, int Offline);

/// <summary>The runtime part of <see cref="BackendInfo"/>: what changes from probe to probe.</summary>
public sealed record BackendStatusResponse(
    string Id,
    string Status,
    bool Online,
    DateTimeOffset? LastSeen,
    string? LastError,
    int QueueDepth,
    int QueueRunning,
    int QueuePending,
    int InFlightJobs,
    string? GpuName,
    long? GpuMemoryTotal,
    long? GpuMemoryUsed,
    long? GpuMemoryFree,
    double? GpuMemoryPercent,
    long? RamTotal,
    long? RamUsed,
    long? RamFree,
    double? GpuUtilization,
    double? GpuTemperature,
    double? CpuUtilization,
    DateTimeOffset? UpdatedAt)
{
    public static BackendStatusResponse From(BackendInfo info, BackendRuntimeState? state) => new(
        info.Id, info.Status, info.Online, info.LastSeen, info.LastError, info.QueueDepth, info.QueueRunning, info.QueuePending,
        info.InFlightJobs, info.GpuName, info.GpuMemoryTotal, info.GpuMemoryUsed, info.GpuMemoryFree, info.GpuMemoryPercent,
        info.RamTotal, info.RamUsed, info.RamFree, info.GpuUtilization, info.GpuTemperature, info.CpuUtilization, state?.UpdatedAt);
}

public sealed record BackendDeletedResponse(bool Deleted, string Id);

/// <summary>Body of POST /api/backends/{id}/restart; both default to true, as in the original.</summary>
public sealed record BackendRestartRequest(bool InterruptJobs = true, bool FreeMemory = true);

public sealed record BackendRestartResponse(bool Success, string Message, string BackendId);

public static class BackendRegistryChangeKinds
{
    public const string Created = "created";
    public const string Updated = "updated";
    public const string Deleted = "deleted";
    public const string Seeded = "seeded";
}

/// <summary>A definition was added, changed or removed; replicas re-read the registry at once instead of at
/// their next lease renewal.</summary>
public sealed record BackendRegistryChanged(string Change, string BackendId, DateTimeOffset At);
