using DirectorsConsole.AppHost.Hosting;
using Microsoft.Extensions.Logging;

namespace DirectorsConsole.AppHost.Extensions;

public static class ComfyNodeExtensions
{
    /// <summary>ComfyUI's cheapest read-only route; it answers 200 once the node is up.</summary>
    public const string HealthPath = "/system_stats";

    /// <summary>
    /// The ComfyUI render nodes: <c>ORCHESTRATOR_COMFY_NODES</c>, else config.yaml's enabled <c>backends</c>.
    /// They run elsewhere, so they are only health-checked and passed on as <c>services__{name}__http__{i}</c>;
    /// nothing waits for them, since a render node may be offline while the suite runs.
    /// </summary>
    public static IResourceBuilder<ExternalResource> AddComfyNodes(this DistributedApplicationBuilder builder, string name)
    {
        if (builder.Settings.ComfyNodes.Count == 0)
        {
            builder.Logger.LogInformation("no ComfyUI nodes configured; emulated nodes arrive with the render-node issue");
        }

        return builder.AddResource(new ExternalResource(name, builder.Settings.ComfyNodes)).WithHttpHealthCheck(HealthPath);
    }
}
