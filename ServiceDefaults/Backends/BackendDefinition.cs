using System.Text.Json.Serialization;

namespace DirectorsConsole.ServiceDefaults.Backends;

/// <summary>Where a backend's definition came from: config.yaml seeds, <c>ORCHESTRATOR_COMFY_NODES</c>, or the API.</summary>
public enum BackendSource
{
    Config,
    Environment,
    Api,
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

    /// <summary>The ComfyUI base address, e.g. <c>http://192.168.1.100:8188/</c> (IPv6 hosts bracketed).</summary>
    [JsonIgnore]
    public Uri BaseAddress => new UriBuilder(Uri.UriSchemeHttp, Host, Port).Uri;
}
