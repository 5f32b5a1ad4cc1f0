using DirectorsConsole.Comfy;
using DirectorsConsole.ServiceDefaults.Backends;

namespace DirectorsConsole.BackendService.Comfy;

public static class ComfyCapabilitiesExtensions
{
    /// <summary>A node's <c>/object_info</c> as the backend state keeps it, stamped with when it was read.</summary>
    public static DiscoveredCapabilities ToDiscovered(this ComfyCapabilities capabilities, DateTimeOffset at) =>
        new(capabilities.NodeClasses, capabilities.Checkpoints, capabilities.Unets, capabilities.Loras, capabilities.Vaes, at);
}
