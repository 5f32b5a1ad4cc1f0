using System.Collections.Concurrent;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace DirectorsConsole.BackendService.Comfy;

/// <summary>GPU load and temperature and CPU load of a node, as a resource-monitor extension last reported them
/// (percentages 0–100, degrees Celsius). A value the extension did not report is null.</summary>
public sealed record NodeMonitorReading(double? GpuUtilization, double? GpuTemperature, double? CpuUtilization, DateTimeOffset ReadAt)
{
    /// <summary>The WebSocket message types of the two monitors the original server listened to.</summary>
    public const string CrystoolsMonitor = "crystools.monitor";
    public const string KaytoolResources = "kaytool.resources";

    /// <summary>
    /// Reads ComfyUI-Crystools' <c>crystools.monitor</c> (<c>cpu_utilization</c>, <c>gpus[0].gpu_utilization</c>,
    /// <c>gpus[0].gpu_temperature</c>) or KayTool's <c>kaytool.resources</c> (<c>cpu_percent</c>, <c>gpu[0].load</c>,
    /// <c>gpu[0].temperature</c>); null for any other message. ComfyUI itself reports none of these:
    /// <c>/system_stats</c> has memory only. Crystools sends -1 for what it does not measure, which is read as unknown.
    /// </summary>
    public static NodeMonitorReading? From(string type, JsonObject data, DateTimeOffset now) => type switch
    {
        CrystoolsMonitor => new NodeMonitorReading(
            Percent(First(data["gpus"])?["gpu_utilization"]), Number(First(data["gpus"])?["gpu_temperature"]), Percent(data["cpu_utilization"]), now),
        KaytoolResources => new NodeMonitorReading(
            Percent(First(data["gpu"])?["load"]), Number(First(data["gpu"])?["temperature"]), Percent(data["cpu_percent"]), now),
        _ => null,
    };

    private static JsonNode? First(JsonNode? list) => list is JsonArray { Count: > 0 } array ? array[0] : null;

    private static double? Percent(JsonNode? value) => Number(value) is { } number and <= 100 ? number : null;

    private static double? Number(JsonNode? value) =>
        value is JsonValue json && json.GetValueKind() == JsonValueKind.Number && json.GetValue<double>() is var number
            && double.IsFinite(number) && number >= 0
            ? Math.Round(number, 1)
            : null;
}

/// <summary>
/// The latest <see cref="NodeMonitorReading"/> of each backend this replica holds. The dispatch session, which keeps
/// the node's WebSocket open, records what the monitor pushes; the probe, which runs under the same lease, copies the
/// latest reading into the backend's state in Redis, so every replica's API shows it.
/// </summary>
public sealed class NodeMonitorReadings
{
    private readonly ConcurrentDictionary<string, NodeMonitorReading> _latest = new(StringComparer.Ordinal);

    public void Record(string backendId, NodeMonitorReading reading) => _latest[backendId] = reading;

    /// <summary>The latest reading if it is at most <paramref name="maxAge"/> old (a monitor that stopped
    /// reporting leaves no stale figures behind).</summary>
    public NodeMonitorReading? Latest(string backendId, DateTimeOffset now, TimeSpan maxAge) =>
        _latest.TryGetValue(backendId, out var reading) && now - reading.ReadAt <= maxAge ? reading : null;
}
