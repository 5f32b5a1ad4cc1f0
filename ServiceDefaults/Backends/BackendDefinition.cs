using System.Text.Json.Serialization;

namespace DirectorsConsole.ServiceDefaults.Backends;

/// <summary>Where a backend's definition came from: config.yaml seeds, <c>ORCHESTRATOR_COMFY_NODES</c>, or the API.</summary>
public enum BackendSource
{
    Config,
    Environment,
    Api,

    /// <summary>A render agent registered itself (<c>POST /_worker/workers/register</c>).</summary>
    Agent,
}

/// <summary>Values of <see cref="BackendDefinition.Kind"/>: how the suite reaches a backend.</summary>
public static class BackendKinds
{
    /// <summary>A ComfyUI node BackendService reaches over HTTP and its WebSocket at <see cref="BackendDefinition.Host"/>.</summary>
    public const string ComfyUi = "comfyui";

    /// <summary>A render agent beside a ComfyUI that BackendService cannot reach: it pulls its prompts, reports their
    /// events and uploads their outputs under <c>/_worker</c>. It has no host or port.</summary>
    public const string Agent = "agent";
}

/// <summary>
/// A registered ComfyUI render node as the user defined it (config.yaml's <c>backends</c> entry, API doc 2), stored
/// in Redis and shared by every replica. Runtime facts (online, VRAM, queue) are in <see cref="BackendRuntimeState"/>.
/// </summary>
public sealed record BackendDefinition(
    string Id,
    string Name,
    string Host,
    int Port,
    bool Enabled,
    IReadOnlyList<string> Capabilities,
    int MaxConcurrentJobs,
    IReadOnlyList<string> Tags,
    BackendSource Source)
{
    /// <summary>The most prompts a backend may hold in its own queue beyond <see cref="MaxConcurrentJobs"/>.</summary>
    public const int PrefetchLimit = 16;

    /// <summary>How many prompts beyond the <see cref="MaxConcurrentJobs"/> running ones may be posted ahead and wait in
    /// the node's own queue, so that it goes from one prompt to the next without a round trip through the suite
    /// (0–<see cref="PrefetchLimit"/>). Null: JobService's <c>Jobs:DefaultPrefetch</c>.</summary>
    public int? Prefetch { get; init; }

    /// <summary>How the suite reaches the backend (<see cref="BackendKinds"/>); absent in what earlier versions stored: a ComfyUI node.</summary>
    public string Kind { get; init; } = BackendKinds.ComfyUi;

    /// <summary>A render agent: no host or port; its prompts are pulled, its outputs uploaded to BackendService.</summary>
    [JsonIgnore]
    public bool IsAgent => Kind == BackendKinds.Agent;

    /// <summary>The ComfyUI base address, e.g. <c>http://192.168.1.100:8188/</c> (IPv6 hosts bracketed). An agent has none.</summary>
    [JsonIgnore]
    public Uri BaseAddress => IsAgent
        ? throw new InvalidOperationException($"Backend '{Id}' is a render agent: the suite does not connect to it.")
        : new UriBuilder(Uri.UriSchemeHttp, Host, Port).Uri;
}
