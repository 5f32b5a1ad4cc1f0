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
    /// <summary>The ComfyUI base address, e.g. <c>http://192.168.1.100:8188/</c> (IPv6 hosts bracketed).</summary>
    [JsonIgnore]
    public Uri BaseAddress => new UriBuilder(Uri.UriSchemeHttp, Host, Port).Uri;
}
