using System.Text.Json.Serialization;

namespace DirectorsConsole.ServiceDefaults.Backends;

/// <summary>Values of <see cref="BackendRuntimeState.Status"/>, as the original's BackendInfo.</summary>
public static class BackendStatuses
{
    public const string Disabled = "disabled";
    public const string Offline = "offline";
    public const string Idle = "idle";
    public const string Busy = "busy";
}

/// <summary>
/// What the replica holding a backend's lease last learned about it (probes of <c>/system_stats</c>, <c>/queue</c>,
/// <c>/object_info</c>, and the dispatcher's in-flight count), stored in Redis so every replica answers the API
/// alike and the dispatcher of any replica can choose among backends.
/// </summary>
public sealed record BackendRuntimeState(string BackendId, string Status, DateTimeOffset UpdatedAt)
{
    [JsonIgnore]
    public bool Online => Status is BackendStatuses.Idle or BackendStatuses.Busy;

    public string? GpuName { get; init; }

    public long? GpuMemoryTotal { get; init; }

    public long? GpuMemoryUsed { get; init; }

    public long? GpuMemoryFree { get; init; }

    public double? GpuMemoryPercent { get; init; }

    public long? RamTotal { get; init; }

    public long? RamUsed { get; init; }

    public long? RamFree { get; init; }

    /// <summary>GPU load in percent, from a resource-monitor extension on the node (null without one).</summary>
    public double? GpuUtilization { get; init; }

    /// <summary>GPU temperature in degrees Celsius, from a resource-monitor extension on the node.</summary>
    public double? GpuTemperature { get; init; }

    /// <summary>CPU load in percent, from a resource-monitor extension on the node.</summary>
    public double? CpuUtilization { get; init; }

    /// <summary>ComfyUI's <c>system.os</c>: <c>posix</c> or <c>nt</c> (Windows nodes report <c>\</c> in paths).</summary>
    public string? Os { get; init; }

    public string? ComfyuiVersion { get; init; }

    public int QueueRunning { get; init; }

    public int QueuePending { get; init; }

    /// <summary>Prompts this suite has posted to the backend that have not ended yet.</summary>
    public int InFlightJobs { get; init; }

    public DateTimeOffset? LastSeen { get; init; }

    public string? LastError { get; init; }

    public DiscoveredCapabilities Discovered { get; init; } = DiscoveredCapabilities.None;
}

/// <summary>What <c>/object_info</c> says the backend can do: its node classes and the model names of each loader.</summary>
public sealed record DiscoveredCapabilities(
    IReadOnlyList<string> NodeClasses,
    IReadOnlyList<string> Checkpoints,
    IReadOnlyList<string> Unets,
    IReadOnlyList<string> Loras,
    IReadOnlyList<string> Vaes,
    DateTimeOffset? DiscoveredAt)
{
    public static readonly DiscoveredCapabilities None = new([], [], [], [], [], null);
}

public static class BackendEligibility
{
    /// <summary>True when every required capability is declared, a node class, or a model name of the backend
    /// (ordinal, ignoring case; model names also match without their folder or extension).</summary>
    public static bool HasCapabilities(BackendDefinition backend, BackendRuntimeState? state, IReadOnlyList<string> required)
    {
        if (required.Count == 0)
        {
            return true;
        }

        var discovered = state?.Discovered ?? DiscoveredCapabilities.None;
        var known = new HashSet<string>(backend.Capabilities, StringComparer.OrdinalIgnoreCase);
        known.UnionWith(discovered.NodeClasses);
        foreach (var model in discovered.Checkpoints.Concat(discovered.Unets).Concat(discovered.Loras).Concat(discovered.Vaes))
        {
            known.Add(model);
            var file = model.Replace('\\', '/').Split('/')[^1];
            known.Add(file);
            known.Add(Path.GetFileNameWithoutExtension(file));
        }

        return required.All(known.Contains);
    }
}
